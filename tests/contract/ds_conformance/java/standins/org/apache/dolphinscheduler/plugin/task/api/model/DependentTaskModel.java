package org.apache.dolphinscheduler.plugin.task.api.model;

import java.util.List;
import org.apache.dolphinscheduler.plugin.task.api.enums.DependentRelation;

/**
 * Stand-in (dolphinscheduler-task-api 3.4.x is not on Maven Central): a group of a DEPENDENT task's items, as in the
 * DS source (apache/dolphinscheduler, 2024 dev); the 3.4.2 master reads both properties.
 */
public class DependentTaskModel {

    private List<DependentItem> dependItemList;
    private DependentRelation relation;

    public List<DependentItem> getDependItemList() {
        return dependItemList;
    }

    public void setDependItemList(List<DependentItem> dependItemList) {
        this.dependItemList = dependItemList;
    }

    public DependentRelation getRelation() {
        return relation;
    }

    public void setRelation(DependentRelation relation) {
        this.relation = relation;
    }
}
