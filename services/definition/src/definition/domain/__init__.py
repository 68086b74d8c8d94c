"""Pure domain logic of the definition service: no I/O, no framework beyond pydantic.

Modules:

- ``dag``: DAG validation (unknown tasks, ownership conflicts, self-loops, duplicate/dangling edges, cycles with
  their node path), entry/exit tasks, topological order.
- ``snapshot``: builds the canonical ``common.workflow.StructureSnapshot`` of a version.
- ``diff``: ``change_summary`` between two snapshots (stored in ``workflow_version.change_summary``).
- ``status``: platform state machine (draft → ready → online ⇄ offline, per-version approval) and publish checks.
- ``migration``: ``reassignTask`` planning for the three migration modes.
- ``cron``: Quartz cron / schedule validation.
- ``errors``: the domain errors (subclasses of ``common.errors``); ``enums``: the shared string enums.
"""
