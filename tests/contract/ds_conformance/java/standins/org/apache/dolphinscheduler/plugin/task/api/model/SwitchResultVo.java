/*
 * Stand-in of DS's task-api SwitchResultVo (not on Maven Central at 3.4.x): one case of a SWITCH task, its condition
 * and the task code it branches to. DS 3.4.2's master jar calls getCondition()Ljava/lang/String; and
 * getNextNode()Ljava/lang/Long; (older sources have a List<String> nextNode with a lenient setter; 3.4.2 has a Long).
 */
package org.apache.dolphinscheduler.plugin.task.api.model;

public class SwitchResultVo {

    private String condition;
    private Long nextNode;

    public String getCondition() {
        return condition;
    }

    public void setCondition(String condition) {
        this.condition = condition;
    }

    public Long getNextNode() {
        return nextNode;
    }

    public void setNextNode(Long nextNode) {
        this.nextNode = nextNode;
    }
}
