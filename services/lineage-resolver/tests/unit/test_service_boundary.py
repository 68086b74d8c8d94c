"""The service's boundary code without I/O: LineageChanged → commands, foreign records on lineage.changed, the
planning write buffer and the settings."""

from __future__ import annotations

import copy
import json
import random
from pathlib import Path

import pytest

from common.consumer import Record
from common.events import LineageChanged, TableEdge
from lineage_resolver.config import Settings
from lineage_resolver.domain import (
    AddTableLineage,
    InMemoryLineageStore,
    InvalidLineageMessage,
    LineageChange,
    OpenLineageConfig,
    RemoveTableLineage,
    RemoveTask,
    ResolverOptions,
    SetTaskTables,
    TableLineageEdge,
    UnmappedOpenLineageJob,
    apply_lineage_change,
    parse_run_event,
    plan_lineage_change,
    translate_run_event,
)
from lineage_resolver.locks import KeySpace, PendingWrites, RecordingReader
from lineage_resolver.messages import DecodedLineage, ForeignLineageDecoder, commands_from_event
from lineage_resolver.service import _merge_changes, _plan_sequence

CONFIG = OpenLineageConfig.model_validate({"patterns": [{"name_regex": r"job_(?P<task_id>\d+)"}]})


def record(value: object, offset: int = 7) -> Record:
    raw = value if isinstance(value, bytes) else json.dumps(value).encode()
    return Record(topic="lineage.changed", partition=1, offset=offset, key=None, value=raw)


def run_event(
    event_type: str = "COMPLETE", time: str = "2025-01-01T00:00:00Z", job: str = "job_4"
) -> dict[str, object]:
    return {
        "eventType": event_type,
        "eventTime": time,
        "run": {"runId": "r-1"},
        "job": {"namespace": "airflow", "name": job},
        "inputs": [{"namespace": "pg", "name": "a"}],
        "outputs": [{"namespace": "pg", "name": "b"}],
    }


def test_lineage_changed_maps_to_commands_in_order() -> None:
    event = LineageChanged(
        table_edges_added=(TableEdge(source_table="x", target_table="y"),),
        table_edges_removed=(TableEdge(source_table="y", target_table="z"),),
        task_id=3,
        read_tables=("y",),
    )
    assert commands_from_event(event) == (
        RemoveTableLineage(edges=(TableLineageEdge(source="y", target="z"),)),
        AddTableLineage(edges=(TableLineageEdge(source="x", target="y"),)),
        SetTaskTables(task_id=3, reads=frozenset({"y"})),
    )
    assert commands_from_event(LineageChanged(task_id=3, task_removed=True)) == (RemoveTask(task_id=3),)
    assert commands_from_event(LineageChanged(task_id=3, write_tables=())) == (
        SetTaskTables(task_id=3, writes=frozenset()),
    )


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        (LineageChanged(), "carries no table edges"),
        (LineageChanged(task_id=1), "without read_tables"),
        (LineageChanged(read_tables=("a",)), "need a task_id"),
        (LineageChanged(task_id=1, task_removed=True, read_tables=("a",)), "cannot be combined"),
        (LineageChanged(task_id=0, read_tables=("a",)), "task_id"),
        (
            LineageChanged(
                table_edges_added=(TableEdge(source_table="a", target_table="b"),),
                table_edges_removed=(TableEdge(source_table="a", target_table="b"),),
            ),
            "both added and removed",
        ),
        (LineageChanged(table_edges_added=(TableEdge(source_table="a", target_table="a"),)), "to itself"),
    ],
)
def test_invalid_lineage_changed_is_a_poison_message(event: LineageChanged, reason: str) -> None:
    with pytest.raises(InvalidLineageMessage, match=reason):
        commands_from_event(event)


def test_decoder_leaves_envelopes_and_non_json_to_the_registry() -> None:
    decode = ForeignLineageDecoder(CONFIG)
    assert decode(record({"specversion": "1.0", "type": "platform.lineage.changed"})) is None
    assert decode(record(b"\x00garbage")) is None
    with pytest.raises(InvalidLineageMessage, match="neither"):
        decode(record({"something": "else"}))
    with pytest.raises(InvalidLineageMessage, match="neither"):
        decode(record([1, 2]))


def test_decoder_ignores_other_topics() -> None:
    decode = ForeignLineageDecoder(CONFIG, topic="p.lineage.changed")
    assert decode(record(run_event())) is None


def test_openlineage_id_is_derived_from_run_type_and_time() -> None:
    decode = ForeignLineageDecoder(CONFIG)
    first = decode(record(run_event(), offset=1))
    again = decode(record(run_event(time="2025-01-01T01:00:00+01:00"), offset=2))
    later = decode(record(run_event(time="2025-01-01T00:00:01Z")))
    other_type = decode(record(run_event(event_type="FAIL")))
    assert first is not None
    assert again is not None
    assert later is not None
    assert other_type is not None
    assert first[0].id == again[0].id
    assert len({first[0].id, later[0].id, other_type[0].id}) == 3
    assert first[0].id.startswith("openlineage:")
    event = first[1]
    assert isinstance(event, DecodedLineage)
    # the decoder validates; which task the job is, the handler decides (the rules are data)
    assert event.changes == ()
    assert event.run_event is not None
    assert (event.run_event.job.name, event.run_event.run.run_id) == ("job_4", "r-1")
    ignored = other_type[1]
    assert isinstance(ignored, DecodedLineage)
    assert ignored.changes == ()
    assert ignored.ignored_reason is not None


def test_unmapped_job_raises_only_when_the_event_updates_lineage() -> None:
    with pytest.raises(UnmappedOpenLineageJob):
        translate_run_event(parse_run_event(run_event(job="nightly")), CONFIG)
    assert translate_run_event(parse_run_event(run_event(job="nightly", event_type="START")), CONFIG).changes == ()


def test_the_decoder_hands_on_an_updating_run_event_of_any_job_and_drops_the_rest() -> None:
    decode = ForeignLineageDecoder(CONFIG)
    found = decode(record(run_event(job="nightly")))
    assert found is not None
    assert isinstance(found[1], DecodedLineage)
    assert found[1].run_event is not None
    assert found[1].run_event.job.name == "nightly"
    start = decode(record(run_event(job="nightly", event_type="START")))
    assert start is not None
    assert isinstance(start[1], DecodedLineage)
    assert start[1].run_event is None
    assert "START" in (start[1].ignored_reason or "")


def test_bare_native_command_gets_a_positional_id() -> None:
    decode = ForeignLineageDecoder(CONFIG)
    found = decode(record({"type": "task.removed", "task_id": 9}, offset=42))
    assert found is not None
    envelope, event = found
    assert envelope.id == "lineage-native:lineage.changed:1:42"
    assert isinstance(event, DecodedLineage)
    assert event.changes == (RemoveTask(task_id=9),)
    with pytest.raises(InvalidLineageMessage):
        decode(record({"type": "task.removed"}))


def _random_commands(rng: random.Random, n: int) -> list[LineageChange]:
    tables = [f"t{i}" for i in range(5)]
    out: list[LineageChange] = []
    for _ in range(n):
        if rng.random() < 0.7:
            out.append(
                SetTaskTables(
                    task_id=rng.randint(1, 8),
                    reads=frozenset(rng.sample(tables, rng.randint(0, 2))),
                    writes=frozenset(rng.sample(tables, rng.randint(0, 2))),
                )
            )
        else:
            s, t = rng.sample(tables, 2)
            edge = (TableLineageEdge(source=s, target=t),)
            out.append(AddTableLineage(edges=edge) if rng.random() < 0.7 else RemoveTableLineage(edges=edge))
    return out


@pytest.mark.parametrize("seed", range(20))
def test_pending_writes_plans_like_writing_each_command_first(seed: int) -> None:
    """Planning a sequence against the buffer gives the same deltas as applying each command to a store."""
    rng = random.Random(seed)
    options = ResolverOptions(external_lineage_hops=seed % 3)
    base = InMemoryLineageStore()
    for command in _random_commands(rng, 15):
        apply_lineage_change(base, command, options)
    batch = _random_commands(rng, 6)

    reference = copy.deepcopy(base)
    expected = [apply_lineage_change(reference, c, options) for c in batch]
    view_before = base.view()

    recorder = RecordingReader(base, KeySpace("test"))
    pending = PendingWrites(recorder)
    planned = []
    for command in batch:
        delta = plan_lineage_change(pending, command, options)
        pending.apply(delta)
        planned.append(delta)
    assert planned == expected
    assert base.view() == view_before, "planning must not write"
    assert recorder.keys


def test_settings_load_the_openlineage_mapping_from_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "ol.json"
    path.write_text(json.dumps({"jobs": [{"namespace": "a", "name": "b", "task_id": 5}]}))
    monkeypatch.setenv("LINEAGE_OPENLINEAGE_CONFIG_FILE", str(path))
    assert Settings().openlineage.jobs[0].task_id == 5
    path.write_text(json.dumps({"patterns": [{"name_regex": "no_group"}]}))
    with pytest.raises(ValueError, match="task_id"):
        Settings()


def test_settings_read_the_openlineage_mapping_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LINEAGE_OPENLINEAGE", json.dumps({"patterns": [{"name_regex": r"t(?P<task_id>\d+)"}]}))
    settings = Settings()
    assert settings.service_name == "lineage-resolver"
    assert settings.db_schema == "lineage"
    assert len(settings.openlineage.patterns) == 1


def test_a_hub_change_stages_the_task_with_the_most_moved_links_first() -> None:
    """One event on a hub table: its new writer gains every reader downstream (the most links moved), each reader
    gains one upstream task. The writer's event is staged first whatever its id, then the rest by task id; the
    old and new sets of each event are those of the whole lineage event."""
    store = InMemoryLineageStore()
    readers = [2, 3, 5, 8]
    for r in readers:
        apply_lineage_change(store, SetTaskTables(task_id=r, reads=frozenset({"dw.hub"})))
    apply_lineage_change(store, SetTaskTables(task_id=4, writes=frozenset({"dw.other"})))
    deltas = _plan_sequence(
        store,
        [SetTaskTables(task_id=9, writes=frozenset({"dw.hub"})), SetTaskTables(task_id=4, reads=frozenset({"dw.hub"}))],
        ResolverOptions(),
    )
    changes = _merge_changes(deltas, (), "cause-1")
    assert [c.task_id for c in changes] == [9, 2, 3, 4, 5, 8]
    hub = changes[0]
    assert (hub.old_downstream, hub.new_downstream) == ((), (2, 3, 4, 5, 8))
    assert all(c.cause_event_id == "cause-1" for c in changes)
    assert [(c.old_upstream, c.new_upstream) for c in changes[1:]] == [((), (9,))] * 5
