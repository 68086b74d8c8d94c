/*
 * Stand-in of DS's task-http HttpProperty (apache/dolphinscheduler dev at 7e0095dc), Lombok's @Data written out.
 */
package org.apache.dolphinscheduler.plugin.task.http;

public class HttpProperty {

    private String prop;

    private HttpParametersType httpParametersType;

    private String value;

    public String getProp() {
        return prop;
    }

    public void setProp(String prop) {
        this.prop = prop;
    }

    public HttpParametersType getHttpParametersType() {
        return httpParametersType;
    }

    public void setHttpParametersType(HttpParametersType httpParametersType) {
        this.httpParametersType = httpParametersType;
    }

    public String getValue() {
        return value;
    }

    public void setValue(String value) {
        this.value = value;
    }
}
