package org.apache.dolphinscheduler.plugin.task.api.enums;

/** Stand-in (dolphinscheduler-task-api 3.4.x is not on Maven Central); names and codes as in CONTRACT.md §4. */
public enum TaskTimeoutStrategy {
    WARN(0), FAILED(1), WARNFAILED(2);

    private final int code;

    TaskTimeoutStrategy(int code) {
        this.code = code;
    }

    public int getCode() {
        return code;
    }
}
