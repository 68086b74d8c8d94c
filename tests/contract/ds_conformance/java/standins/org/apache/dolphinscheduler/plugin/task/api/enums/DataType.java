package org.apache.dolphinscheduler.plugin.task.api.enums;

/** Stand-in (dolphinscheduler-task-api 3.4.x is not on Maven Central): a parameter's type (CONTRACT.md §2.4). */
public enum DataType {
    VARCHAR, INTEGER, LONG, FLOAT, DOUBLE, DATE, TIME, TIMESTAMP, BOOLEAN, LIST, FILE
}
