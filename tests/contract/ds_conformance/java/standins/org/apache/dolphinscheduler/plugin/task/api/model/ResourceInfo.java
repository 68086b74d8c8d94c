/*
 * Stand-in of task-api's ResourceInfo (not on Maven Central at 3.4.x): the members of apache/dolphinscheduler dev at
 * 7e0095dc (id and res deprecated), Lombok's @Data written out. DataxParameters has a list of them.
 */
package org.apache.dolphinscheduler.plugin.task.api.model;

public class ResourceInfo {

    private Integer id;

    private String resourceName;

    private String res;

    public Integer getId() {
        return id;
    }

    public void setId(Integer id) {
        this.id = id;
    }

    public String getResourceName() {
        return resourceName;
    }

    public void setResourceName(String resourceName) {
        this.resourceName = resourceName;
    }

    public String getRes() {
        return res;
    }

    public void setRes(String res) {
        this.res = res;
    }
}
