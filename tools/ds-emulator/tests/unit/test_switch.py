"""SWITCH tasks (issue 21) in the emulator: the params a save accepts and refuses (DS 3.4's ``SwitchParameters``, never
more lenient), and the branch a run takes (DS 3.4.2's ``SwitchLogicTask`` as ``ds_emulator.switch`` reads it)."""

from __future__ import annotations

from typing import Any

import pytest

from ds_emulator.switch import branch, global_params, holds, substitute
from ds_emulator.task_params import task_params_status

PARAMS = {"region": ("VARCHAR", "eu"), "rows": ("INTEGER", "1500"), "strict": ("BOOLEAN", "true")}


def params(cases: Any = None, default: Any = 23, **over: Any) -> dict[str, Any]:
    cases = cases if cases is not None else [{"condition": "${rows} > 1000", "nextNode": 21}]
    return {"switchResult": {"dependTaskList": cases, "nextNode": default}, "localParams": [], "resourceList": [],
            **over}  # fmt: skip


def test_the_converter_and_sdk_shapes_are_accepted() -> None:
    assert task_params_status("SWITCH", params()) is None
    assert task_params_status("SWITCH", params(default=None)) is None
    assert task_params_status("SWITCH", params(default="")) is None  # the SDK's "no default": Jackson reads null
    assert task_params_status("SWITCH", params(cases=[], default=23)) is None  # DS: the default alone is valid
    assert task_params_status("SWITCH", params(cases=[{"condition": "true", "nextNode": "21"}])) is None


@pytest.mark.parametrize(
    ("bad", "status"),
    [
        ([], "REQUEST_PARAMS_NOT_VALID_ERROR"),
        (params(switchResult="x"), "REQUEST_PARAMS_NOT_VALID_ERROR"),
        (params(cases={"condition": "true", "nextNode": 21}), "REQUEST_PARAMS_NOT_VALID_ERROR"),
        (params(cases=["true"]), "REQUEST_PARAMS_NOT_VALID_ERROR"),
        (params(cases=[{"condition": "true", "nextNode": "twenty-one"}]), "REQUEST_PARAMS_NOT_VALID_ERROR"),
        (params(cases=[{"condition": "true", "nextNode": [21]}]), "REQUEST_PARAMS_NOT_VALID_ERROR"),
        (params(cases=[{"condition": {"x": 1}, "nextNode": 21}]), "REQUEST_PARAMS_NOT_VALID_ERROR"),
        (params(default=2**63), "REQUEST_PARAMS_NOT_VALID_ERROR"),
        (params(default="later"), "REQUEST_PARAMS_NOT_VALID_ERROR"),
        # SwitchParameters.checkParameters
        ({"localParams": []}, "WORKFLOW_NODE_S_PARAMETER_INVALID"),
        (params(switchResult=None), "WORKFLOW_NODE_S_PARAMETER_INVALID"),
        (params(cases=[], default=None), "WORKFLOW_NODE_S_PARAMETER_INVALID"),
        (params(cases=[{"condition": "true"}]), "WORKFLOW_NODE_S_PARAMETER_INVALID"),
        (params(cases=[{"condition": "true", "nextNode": ""}]), "WORKFLOW_NODE_S_PARAMETER_INVALID"),
        # saved by DS (or throwing in its check), refused by the emulator: DS could not run them as meant
        (params(cases=[{"nextNode": 21}]), "WORKFLOW_NODE_S_PARAMETER_INVALID"),
        (params(cases=[{"condition": "  ", "nextNode": 21}]), "WORKFLOW_NODE_S_PARAMETER_INVALID"),
        (params(cases=[{"condition": "true", "nextNode": 0}]), "WORKFLOW_NODE_S_PARAMETER_INVALID"),
        (params(default=-4), "WORKFLOW_NODE_S_PARAMETER_INVALID"),
        ({"switchResult": {"nextNode": 23}}, "WORKFLOW_NODE_S_PARAMETER_INVALID"),
    ],
)
def test_bad_params_are_refused(bad: Any, status: str) -> None:
    assert task_params_status("SWITCH", bad) == status


def test_parameters_are_substituted_as_ds_does() -> None:
    """``'`` becomes ``"``; a number or boolean bare, text quoted; an unknown parameter left as it is."""
    assert substitute("${region} == 'eu' && ${rows} > 1 && ${strict} && ${other}", PARAMS) == (
        '"eu" == "eu" && 1500 > 1 && true && ${other}'
    )
    assert substitute("${region}", {}) == "${region}"


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ("${region} == 'eu'", True),
        ('${region} == "us"', False),
        ("${region} != 'us' && ${rows} >= 1500", True),
        ("${rows} > 2000 || ${region} === 'eu'", True),
        ("!(${rows} > 2000)", True),
        ("${rows} == '1500'", True),  # JavaScript's == converts the text
        ("${rows} === '1500'", False),  # === does not
        ("${rows} / 3 == 500 && ${rows} % 7 == 2", True),
        ("${rows} - 500 * 2 == 500", True),
        ("'a' + ${rows} == 'a1500'", True),
        ("'abc' < 'abd'", True),
        ("${strict}", True),
        ("${strict} == 1", True),
        ("true", True),
        ("1", False),  # DS wants the boolean true
        ("${region}", False),
        ("'${region}' == 'eu'", False),  # DS's '"eu"' is no JavaScript: it counts as false
        ("${other} == 1", False),  # unknown: ${other} stays, no JavaScript
        ("region == 'eu'", False),  # a name the emulator does not evaluate
        ("[1, 2].includes(${rows})", False),  # JavaScript DS evaluates, the emulator does not (documented)
        ("${rows} >", False),
        ("(${rows} > 1", False),
        ("", False),
        ("null == null", True),
        ("null == 0", False),
        ("0 / 0 == 0 / 0", False),
    ],
)
def test_conditions_are_evaluated_as_javascript(condition: str, expected: bool) -> None:
    assert holds(condition, PARAMS) is expected


def test_deep_or_long_conditions_count_as_false() -> None:
    assert holds("(" * 500 + "true" + ")" * 500, {}) is False
    assert holds("!" * 500 + "true", {}) is False
    assert holds("true" + " && true" * 2000, {}) is False


def test_the_first_case_that_holds_is_taken_else_the_default() -> None:
    cases = [{"condition": "${region} == 'us'", "nextNode": 21}, {"condition": "${rows} > 1000", "nextNode": 22},
             {"condition": "true", "nextNode": 24}]  # fmt: skip
    assert branch(params(cases), PARAMS) == (22, {21, 22, 23, 24})
    assert branch(params(cases[:1]), PARAMS) == (23, {21, 23})
    assert branch(params(cases[:1], default=None), PARAMS) == (None, {21})


def test_global_params_are_read_from_the_workflow_text() -> None:
    text = '[{"prop":"region","direct":"IN","type":"VARCHAR","value":"eu"},{"prop":"n","type":"LONG","value":3}]'
    assert global_params(text) == {"region": ("VARCHAR", "eu"), "n": ("LONG", "3")}
    assert global_params("not json") == {} == global_params(None)
