"""A task body's ``openlineage_job``: blanks around dropped, blank or overlong parts refused naming the field, and on
an update the difference between leaving it out (kept) and ``null`` (cleared)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from definition.schemas import OpenLineageJob, TaskInput, TaskUpdate

SHELL: dict[str, Any] = {"name": "load", "task_type": "SHELL", "params": {"script": "echo"}}


def test_the_job_is_trimmed_and_optional() -> None:
    body = TaskInput.model_validate({**SHELL, "openlineage_job": {"namespace": " spark://c ", "name": "load\n"}})
    assert body.openlineage_job == OpenLineageJob(namespace="spark://c", name="load")
    assert TaskInput.model_validate(SHELL).openlineage_job is None


def test_an_update_tells_left_out_from_null() -> None:
    kept = TaskUpdate.model_validate({**SHELL, "expected_revision": 1})
    cleared = TaskUpdate.model_validate({**SHELL, "expected_revision": 1, "openlineage_job": None})
    assert "openlineage_job" not in kept.model_fields_set
    assert "openlineage_job" in cleared.model_fields_set
    assert cleared.openlineage_job is None


@pytest.mark.parametrize(
    ("job", "where"),
    [
        ({"namespace": " ", "name": "x"}, ("openlineage_job", "namespace")),
        ({"namespace": "spark", "name": "x" * 1025}, ("openlineage_job", "name")),
        ({"name": "x"}, ("openlineage_job", "namespace")),
        ("spark/x", ("openlineage_job",)),
    ],
)
def test_a_bad_job_names_its_field(job: Any, where: tuple[str, ...]) -> None:
    with pytest.raises(ValidationError) as info:
        TaskInput.model_validate({**SHELL, "openlineage_job": job})
    assert [e["loc"] for e in info.value.errors()] == [where]
