/*
 * Stand-in of DS's task-flink ProgramType (apache/dolphinscheduler dev at 7e0095dc).
 */
package org.apache.dolphinscheduler.plugin.task.flink;

public enum ProgramType {
    JAVA,
    SCALA,
    PYTHON,
    SQL
}
