/*
 * Stand-in of DS's task-http HttpParameters (not on Maven Central at 3.4.x): the members of
 * apache/dolphinscheduler dev at 7e0095dc (after #16413), Lombok's @Data written out.
 */
package org.apache.dolphinscheduler.plugin.task.http;

import com.fasterxml.jackson.annotation.JsonProperty;
import java.util.List;
import org.apache.dolphinscheduler.plugin.task.api.parameters.AbstractParameters;

public class HttpParameters extends AbstractParameters {

    private String url;

    @JsonProperty("httpMethod")
    private HttpRequestMethod httpRequestMethod;

    @JsonProperty("httpParams")
    private List<HttpProperty> httpRequestParams;

    @JsonProperty("httpBody")
    private String httpRequestBody;

    private HttpCheckCondition httpCheckCondition = HttpCheckCondition.STATUS_CODE_DEFAULT;

    private String condition;

    /** connect, socket and connection-request timeout, milliseconds */
    private int connectTimeout;

    @Override
    public boolean checkParameters() {
        return url != null && !url.isEmpty() && httpRequestMethod != null && connectTimeout > 0;
    }

    public String getUrl() {
        return url;
    }

    public void setUrl(String url) {
        this.url = url;
    }

    @JsonProperty("httpMethod")
    public HttpRequestMethod getHttpRequestMethod() {
        return httpRequestMethod;
    }

    @JsonProperty("httpMethod")
    public void setHttpRequestMethod(HttpRequestMethod httpRequestMethod) {
        this.httpRequestMethod = httpRequestMethod;
    }

    @JsonProperty("httpParams")
    public List<HttpProperty> getHttpRequestParams() {
        return httpRequestParams;
    }

    @JsonProperty("httpParams")
    public void setHttpRequestParams(List<HttpProperty> httpRequestParams) {
        this.httpRequestParams = httpRequestParams;
    }

    @JsonProperty("httpBody")
    public String getHttpRequestBody() {
        return httpRequestBody;
    }

    @JsonProperty("httpBody")
    public void setHttpRequestBody(String httpRequestBody) {
        this.httpRequestBody = httpRequestBody;
    }

    public HttpCheckCondition getHttpCheckCondition() {
        return httpCheckCondition;
    }

    public void setHttpCheckCondition(HttpCheckCondition httpCheckCondition) {
        this.httpCheckCondition = httpCheckCondition;
    }

    public String getCondition() {
        return condition;
    }

    public void setCondition(String condition) {
        this.condition = condition;
    }

    public int getConnectTimeout() {
        return connectTimeout;
    }

    public void setConnectTimeout(int connectTimeout) {
        this.connectTimeout = connectTimeout;
    }
}
