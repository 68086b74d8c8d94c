package org.apache.dolphinscheduler.plugin.task.api.enums;

/**
 * Stand-in (dolphinscheduler-task-api 3.4.x is not on Maven Central): how a DEPENDENT task combines its items and
 * groups. Names from the DS source (apache/dolphinscheduler, 2024 dev); the served 3.4.2 jars use no constant of it
 * (the master passes it on to task-api's {@code DependentUtils}), so the names cannot be read from released bytecode.
 */
public enum DependentRelation {
    AND, OR
}
