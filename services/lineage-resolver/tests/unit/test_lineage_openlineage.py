"""OpenLineage RunEvent parsing and translation into native commands."""

from __future__ import annotations

from typing import Any

import pytest

from lineage_resolver.domain import (
    EventType,
    InMemoryLineageStore,
    InvalidLineageMessage,
    JobMapping,
    JobPattern,
    OpenLineageConfig,
    RemoveTask,
    SetTaskTables,
    UnmappedOpenLineageJob,
    apply_lineage_change,
    decode_lineage_payload,
    parse_run_event,
    qualified_table_name,
    translate_run_event,
)

CONFIG = OpenLineageConfig(
    jobs=(JobMapping(namespace="airflow", name="sales_dag.load_orders", task_id=11),),
    patterns=(
        JobPattern(namespace="platform", name_regex=r"task-(?P<task_id>\d+)"),
        JobPattern(name_regex=r".*\.ptask_(?P<task_id>\d+)"),
    ),
    namespace_aliases={"hive://Metastore-1:9083": "hive"},
)


def run_event(
    job: tuple[str, str] = ("airflow", "sales_dag.load_orders"),
    event_type: str | None = "COMPLETE",
    inputs: list[tuple[str, str]] | None = None,
    outputs: list[tuple[str, str]] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    event: dict[str, Any] = {
        "eventTime": "2025-03-01T10:00:00.000Z",
        "producer": "https://github.com/OpenLineage/OpenLineage/tree/1.30.0/integration/airflow",
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
        "run": {"runId": "0195a0a0-0000-7000-8000-000000000001", "facets": {"nominalTime": {"x": 1}}},
        "job": {"namespace": job[0], "name": job[1], "facets": {"jobType": {"integration": "AIRFLOW"}}},
        "inputs": [{"namespace": ns, "name": n, "facets": {"schema": {"fields": []}}} for ns, n in inputs or []],
        "outputs": [{"namespace": ns, "name": n, "outputFacets": {}} for ns, n in outputs or []],
        **extra,
    }
    if event_type is not None:
        event["eventType"] = event_type
    return event


def test_complete_event_replaces_reads_and_writes() -> None:
    payload = run_event(
        inputs=[("postgres://DB.example:5432", "shop.public.orders"), ("hive://metastore-1:9083", "dw.dim_date")],
        outputs=[("s3://Bucket/", "/warehouse/Orders_Daily")],
    )
    translation = translate_run_event(parse_run_event(payload), CONFIG)
    assert translation.ignored_reason is None
    assert translation.task_id == 11
    assert translation.changes == (
        SetTaskTables(
            task_id=11,
            reads=frozenset({"postgres://db.example:5432/shop.public.orders", "hive/dw.dim_date"}),
            writes=frozenset({"s3://bucket/warehouse/Orders_Daily"}),
        ),
    )


@pytest.mark.parametrize("event_type", ["START", "RUNNING", "FAIL", "ABORT", "OTHER", "SOMETHING_NEW", None])
def test_non_complete_events_are_ignored_even_for_unmapped_jobs(event_type: str | None) -> None:
    payload = run_event(job=("nowhere", "unknown"), event_type=event_type, inputs=[("pg", "a")])
    translation = translate_run_event(parse_run_event(payload), CONFIG)
    assert translation.changes == ()
    assert translation.ignored_reason is not None
    assert "does not update lineage" in translation.ignored_reason


def test_update_on_is_configurable() -> None:
    config = CONFIG.model_copy(update={"update_on": frozenset({EventType.COMPLETE, EventType.RUNNING})})
    payload = run_event(event_type="running", inputs=[("pg", "a")])
    assert translate_run_event(parse_run_event(payload), config).changes


def test_complete_without_datasets_is_ignored() -> None:
    translation = translate_run_event(parse_run_event(run_event(inputs=None, outputs=None)), CONFIG)
    assert translation.changes == ()
    assert translation.ignored_reason == "event carries no input or output datasets"
    payload = run_event()
    payload["inputs"] = None
    del payload["outputs"]
    assert parse_run_event(payload).inputs == ()


def test_pattern_rules_map_jobs() -> None:
    by_namespace = parse_run_event(run_event(job=("platform", "task-42"), inputs=[("pg", "a")]))
    assert translate_run_event(by_namespace, CONFIG).task_id == 42
    anywhere = parse_run_event(run_event(job=("spark", "etl.ptask_7"), inputs=[("pg", "a")]))
    assert translate_run_event(anywhere, CONFIG).task_id == 7


def test_unmapped_job_raises_a_clear_error() -> None:
    event = parse_run_event(run_event(job=("other", "task-42"), inputs=[("pg", "a")]))
    with pytest.raises(UnmappedOpenLineageJob) as info:
        translate_run_event(event, CONFIG)
    assert info.value.code == "unmapped-openlineage-job"
    assert info.value.extras == {"job_namespace": "other", "job_name": "task-42"}
    assert "'other'/'task-42'" in info.value.detail
    assert not info.value.retryable


def test_bad_config_fails_at_construction() -> None:
    with pytest.raises(ValueError, match="task_id"):
        JobPattern(name_regex=r"task-(\d+)")
    with pytest.raises(ValueError, match="invalid regex"):
        JobPattern(name_regex=r"task-(?P<task_id>\d+")
    with pytest.raises(ValueError, match="mapped to two tasks"):
        OpenLineageConfig(
            jobs=(JobMapping(namespace="a", name="b", task_id=1), JobMapping(namespace="a", name="b", task_id=2))
        )


@pytest.mark.parametrize(
    "payload",
    [
        {"eventTime": "2025-01-01T00:00:00Z", "job": {"namespace": "a", "name": "b"}},
        {"eventTime": "2025-01-01T00:00:00Z", "run": {"runId": "r"}, "job": {"namespace": "", "name": "b"}},
        {"run": {"runId": "r"}, "job": {"namespace": "a", "name": "b"}},
        {"eventTime": "x", "run": {"runId": "r"}, "job": {"namespace": "a", "name": "b"}, "inputs": [{}]},
    ],
)
def test_invalid_run_events_are_poison(payload: dict[str, Any]) -> None:
    with pytest.raises(InvalidLineageMessage, match="OpenLineage"):
        parse_run_event(payload)


def test_qualified_table_name_normal_form() -> None:
    assert qualified_table_name("Postgres://Host:5432/", "db.Schema.T") == "postgres://host:5432/db.Schema.T"
    assert qualified_table_name("s3://bkt/Prefix", "/a/B") == "s3://bkt/Prefix/a/B"
    assert qualified_table_name("file", "/tmp/x") == "file/tmp/x"
    assert qualified_table_name("hive://m:1", "t", {"hive://m:1": "hive"}) == "hive/t"


def test_decode_dispatches_native_and_openlineage_payloads() -> None:
    native = decode_lineage_payload({"type": "task.removed", "task_id": 5}, CONFIG)
    assert native == (RemoveTask(task_id=5),)
    ol = decode_lineage_payload(run_event(outputs=[("pg", "out")]), CONFIG)
    assert ol == (SetTaskTables(task_id=11, reads=frozenset(), writes=frozenset({"pg/out"})),)
    assert decode_lineage_payload(run_event(event_type="START", outputs=[("pg", "x")]), CONFIG) == ()
    for bad in ("[1, 2]", "{oops", {"hello": "world"}):
        with pytest.raises(InvalidLineageMessage):
            decode_lineage_payload(bad, CONFIG)


def test_openlineage_and_native_events_give_the_same_dependencies() -> None:
    via_ol = InMemoryLineageStore()
    native = InMemoryLineageStore()
    for payload in (
        run_event(job=("platform", "task-1"), inputs=[("pg", "raw")], outputs=[("pg", "stage")]),
        run_event(job=("platform", "task-2"), inputs=[("pg", "stage")], outputs=[("pg", "mart")]),
    ):
        for change in decode_lineage_payload(payload, CONFIG):
            apply_lineage_change(via_ol, change)
    apply_lineage_change(native, SetTaskTables(task_id=1, reads=frozenset({"pg/raw"}), writes=frozenset({"pg/stage"})))
    apply_lineage_change(native, SetTaskTables(task_id=2, reads=frozenset({"pg/stage"}), writes=frozenset({"pg/mart"})))
    assert via_ol.view() == native.view()
    assert via_ol.view()[2].upstream == {1}


def test_a_payload_nested_too_deeply_is_poison_not_a_crash() -> None:
    with pytest.raises(InvalidLineageMessage, match="nested too deeply"):
        decode_lineage_payload(b"[" * 100_000, OpenLineageConfig())
