"""Errors of the lineage domain, in the platform's one hierarchy (:mod:`common.errors`).

All are domain errors: the same message fails the same way every time, so the consumer sends it to
``lineage.changed.dlq`` with ``code`` and ``detail`` as the reason instead of retrying.
"""

from __future__ import annotations

from common.errors import PoisonMessage


class InvalidLineageMessage(PoisonMessage):
    """A ``lineage.changed`` payload that is neither a valid native command nor a valid OpenLineage RunEvent."""

    code = "invalid-lineage-message"
    title = "Invalid lineage message"


class UnmappedOpenLineageJob(PoisonMessage):
    """An OpenLineage job that no mapping rule turns into a platform task id."""

    code = "unmapped-openlineage-job"
    title = "OpenLineage job not mapped to a task"

    def __init__(self, namespace: str, name: str) -> None:
        super().__init__(
            f"OpenLineage job {namespace!r}/{name!r} is not mapped to a platform task "
            "(add an exact mapping or a pattern rule)",
            job_namespace=namespace,
            job_name=name,
        )
        self.namespace = namespace
        self.name = name
