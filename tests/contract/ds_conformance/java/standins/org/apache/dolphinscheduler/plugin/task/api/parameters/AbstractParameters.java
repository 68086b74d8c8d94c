package org.apache.dolphinscheduler.plugin.task.api.parameters;

import java.util.ArrayList;
import java.util.List;
import org.apache.dolphinscheduler.plugin.task.api.model.Property;

/**
 * Stand-in (dolphinscheduler-task-api 3.4.x is not on Maven Central): the JSON properties every task's parameters
 * share in the DS source (apache/dolphinscheduler, 2024 dev): {@code localParams} and {@code varPool}. Nothing
 * else of the real class (its helpers for the worker) is here: only the JSON shape is checked through it.
 */
public abstract class AbstractParameters {

    private List<Property> localParams;
    private List<Property> varPool = new ArrayList<>();

    public abstract boolean checkParameters();

    public List<Property> getLocalParams() {
        return localParams;
    }

    public void setLocalParams(List<Property> localParams) {
        this.localParams = localParams;
    }

    public List<Property> getVarPool() {
        return varPool;
    }

    public void setVarPool(List<Property> varPool) {
        this.varPool = varPool;
    }
}
