/*
 * Stand-in of DS's task-datax DataxParameters (not on Maven Central at 3.4.x): the JSON members of
 * apache/dolphinscheduler dev at 7e0095dc, with its checkParameters.
 */
package org.apache.dolphinscheduler.plugin.task.datax;

import java.util.List;
import org.apache.dolphinscheduler.plugin.task.api.model.ResourceInfo;
import org.apache.dolphinscheduler.plugin.task.api.parameters.AbstractParameters;

public class DataxParameters extends AbstractParameters {

    private int customConfig;

    private String json;

    private String dsType;

    private int dataSource;

    private String dtType;

    private int dataTarget;

    private String sql;

    private String targetTable;

    private List<String> preStatements;

    private List<String> postStatements;

    private int jobSpeedByte;

    private int jobSpeedRecord;

    private int xms;

    private int xmx;

    private List<ResourceInfo> resourceList;

    public int getCustomConfig() {
        return customConfig;
    }

    public void setCustomConfig(int customConfig) {
        this.customConfig = customConfig;
    }

    public String getJson() {
        return json;
    }

    public void setJson(String json) {
        this.json = json;
    }

    public String getDsType() {
        return dsType;
    }

    public void setDsType(String dsType) {
        this.dsType = dsType;
    }

    public int getDataSource() {
        return dataSource;
    }

    public void setDataSource(int dataSource) {
        this.dataSource = dataSource;
    }

    public String getDtType() {
        return dtType;
    }

    public void setDtType(String dtType) {
        this.dtType = dtType;
    }

    public int getDataTarget() {
        return dataTarget;
    }

    public void setDataTarget(int dataTarget) {
        this.dataTarget = dataTarget;
    }

    public String getSql() {
        return sql;
    }

    public void setSql(String sql) {
        this.sql = sql;
    }

    public String getTargetTable() {
        return targetTable;
    }

    public void setTargetTable(String targetTable) {
        this.targetTable = targetTable;
    }

    public List<String> getPreStatements() {
        return preStatements;
    }

    public void setPreStatements(List<String> preStatements) {
        this.preStatements = preStatements;
    }

    public List<String> getPostStatements() {
        return postStatements;
    }

    public void setPostStatements(List<String> postStatements) {
        this.postStatements = postStatements;
    }

    public int getJobSpeedByte() {
        return jobSpeedByte;
    }

    public void setJobSpeedByte(int jobSpeedByte) {
        this.jobSpeedByte = jobSpeedByte;
    }

    public int getJobSpeedRecord() {
        return jobSpeedRecord;
    }

    public void setJobSpeedRecord(int jobSpeedRecord) {
        this.jobSpeedRecord = jobSpeedRecord;
    }

    public int getXms() {
        return xms;
    }

    public void setXms(int xms) {
        this.xms = xms;
    }

    public int getXmx() {
        return xmx;
    }

    public void setXmx(int xmx) {
        this.xmx = xmx;
    }

    public List<ResourceInfo> getResourceList() {
        return resourceList;
    }

    public void setResourceList(List<ResourceInfo> resourceList) {
        this.resourceList = resourceList;
    }

    /** customConfig 0 (Flag.NO): DS builds the job; otherwise the job JSON is given */
    @Override
    public boolean checkParameters() {
        if (customConfig == 0) {
            return dataSource != 0 && dataTarget != 0 && sql != null && !sql.isEmpty() && targetTable != null
                    && !targetTable.isEmpty();
        }
        return json != null && !json.isEmpty();
    }
}
