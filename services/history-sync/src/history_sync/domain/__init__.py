"""Pure rules of history sync: the execution cache, change detection, failure alerts, tracking and cycles."""
