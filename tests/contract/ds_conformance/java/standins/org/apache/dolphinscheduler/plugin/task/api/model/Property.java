package org.apache.dolphinscheduler.plugin.task.api.model;

import java.io.Serializable;
import java.util.Objects;
import org.apache.dolphinscheduler.plugin.task.api.enums.DataType;
import org.apache.dolphinscheduler.plugin.task.api.enums.Direct;

/**
 * Stand-in for DS's Property (dolphinscheduler-task-api 3.4.x is not on Maven Central): {@code {prop, direct, type,
 * value}} as CONTRACT.md §2.4 describes it. The conformance test checks that every member the served DS jars use
 * exists here; members DS has and never uses from those jars cannot be checked.
 */
public class Property implements Serializable {

    private String prop;
    private Direct direct;
    private DataType type;
    private String value;

    public Property() {}

    public Property(String prop, Direct direct, DataType type, String value) {
        this.prop = prop;
        this.direct = direct;
        this.type = type;
        this.value = value;
    }

    public String getProp() {
        return prop;
    }

    public void setProp(String prop) {
        this.prop = prop;
    }

    public Direct getDirect() {
        return direct;
    }

    public void setDirect(Direct direct) {
        this.direct = direct;
    }

    public DataType getType() {
        return type;
    }

    public void setType(DataType type) {
        this.type = type;
    }

    public String getValue() {
        return value;
    }

    public void setValue(String value) {
        this.value = value;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Property p && Objects.equals(prop, p.prop) && direct == p.direct && type == p.type
                && Objects.equals(value, p.value);
    }

    @Override
    public int hashCode() {
        return Objects.hash(prop, direct, type, value);
    }

    @Override
    public String toString() {
        return "Property{prop='" + prop + "', direct=" + direct + ", type=" + type + ", value='" + value + "'}";
    }
}
