"""The conformance harness itself: each comparison fails on a deliberate mismatch (so a passing conformance test
means something), and fetching the jars is robust (retries, checksums, cache) without touching the network."""

from __future__ import annotations

import copy
import hashlib
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from common.dolphin import models as dolphin_models
from ds_emulator import errors as emulator_errors

from . import checks, harness
from .cases import MISMATCHES
from .conftest import DS_ENUMS
from .recording import GatewayCall, RestRequest

pytestmark = [pytest.mark.ds_conformance, pytest.mark.timeout(600)]

START = "/projects/1/executors/start-workflow-instance"
START_FORM = {"workflowDefinitionCode": "5", "scheduleTime": "", "failureStrategy": "END", "warningType": "NONE"}


# ---------------------------------------------------------------------------------------------------------------
# Each comparison catches a deliberate mismatch (against the real jars' facts)


def test_a_renamed_or_missing_rest_parameter_is_caught(facts: dict[str, Any]) -> None:
    ok = RestRequest("start", "POST", START, START_FORM)
    assert checks.check_rest_requests(facts["controllers"], [ok]) == []
    renamed = dict(START_FORM, processDefinitionCode=START_FORM["workflowDefinitionCode"])
    del renamed["workflowDefinitionCode"]
    problems = checks.check_rest_requests(facts["controllers"], [replace(ok, params=renamed)])
    assert any("sends 'processDefinitionCode'" in p for p in problems), problems
    assert any("does not send 'workflowDefinitionCode'" in p for p in problems), problems


def test_a_wrong_path_or_http_method_is_caught(facts: dict[str, Any]) -> None:
    wrong_method = RestRequest("start", "GET", START, START_FORM)
    old_path = RestRequest("start", "POST", "/projects/1/executors/start-process-instance", START_FORM)
    problems = checks.check_rest_requests(facts["controllers"], [wrong_method, old_path])
    assert len(problems) == 2
    assert all("no controller method has this HTTP method and path" in p for p in problems)


def test_a_value_ds_cannot_bind_is_caught(facts: dict[str, Any]) -> None:
    page = {"pageNo": "1", "pageSize": "10"}
    wait = RestRequest("list", "GET", "/projects/1/workflow-instances", {**page, "stateType": "WAIT_TO_RUN"})
    text_code = RestRequest("start", "POST", START, dict(START_FORM, workflowDefinitionCode="abc"))
    lower = RestRequest("start", "POST", START, dict(START_FORM, failureStrategy="end"))
    problems = checks.check_rest_requests(facts["controllers"], [wait, text_code, lower])
    assert any("'WAIT_TO_RUN' is not one of WorkflowExecutionStatus" in p for p in problems), problems
    assert any("workflowDefinitionCode='abc' is not a number" in p for p in problems), problems
    assert any("failureStrategy='end' is not one of FailureStrategy" in p for p in problems), problems


def test_gateway_arguments_in_the_wrong_order_type_or_number_are_caught(facts: dict[str, Any]) -> None:
    names = next(m for m in facts["gateway"] if m["name"] == "createOrGrantProject")["parameterNames"]
    meant = {n: f"<{n}>" for n in names}
    ok = GatewayCall("create_or_grant_project", "createOrGrantProject", tuple(meant.values()), meant)
    assert checks.check_gateway_calls(facts["gateway"], [ok]) == []
    swapped = replace(ok, args=(ok.args[1], ok.args[0], ok.args[2]))
    problems = checks.check_gateway_calls(facts["gateway"], [swapped])
    assert any("argument 1 is userName in Java" in p for p in problems), problems
    short = replace(ok, args=ok.args[:2])
    assert "no createOrGrantProject with 2 parameters" in checks.check_gateway_calls(facts["gateway"], [short])[0]
    typed = GatewayCall("gen", "genTaskCodeList", ("100",), {"genNum": "100"})
    assert checks.check_gateway_calls(facts["gateway"], [typed]) == [
        "gen: genTaskCodeList('100',): argument 1 (genNum: java.lang.Integer) gets '100'"
    ]
    unaccounted = GatewayCall("gen", "genTaskCodeList", (100,), {"count": 100})
    assert checks.check_gateway_calls(facts["gateway"], [unaccounted]) == [
        "gen: genTaskCodeList(100,): none of the client's arguments is meant for the Java parameter 'genNum'"
    ]
    primitive = GatewayCall("cou", "createOrUpdateWorkflow", tuple([None] * 16), {})
    problems = checks.check_gateway_calls(facts["gateway"], [primitive])
    assert any("(onlineSchedule: boolean) gets None" in p for p in problems), problems


def test_a_gateway_signature_difference_is_caught(facts: dict[str, Any]) -> None:
    ours = copy.deepcopy(facts["classFiles"]["emulatorGateway"])
    assert checks.check_gateway_signatures(ours, facts["gateway"]) == []
    exec_method = next(m for m in ours if m["name"] == "execWorkflowInstance")
    exec_method["parameterTypes"] = [*exec_method["parameterTypes"], "java.lang.String", "java.lang.Integer"]  # 3.2's
    [problem] = checks.check_gateway_signatures(ours, facts["gateway"])
    assert problem.startswith("execWorkflowInstance(java.lang.String, ")
    assert problem.endswith("java.lang.Integer, java.lang.String, java.lang.Integer) is not a PythonGateway method")


def test_a_status_code_or_message_difference_is_caught(facts: dict[str, Any]) -> None:
    table = dict(emulator_errors.STATUS)
    table["WORKFLOW_DEFINITION_NOT_RELEASE"] = (50004, "workflow definition {0} not on line")  # the old text
    table["START_PROCESS_INSTANCE_ERROR"] = (50014, "start process instance error")  # a 3.2 name
    problems = checks.check_status_table(facts["status"], table)
    assert problems == [
        "WORKFLOW_DEFINITION_NOT_RELEASE: ours (50004, 'workflow definition {0} not on line'), DS (50004, 'workflow "
        "definition {0} workflow version {1} not online')",
        "START_PROCESS_INSTANCE_ERROR is not a DS Status",
    ]
    assert checks.check_status_codes(facts["status"], {"PROJECT_NOT_FOUND": 10019}) == [
        "PROJECT_NOT_FOUND: ours 10019, DS 10018"
    ]


def test_an_enum_name_or_code_difference_is_caught(facts: dict[str, Any]) -> None:
    constants = facts["enums"][DS_ENUMS["WorkflowExecutionStatus"]]
    ours = dict(dolphin_models._CODES["WorkflowExecutionStatus"], WAIT_TO_RUN=17, SUCCESS=8)
    assert checks.check_enum("WorkflowExecutionStatus", constants, ours) == [
        "WorkflowExecutionStatus.SUCCESS: ours 8, DS 7",
        "WorkflowExecutionStatus.WAIT_TO_RUN does not exist in DS (DS has ['FAILOVER', 'FAILURE', 'PAUSE', "
        "'READY_PAUSE', 'READY_STOP', 'RUNNING_EXECUTION', 'SERIAL_WAIT', 'STOP', 'SUBMITTED_SUCCESS', 'SUCCESS'])",
    ]


def test_json_ds_would_ignore_or_lose_is_caught(facts: dict[str, Any]) -> None:
    """Run through DS's JSONUtils like the real documents: an unknown property, an enum name DS reads as null, a 3.2
    field name."""
    import json

    problems = {
        m["id"]: checks.check_json(next(r for r in facts["json"] if r["id"] == m["id"]), json.loads(m["json"]))
        for m in MISMATCHES
    }
    assert problems["mismatch: unknown field"] == [
        "mismatch: unknown field: TaskDefinitionLog.isCache is not a property of the DS class (ignored by DS)",
        "mismatch: unknown field[0].isCache: sent 'NO', lost (DS wrote no such field)",
    ]
    assert problems["mismatch: unknown enum name"] == [
        "mismatch: unknown enum name[0].taskPriority: sent 'URGENT', DS wrote None"
    ]
    assert problems["mismatch: wrong relation field"][0] == (
        "mismatch: wrong relation field: WorkflowTaskRelationLog.processDefinitionCode is not a property of the DS "
        "class (ignored by DS)"
    )
    # a DEPENDENT task's taskParams, read into the stand-in DependentParameters: DS 3.2's key for the workflow is
    # ignored (the item would wait for workflow code 0), unknown relation and policy names are read as null
    where = "mismatch: DEPENDENT taskParams"
    assert problems[where] == [
        f"{where}: DependentItem.processDefinitionCode is not a property of the DS class (ignored by DS)",
        f"{where}.dependence.relation: sent 'XOR', DS wrote None",
        f"{where}.dependence.dependTaskList[0].dependItemList[0].processDefinitionCode: sent 2, lost (DS wrote no "
        "such field)",
        f"{where}.dependence.failurePolicy: sent 'DEPENDENT_FAILURE_RETRY', DS wrote None",
    ]
    # what we send on purpose although DS lacks it is only skipped when the caller names it
    dependent = json.loads(MISMATCHES[-1]["json"])
    assert checks.check_json(
        next(r for r in facts["json"] if r["id"] == where), dependent, ["processDefinitionCode"]
    ) == [
        f"{where}.dependence.relation: sent 'XOR', DS wrote None",
        f"{where}.dependence.failurePolicy: sent 'DEPENDENT_FAILURE_RETRY', DS wrote None",
    ]


def test_an_emulator_route_with_the_wrong_code_or_status_is_caught(facts: dict[str, Any]) -> None:
    routes = [
        ("GET", "/projects/{p}/task-definition/gen-task-codes", "QUERY_DETAIL_OF_TASK_DEFINITION_ERROR", 200),
        ("POST", "/projects", "CREATE_PROJECT_ERROR", 200),
        ("GET", "/projects/{p}/process-definition", "QUERY_DETAIL_OF_WORKFLOW_DEFINITION_ERROR", 200),
    ]
    assert checks.check_emulator_routes(facts["controllers"], routes, facts["status"]) == [
        "emulator route GET /projects/{p}/task-definition/gen-task-codes: @ApiException "
        "QUERY_DETAIL_OF_TASK_DEFINITION_ERROR, DS TaskDefinitionController.genTaskCodeList has "
        "LOGIN_USER_QUERY_PROJECT_LIST_PAGING_ERROR",
        "emulator route POST /projects: HTTP 200, DS ProjectController.createProject answers 201 (CREATED)",
        "emulator route GET /projects/{p}/process-definition: DS has no such endpoint",
    ]


def test_meaning_compares_json_text_with_structure() -> None:
    assert checks.same_meaning({"taskParams": {"a": [1]}}, {"taskParams": '{"a":[1]}', "extra": 1}) == []
    assert checks.same_meaning({"a": [1, 2]}, {"a": [1]}) == [".a: sent 2 items, DS wrote [1]"]
    assert checks.same_meaning({"a": None}, {"a": 0}) == [".a: sent None, DS wrote 0"]


# ---------------------------------------------------------------------------------------------------------------
# Fetching: retries, checksums, cache (no network)

CONTENT = b"PK\x03\x04 a jar"
ARTIFACT = harness.Artifact("org.example", "thing", "1.0", hashlib.sha256(CONTENT).hexdigest())
URL = "https://repo.test/maven2/org/example/thing/1.0/thing-1.0.jar"


class _Server:
    def __init__(self, answers: list[httpx.Response]) -> None:
        self.answers = answers
        self.requests: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(str(request.url))
        if str(request.url).endswith(".sha1"):
            return httpx.Response(200, text=hashlib.sha1(CONTENT, usedforsecurity=False).hexdigest() + "  thing.jar\n")
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


def _fetcher(tmp_path: Path, server: _Server, **kwargs: Any) -> harness.Fetcher:
    return harness.Fetcher(
        tmp_path / "cache",
        base_url="https://repo.test/maven2",
        local_repo=tmp_path / "m2",
        backoff_s=0.0,
        transport=httpx.MockTransport(server),
        **kwargs,
    )


def test_a_failed_download_is_retried(tmp_path: Path) -> None:
    server = _Server([httpx.Response(503), httpx.Response(200, content=b"trunc"), httpx.Response(200, content=CONTENT)])
    [path] = _fetcher(tmp_path, server).fetch_all([ARTIFACT])
    assert path.read_bytes() == CONTENT
    assert server.requests == [URL] * 3  # 503, then a truncated body (wrong sha256), then the jar


def test_a_wrong_checksum_never_lands_in_the_cache(tmp_path: Path) -> None:
    server = _Server([httpx.Response(200, content=b"tampered")])
    fetcher = _fetcher(tmp_path, server, attempts=2)
    with pytest.raises(harness.HarnessError, match="is not the pinned"):
        fetcher.fetch_all([ARTIFACT])
    assert not fetcher.path_of(ARTIFACT).exists()
    assert list((tmp_path / "cache").rglob("*.jar")) == []


def test_an_artifact_not_served_says_so(tmp_path: Path) -> None:
    with pytest.raises(harness.HarnessError, match=r"org.example:thing:1.0: not served \(.* answered 404\)"):
        _fetcher(tmp_path, _Server([httpx.Response(404)])).fetch_all([ARTIFACT])


def test_the_cache_and_the_local_maven_repository_are_used_first(tmp_path: Path) -> None:
    server = _Server([httpx.Response(200, content=CONTENT)])
    _fetcher(tmp_path, server).fetch_all([ARTIFACT])
    _fetcher(tmp_path, server).fetch_all([ARTIFACT])
    assert len(server.requests) == 1

    other = harness.Artifact("org.example", "other", "2.0", ARTIFACT.sha256)
    local = tmp_path / "m2" / other.relative_path
    local.parent.mkdir(parents=True)
    local.write_bytes(CONTENT)
    [path] = _fetcher(tmp_path, server).fetch_all([other])
    assert path.read_bytes() == CONTENT
    assert len(server.requests) == 1


def test_an_unpinned_artifact_is_checked_against_the_repositorys_sha1(tmp_path: Path) -> None:
    server = _Server([httpx.Response(200, content=CONTENT)])
    [path] = _fetcher(tmp_path, server).fetch_all([replace(ARTIFACT, sha256=None)])
    assert path.read_bytes() == CONTENT
    assert server.requests == [URL, URL + ".sha1"]
    bad = _Server([httpx.Response(200, content=b"other bytes")])
    with pytest.raises(harness.HarnessError, match="the repository lists"):
        _fetcher(tmp_path / "b", bad, attempts=1).fetch_all([replace(ARTIFACT, sha256=None)])
