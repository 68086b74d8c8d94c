/*
 * Stand-in of DS's task-api SwitchParameters (not on Maven Central at 3.4.x): the JSON members of
 * apache/dolphinscheduler dev (switchResult, a SwitchResult of dependTaskList and nextNode; nextBranch, which the
 * master sets at run time). DS 3.4.2's master jar calls getSwitchResult(), SwitchResult.getDependTaskList()
 * Ljava/util/List; and getNextNode()Ljava/lang/Long;, getNextBranch()/setNextBranch(Ljava/lang/Long;): the names and
 * types here (test_ds_jars checks them).
 */
package org.apache.dolphinscheduler.plugin.task.api.parameters;

import java.util.List;
import org.apache.dolphinscheduler.plugin.task.api.model.SwitchResultVo;

public class SwitchParameters extends AbstractParameters {

    private SwitchResult switchResult;
    private Long nextBranch;

    public SwitchResult getSwitchResult() {
        return switchResult;
    }

    public void setSwitchResult(SwitchResult switchResult) {
        this.switchResult = switchResult;
    }

    public Long getNextBranch() {
        return nextBranch;
    }

    public void setNextBranch(Long nextBranch) {
        this.nextBranch = nextBranch;
    }

    @Override
    public boolean checkParameters() {
        if (switchResult == null) {
            return false;
        }
        if ((switchResult.getDependTaskList() == null || switchResult.getDependTaskList().isEmpty())
                && switchResult.getNextNode() == null) {
            return false;
        }
        for (SwitchResultVo switchResultVo : switchResult.getDependTaskList()) {
            if (switchResultVo == null || switchResultVo.getNextNode() == null) {
                return false;
            }
        }
        return true;
    }

    public static class SwitchResult {

        private List<SwitchResultVo> dependTaskList;
        private Long nextNode;

        public List<SwitchResultVo> getDependTaskList() {
            return dependTaskList;
        }

        public void setDependTaskList(List<SwitchResultVo> dependTaskList) {
            this.dependTaskList = dependTaskList;
        }

        public Long getNextNode() {
            return nextNode;
        }

        public void setNextNode(Long nextNode) {
            this.nextNode = nextNode;
        }
    }
}
