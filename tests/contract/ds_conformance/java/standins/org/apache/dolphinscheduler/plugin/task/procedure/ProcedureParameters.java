/*
 * Stand-in of DS's task-procedure ProcedureParameters (not on Maven Central at 3.4.x): the JSON members of
 * apache/dolphinscheduler dev at 7e0095dc (its getOutProperty derives the map from the OUT localParams when unset).
 */
package org.apache.dolphinscheduler.plugin.task.procedure;

import java.util.Map;
import org.apache.dolphinscheduler.plugin.task.api.model.Property;
import org.apache.dolphinscheduler.plugin.task.api.parameters.AbstractParameters;

public class ProcedureParameters extends AbstractParameters {

    /** the datasource's DbType name, e.g. MYSQL, POSTGRESQL */
    private String type;

    /** the datasource's id */
    private int datasource;

    private Map<String, Property> outProperty;

    /** the call statement */
    private String method;

    public String getType() {
        return type;
    }

    public void setType(String type) {
        this.type = type;
    }

    public int getDatasource() {
        return datasource;
    }

    public void setDatasource(int datasource) {
        this.datasource = datasource;
    }

    public String getMethod() {
        return method;
    }

    public void setMethod(String method) {
        this.method = method;
    }

    public Map<String, Property> getOutProperty() {
        return outProperty;
    }

    public void setOutProperty(Map<String, Property> outProperty) {
        this.outProperty = outProperty;
    }

    @Override
    public boolean checkParameters() {
        return datasource != 0 && type != null && !type.isEmpty() && method != null && !method.isEmpty();
    }
}
