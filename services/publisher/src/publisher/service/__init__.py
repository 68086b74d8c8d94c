"""Use cases of the publisher, one module per use-case group: ``acceptance`` (step 1), ``publish_queue`` (step 2),
``ds_run`` (step 3), ``views``, ``drift_check``, ``batch`` (run now for many workflows) and ``integration``.

Publishing runs in three steps so that no database transaction is open while DolphinScheduler ("DS") is called:

1. **accept** (``accept_publish``, ``retry_publish``): one transaction inserts a ``pending`` publish record that
   holds the pinned snapshot. Over Kafka it commits together with the inbox claim, so a request is accepted exactly
   once; the unique ``request_id`` also absorbs a re-sent request with a new event id.
2. **claim** (``run_next_publish``, ``run_publish``): one transaction marks the record ``running`` with a lease
   (``claimed_at``) and ``attempts + 1``, which is the fencing token of this claim. Records of one workflow run
   strictly in order, one at a time (a record is not claimable while an older one of its workflow is unfinished).
3. **call DS** outside any transaction, then **finish** in one transaction: the record's outcome, ``engine_workflow``
   and the ``publish.completed`` event (outbox), written only if the claim still holds.

A process that dies between 2 and 3 leaves the record ``running``; its lease stops being renewed. A process that
starts under the same ``instance_id`` (``claimed_by``) releases its own such records at once; any other worker claims
one once its lease has expired; either re-runs the whole publish. That is safe because every DS step is
idempotent: task codes are persisted before use, ``createOrUpdateWorkflow`` upserts by name (same content → same DS
version), release is a no-op in the target state and schedules are compared before they are changed. A database that
is unavailable at step 3 does not undo the publish: the final write is retried in place (``Retries.finish_s``).

A DS call that fails for a reason that may pass (5xx, timeout, gateway unreachable, DS busy) is retried in place with
backoff (``Retries.ds_*``). A DS failure that remains (or a business error, a refused token) fails the record with
the cause and emits ``publish.completed(outcome=failed)``, after reading DS back: the record and the event say what
DS holds now. When that is not what the publish intended (``diverged``: e.g. ``createOrUpdateWorkflow`` took an
ONLINE workflow offline, then the release failed), ``restore`` takes over and re-runs the publish until DS holds the
intended state or a person cancels it; any other failure waits for the user's retry (``retry_publish``). Success is
recorded only after DS confirmed it (the workflow read back by code).
"""
