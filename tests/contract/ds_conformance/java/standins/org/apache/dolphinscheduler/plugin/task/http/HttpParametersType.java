/*
 * Stand-in of DS's task-http HttpParametersType (apache/dolphinscheduler dev at 7e0095dc).
 */
package org.apache.dolphinscheduler.plugin.task.http;

public enum HttpParametersType {
    PARAMETER, HEADERS
}
