package org.apache.dolphinscheduler.plugin.task.api.enums;

/** Stand-in (dolphinscheduler-task-api 3.4.x is not on Maven Central): a parameter's direction. */
public enum Direct {
    IN, OUT
}
