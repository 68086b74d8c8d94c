/*
 * Stand-in of DS's task-http HttpRequestMethod (apache/dolphinscheduler dev at 7e0095dc).
 */
package org.apache.dolphinscheduler.plugin.task.http;

public enum HttpRequestMethod {
    GET, POST, PUT, DELETE
}
