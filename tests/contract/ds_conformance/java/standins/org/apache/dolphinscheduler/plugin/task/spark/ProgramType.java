/*
 * Stand-in of DS's task-spark ProgramType (apache/dolphinscheduler dev at 7e0095dc).
 */
package org.apache.dolphinscheduler.plugin.task.spark;

public enum ProgramType {
    JAVA,
    SCALA,
    PYTHON,
    SQL
}
