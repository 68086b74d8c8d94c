/*
 * Stand-in of DS's task-http HttpCheckCondition (apache/dolphinscheduler dev at 7e0095dc).
 */
package org.apache.dolphinscheduler.plugin.task.http;

public enum HttpCheckCondition {
    STATUS_CODE_DEFAULT, STATUS_CODE_CUSTOM, BODY_CONTAINS, BODY_NOT_CONTAINS
}
