package org.apache.dolphinscheduler.plugin.task.api.model;

/**
 * Stand-in (dolphinscheduler-task-api 3.4.x is not on Maven Central): one item of a DEPENDENT task, the properties
 * the DS source (apache/dolphinscheduler, 2024 dev) gives it that a task definition carries. The conformance test
 * checks that every member the served 3.4.2 master jar uses exists here with its type (the getters of the codes are
 * {@code long}, {@code parameterPassing} a {@code Boolean}). Left out: {@code dependResult} and {@code status}
 * (run-time state the master never reads from a definition; their enums are not served either). A property DS 3.4.2
 * has and its master never uses cannot be checked.
 */
public class DependentItem {

    private long projectCode;
    private long definitionCode;
    private long depTaskCode;
    private String cycle;
    private String dateValue;
    private Boolean parameterPassing = false;

    public long getProjectCode() {
        return projectCode;
    }

    public void setProjectCode(long projectCode) {
        this.projectCode = projectCode;
    }

    public long getDefinitionCode() {
        return definitionCode;
    }

    public void setDefinitionCode(long definitionCode) {
        this.definitionCode = definitionCode;
    }

    public long getDepTaskCode() {
        return depTaskCode;
    }

    public void setDepTaskCode(long depTaskCode) {
        this.depTaskCode = depTaskCode;
    }

    public String getCycle() {
        return cycle;
    }

    public void setCycle(String cycle) {
        this.cycle = cycle;
    }

    public String getDateValue() {
        return dateValue;
    }

    public void setDateValue(String dateValue) {
        this.dateValue = dateValue;
    }

    public Boolean getParameterPassing() {
        return parameterPassing;
    }

    public void setParameterPassing(Boolean parameterPassing) {
        this.parameterPassing = parameterPassing;
    }

    /** The DS source's key ({@code definitionCode-depTaskCode-cycle-dateValue}); not a JSON property. */
    @com.fasterxml.jackson.annotation.JsonIgnore
    public String getKey() {
        return String.format("%d-%d-%s-%s", definitionCode, depTaskCode, cycle, dateValue);
    }

    /** The inverse of {@link #getKey()} (the 3.4.2 master calls it; the 2024 source has no such method). */
    public static DependentItem fromKey(String key) {
        String[] parts = key.split("-", 4);
        DependentItem item = new DependentItem();
        item.setDefinitionCode(Long.parseLong(parts[0]));
        item.setDepTaskCode(Long.parseLong(parts[1]));
        item.setCycle(parts[2]);
        item.setDateValue(parts[3]);
        return item;
    }
}
