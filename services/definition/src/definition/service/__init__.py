"""Use cases of the definition service, one module per use-case group: one function per use case, one database
transaction each. Callers import the group they need (``from definition.service import tasks``).

``tasks``, ``workflows``, ``versions``, ``publishing`` (publish requests), ``projections`` (other services' events),
``migrations`` (task migration), ``proposals`` (auto-orchestration); ``_shared``, ``_views`` and
``_proposal_upkeep`` hold the steps the groups share.

Every use case that changes a workflow's structure goes through ``_shared._write_version``, which writes version N+1
(canonical snapshot, structural diff, trigger source, author), moves ``data_workflow`` to it, brings
``workflow_task_relation`` in line with it and stages ``workflow.version.created`` in the outbox, all in the caller's
transaction.

Concurrency (decision): every writer of a workflow first takes its row lock (``SELECT … FOR UPDATE``; two workflows are
locked in id order), then compares ``current_version_no`` with the caller's ``expected_version_no``. Writers of one
workflow are therefore serialised: version numbers are contiguous, and a caller that read an older version gets
409 ``stale-version`` instead of overwriting a change it never saw. The one-workflow-per-task rule is the UNIQUE
constraint on ``workflow_task_relation.task_id``; the application's own check only produces the nicer message, and a
race that slips past it ends in the constraint, which is mapped to the same 409.

An update that changes nothing structurally writes no version and answers 200 with the unchanged workflow (decision).
"""
