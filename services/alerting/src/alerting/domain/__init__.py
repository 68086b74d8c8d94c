"""Plain-Python rules of the alerting service (no framework, no I/O)."""
