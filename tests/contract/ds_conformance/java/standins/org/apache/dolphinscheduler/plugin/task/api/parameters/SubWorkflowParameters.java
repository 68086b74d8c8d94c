/*
 * Stand-in of DS's task-api SubWorkflowParameters (not on Maven Central at 3.4.x): the JSON member of
 * apache/dolphinscheduler dev at 7e0095dc (DSIP-46/68). DS 3.4.2's service jar calls getWorkflowDefinitionCode()J,
 * which confirms the member's name and type.
 */
package org.apache.dolphinscheduler.plugin.task.api.parameters;

public class SubWorkflowParameters extends AbstractParameters {

    private long workflowDefinitionCode;

    public long getWorkflowDefinitionCode() {
        return workflowDefinitionCode;
    }

    public void setWorkflowDefinitionCode(long workflowDefinitionCode) {
        this.workflowDefinitionCode = workflowDefinitionCode;
    }

    @Override
    public boolean checkParameters() {
        return this.workflowDefinitionCode > 0;
    }
}
