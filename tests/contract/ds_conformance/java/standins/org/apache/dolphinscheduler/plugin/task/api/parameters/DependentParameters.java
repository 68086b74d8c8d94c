package org.apache.dolphinscheduler.plugin.task.api.parameters;

import java.util.List;
import org.apache.dolphinscheduler.plugin.task.api.enums.DependentRelation;
import org.apache.dolphinscheduler.plugin.task.api.model.DependentTaskModel;

/**
 * Stand-in (dolphinscheduler-task-api 3.4.x is not on Maven Central): a DEPENDENT task's {@code taskParams}, as in
 * the DS source (apache/dolphinscheduler, 2024 dev), which the api's {@code TaskPluginManager.checkTaskParameters}
 * reads with {@code JSONUtils.parseObject(taskParams, DependentParameters.class)} and checks with
 * {@link #checkParameters()} (copied from that source: the 3.4.2 bytecode of task-api is not served). The conformance
 * test checks that every member the served 3.4.2 master jar uses exists here with its type.
 */
public class DependentParameters extends AbstractParameters {

    private Dependence dependence;

    public Dependence getDependence() {
        return dependence;
    }

    public void setDependence(Dependence dependence) {
        this.dependence = dependence;
    }

    @Override
    public boolean checkParameters() {
        if (dependence == null) {
            return false;
        }
        if (dependence.getDependTaskList() == null || dependence.getDependTaskList().isEmpty()) {
            return false;
        }
        return dependence.getCheckInterval() == null || dependence.getCheckInterval() > 0;
    }

    /** The groups, how they combine, how often to check (seconds), what to do on a failed upstream. */
    public static class Dependence {

        private List<DependentTaskModel> dependTaskList;
        private DependentRelation relation;
        private Integer checkInterval;
        private DependentFailurePolicyEnum failurePolicy;
        private Integer failureWaitingTime;

        public List<DependentTaskModel> getDependTaskList() {
            return dependTaskList;
        }

        public void setDependTaskList(List<DependentTaskModel> dependTaskList) {
            this.dependTaskList = dependTaskList;
        }

        public DependentRelation getRelation() {
            return relation;
        }

        public void setRelation(DependentRelation relation) {
            this.relation = relation;
        }

        public Integer getCheckInterval() {
            return checkInterval;
        }

        public void setCheckInterval(Integer checkInterval) {
            this.checkInterval = checkInterval;
        }

        public DependentFailurePolicyEnum getFailurePolicy() {
            return failurePolicy;
        }

        public void setFailurePolicy(DependentFailurePolicyEnum failurePolicy) {
            this.failurePolicy = failurePolicy;
        }

        public Integer getFailureWaitingTime() {
            return failureWaitingTime;
        }

        public void setFailureWaitingTime(Integer failureWaitingTime) {
            this.failureWaitingTime = failureWaitingTime;
        }
    }

    /** What a DEPENDENT task does when an upstream failed (the 3.4.2 master uses DEPENDENT_FAILURE_WAITING). */
    public enum DependentFailurePolicyEnum {
        DEPENDENT_FAILURE_FAILURE,
        DEPENDENT_FAILURE_WAITING
    }
}
