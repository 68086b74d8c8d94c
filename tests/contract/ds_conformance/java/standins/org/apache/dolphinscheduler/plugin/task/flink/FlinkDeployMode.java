/*
 * Stand-in of DS's task-flink FlinkDeployMode (apache/dolphinscheduler dev at 7e0095dc): JSON names in lower case.
 */
package org.apache.dolphinscheduler.plugin.task.flink;

import com.fasterxml.jackson.annotation.JsonProperty;

public enum FlinkDeployMode {
    @JsonProperty("local")
    LOCAL,
    @JsonProperty("cluster")
    CLUSTER,
    @JsonProperty("application")
    APPLICATION,
    @JsonProperty("standalone")
    STANDALONE
}
