"""The job → task rules as data (``MappingRules``): stored exact identities, then the seed's exact jobs, then the
stored patterns in order, then the seed's patterns; API input for a pattern rule is validated naming the field."""

from __future__ import annotations

import pytest

from lineage_resolver.domain import (
    EventType,
    Job,
    JobPattern,
    MappingRules,
    OpenLineageConfig,
    ignored_reason,
    parse_run_event,
    tables_of_run_event,
    validate_pattern,
)

SEED = OpenLineageConfig.model_validate(
    {
        "jobs": [{"namespace": "airflow", "name": "dag.a", "task_id": 1}],
        "patterns": [{"name_regex": r"(?:seed|any)_(?P<task_id>\d+)"}],
        "namespace_aliases": {"postgres://wh:5432": "pg"},
    }
)


def job(name: str, namespace: str = "airflow") -> Job:
    return Job(namespace=namespace, name=name)


def test_stored_rules_come_first_then_the_seed_of_the_same_kind() -> None:
    stored = [
        JobPattern(name_regex=r"any_(?P<task_id>\d+)", namespace="spark"),
        JobPattern(name_regex=r"x(?P<task_id>\d+)"),
    ]
    rules = MappingRules(exact={("airflow", "dag.a"): 9}, patterns=stored, seed=SEED)
    assert rules.task_for(job("dag.a")) == 9  # the task's identity wins over the seed's exact job
    assert MappingRules(exact={}, patterns=stored, seed=SEED).task_for(job("dag.a")) == 1
    # the seed's exact job wins over every pattern
    assert (
        MappingRules(exact={}, patterns=[JobPattern(name_regex=r"dag\.(?P<task_id>a)")], seed=SEED).task_for(
            job("dag.a")
        )
        == 1
    )
    # stored patterns in order, then the seed's: "any_5" in spark is the stored rule's, in airflow the seed's
    assert rules.task_for(job("any_5", "spark")) == 5
    assert rules.task_for(job("any_6")) == 6
    assert rules.task_for(job("x7", "flink")) == 7
    assert rules.task_for(job("nightly")) is None
    assert MappingRules(exact={}, patterns=[], seed=OpenLineageConfig()).task_for(job("dag.a")) is None


def test_a_pattern_maps_only_a_positive_task_id() -> None:
    rules = MappingRules(exact={}, patterns=[JobPattern(name_regex=r"t_(?P<task_id>\w+)")], seed=OpenLineageConfig())
    assert rules.task_for(job("t_12")) == 12
    assert rules.task_for(job("t_x")) is None
    assert rules.task_for(job("t_0")) is None


@pytest.mark.parametrize(
    ("regex", "namespace", "field", "says"),
    [
        ("", None, "name_regex", "1 to 1024"),
        ("x" * 1025, None, "name_regex", "1 to 1024"),
        (r"etl_(\d+)", None, "name_regex", "task_id"),
        (r"etl_(?P<task_id>", None, "name_regex", "invalid regex"),
        (r"(?P<task_id>\d+)_(\w)\1", None, "name_regex", "no back-references"),
        (r"(?P<task_id>\d+)(?=_x)", None, "name_regex", "no back-references"),
        (r"etl_(?P<task_id>\d+)", " ", "namespace", "1 to 1024"),
    ],
)
def test_pattern_input_is_validated_naming_the_field(regex: str, namespace: str | None, field: str, says: str) -> None:
    with pytest.raises(ValueError, match=says) as refused:
        validate_pattern(regex, namespace)
    assert str(refused.value).startswith(f"{field}:")


def test_a_rule_that_backtracks_in_python_matches_in_linear_time() -> None:
    """``(a+)+`` against a long non-matching name takes Python's ``re`` exponential time (2**n steps); a rule people
    type is matched by RE2, which answers at once: the test finishes (Python's engine would not, at n = 60)."""
    rules = MappingRules(exact={}, patterns=[JobPattern(name_regex=r"(?P<task_id>\d+)(a+)+")], seed=OpenLineageConfig())
    assert rules.task_for(job("7" + "a" * 60 + "!")) is None
    assert rules.task_for(job("7" + "a" * 60)) == 7


def test_a_valid_pattern_keeps_its_namespace_trimmed() -> None:
    assert validate_pattern(r"etl_(?P<task_id>\d+)", " spark ") == JobPattern(
        name_regex=r"etl_(?P<task_id>\d+)", namespace="spark"
    )


def test_which_events_update_lineage_and_their_tables() -> None:
    base = {
        "eventTime": "2026-12-07T10:00:00Z",
        "run": {"runId": "r"},
        "job": {"namespace": "airflow", "name": "nightly"},
        "inputs": [{"namespace": "postgres://WH:5432/", "name": "/public.a"}],
        "outputs": [{"namespace": "s3://Bucket", "name": "Out/x"}],
    }
    complete = parse_run_event({**base, "eventType": "COMPLETE"})
    assert ignored_reason(complete, SEED) is None
    assert tables_of_run_event(complete, SEED) == (frozenset({"pg/public.a"}), frozenset({"s3://bucket/Out/x"}))
    assert "START" in (ignored_reason(parse_run_event({**base, "eventType": "START"}), SEED) or "")
    empty = parse_run_event({**base, "eventType": "COMPLETE", "inputs": [], "outputs": None})
    assert ignored_reason(empty, SEED) == "event carries no input or output datasets"
    assert EventType.COMPLETE in SEED.update_on
