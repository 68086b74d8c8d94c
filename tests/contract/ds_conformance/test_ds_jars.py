"""Our DolphinScheduler contract against DS's own released classes (``dolphinscheduler-api``, ``-common``, ``-dao``
from Maven Central), per checked DS version: REST calls, gateway calls, the Status table, entity JSON and enums.

What cannot be checked here (3.3.x, task plugins' parameter classes, task-api 3.4.x) is listed in
docs/dolphin-standalone.md; the behaviour behind these shapes is checked by the contract tests in tests/contract/dolphin
(against the emulator, or a real DS with ``DS_CONTRACT_*``).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from common.dolphin import errors as dolphin_errors
from common.dolphin import models as dolphin_models
from common.workflow import ExecutionType, ParamType, Priority, TimeoutStrategy
from ds_emulator import dependent as emulator_dependent
from ds_emulator import errors as emulator_errors
from ds_emulator import model as emulator_model
from ds_emulator import rest_params as emulator_params
from ds_emulator import rest_routes as emulator_routes

from . import checks, harness
from .cases import (
    CHILD_WORKFLOW_CODE,
    DEPENDENT_IGNORED_BY_DS,
    DEPENDENT_PARAMETERS,
    PLUGIN_PARAMETERS,
    documents,
)
from .conftest import CONDITIONS_CLASSES, DEPENDENT_CLASSES, DS_ENUMS, NOT_SERVED, STANDINS, SWITCH_CLASSES
from .recording import GatewayCall, RestRequest, record_gateway_calls, record_rest_requests

pytestmark = [pytest.mark.ds_conformance, pytest.mark.timeout(600)]


@pytest.fixture(scope="module")
async def rest_requests() -> list[RestRequest]:
    return await record_rest_requests()


@pytest.fixture(scope="module")
async def gateway_calls() -> list[GatewayCall]:
    return await record_gateway_calls()


def _assert_none(problems: list[str]) -> None:
    assert not problems, "\n".join(problems)


# ---------------------------------------------------------------------------------------------------------------
# REST


def test_every_rest_call_is_a_controller_method_with_its_parameters(
    facts: dict[str, Any], rest_requests: list[RestRequest]
) -> None:
    """Method and path exist, every parameter sent is one of the method's, every required one is sent, every value
    fits the parameter's type (numbers, booleans, enum names)."""
    _assert_none(checks.check_rest_requests(facts["controllers"], rest_requests))


def test_every_client_method_was_recorded(rest_requests: list[RestRequest], gateway_calls: list[GatewayCall]) -> None:
    from common.dolphin.gateway import DolphinGatewayClient
    from common.dolphin.rest import DolphinRestClient

    from .recording import public_methods

    assert {r.client_method for r in rest_requests} == set(public_methods(DolphinRestClient))
    assert {c.client_method for c in gateway_calls} == set(public_methods(DolphinGatewayClient))
    assert len(rest_requests) > 150


def test_emulator_routes_are_ds_endpoints_with_their_codes_and_statuses(facts: dict[str, Any]) -> None:
    """The emulator serves only DS endpoints, answers each with its ``@ApiException`` status and its HTTP status
    (201 for the create endpoints)."""
    routes = [(m, path, api, http) for m, path, _, api, http in emulator_routes.REST_ROUTES]
    _assert_none(checks.check_emulator_routes(facts["controllers"], routes, facts["status"]))


# ---------------------------------------------------------------------------------------------------------------
# Gateway


def test_every_gateway_call_matches_python_gateway(facts: dict[str, Any], gateway_calls: list[GatewayCall]) -> None:
    """Name, arity, parameter types and order (each argument at the Java parameter it is meant for)."""
    _assert_none(checks.check_gateway_calls(facts["gateway"], gateway_calls))


def test_the_emulators_java_gateway_has_python_gateways_signatures(facts: dict[str, Any]) -> None:
    _assert_none(checks.check_gateway_signatures(facts["classFiles"]["emulatorGateway"], facts["gateway"]))


# ---------------------------------------------------------------------------------------------------------------
# Status table


def test_the_emulators_codes_and_messages_are_the_jars(facts: dict[str, Any]) -> None:
    _assert_none(checks.check_status_table(facts["status"], emulator_errors.STATUS))


def test_our_error_mapping_names_the_jars_statuses(facts: dict[str, Any]) -> None:
    for table in (
        dolphin_errors.TRANSIENT_STATUSES,
        dolphin_errors.NOT_FOUND_STATUSES,
        dolphin_errors.CONFLICT_STATUSES,
        dolphin_errors.INVALID_STATUSES,
        dolphin_errors.FORBIDDEN_STATUSES,
        dolphin_errors.START_ERROR_STATUSES,
        dolphin_errors.NOT_DISPATCHED_STATUSES,
    ):
        _assert_none(checks.check_status_codes(facts["status"], table))


# ---------------------------------------------------------------------------------------------------------------
# Entity JSON


@pytest.mark.parametrize("document", [d["id"] for d in documents()])
def test_ds_reads_our_json_into_its_entities_and_writes_it_back_the_same(facts: dict[str, Any], document: str) -> None:
    """The converter's taskDefinitionJson, taskRelationJson, globalParams and schedule JSON (and the REST client's
    schedule) through ``JSONUtils`` into TaskDefinitionLog, WorkflowTaskRelationLog, Property, ScheduleParam: no
    property the class does not know, nothing lost, written back with the same meaning."""
    sent = next(d for d in documents() if d["id"] == document)
    result = next(r for r in facts["json"] if r["id"] == document)
    _assert_none(checks.check_json(result, json.loads(sent["json"]), sent.get("ignored", ())))


def test_a_dependent_tasks_params_lack_only_what_we_send_on_purpose(facts: dict[str, Any]) -> None:
    """The DEPENDENT ``taskParams`` (into the stand-in ``DependentParameters``): the properties DS has no field for
    are exactly the ones ``cases.DEPENDENT_IGNORED_BY_DS`` explains, where we put them, and every other property we
    send (codes, cycle, dateValue, parameterPassing, relation, checkInterval, failurePolicy) is read back as sent."""
    docs = [d for d in documents() if d["entity"] == DEPENDENT_PARAMETERS]
    assert len(docs) == 2
    for doc in docs:
        result = next(r for r in facts["json"] if r["id"] == doc["id"])
        assert result["error"] is None, result["error"]
        assert sorted(result["unknown"]) == ["DependentItem.dependentType", "DependentParameters.resourceList"]
        assert set(doc["ignored"]) == set(DEPENDENT_IGNORED_BY_DS)
        written = result["written"]["dependence"]
        item = written["dependTaskList"][0]["dependItemList"][0]
        assert (written["relation"], written["checkInterval"], written["failurePolicy"]) == (
            "AND",
            10,
            "DEPENDENT_FAILURE_FAILURE",
        )
        assert item["projectCode"] == 8_000_000_000_001
        assert item["parameterPassing"] is False


def _master_references(facts: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    refs: dict[str, list[dict[str, Any]]] | None = facts["masterReferences"]
    assert refs is not None, "no dolphinscheduler-master bytecode was read for this version"
    return refs


#: the DS versions whose ``dolphinscheduler-master`` Central serves (3.4.3: 404): the DEPENDENT checks run on them,
#: whichever versions the rest of the module checks
_ON_MASTER = pytest.mark.parametrize("ds_version", sorted(harness.DS_MASTER_SHA256), indirect=True)


@_ON_MASTER
def test_the_dependent_stand_ins_have_what_the_ds_master_uses(facts: dict[str, Any]) -> None:
    """task-api is not served: the stand-ins the DEPENDENT JSON is read into must have every member (with its type,
    from the descriptor) that the master's ``DependentLogicTask``/``DependentTaskTracker``/``DependentExecute`` use."""
    refs = _master_references(facts)
    for name, cls in DEPENDENT_CLASSES.items():
        _assert_none(checks.check_references_resolve(name, refs[cls]))
    used = {(r["name"], r["descriptor"]) for cls in DEPENDENT_CLASSES.values() for r in refs[cls]}
    # the properties our JSON sets are among what the master reads (so the stand-ins' types are DS's types)
    for getter, descriptor in [
        ("getProjectCode", "()J"), ("getDefinitionCode", "()J"), ("getDepTaskCode", "()J"),
        ("getCycle", "()Ljava/lang/String;"), ("getDateValue", "()Ljava/lang/String;"),
        ("getParameterPassing", "()Ljava/lang/Boolean;"), ("getDependItemList", "()Ljava/util/List;"),
        ("getDependTaskList", "()Ljava/util/List;"),
        ("getDependence", f"()L{_internal(DEPENDENT_CLASSES['Dependence'])};"),
        ("getRelation", f"()L{_internal(DEPENDENT_CLASSES['DependentRelation'])};"),
        ("getFailurePolicy", f"()L{_internal(DEPENDENT_CLASSES['DependentFailurePolicyEnum'])};"),
    ]:  # fmt: skip
        assert (getter, descriptor) in used, getter


@_ON_MASTER
def test_the_ds_master_reads_the_conditions_json_we_send(facts: dict[str, Any]) -> None:
    """``ConditionsParameters`` (task-api, not served): what the 3.4.2 master reads of it is exactly what the
    converter's CONDITIONS ``taskParams`` set, with those types: ``dependence`` a ``ConditionDependency`` (its
    ``relation`` a ``DependentRelation``, its ``dependTaskList`` a list: of ``DependentTaskModel``, as DEPENDENT's),
    ``conditionResult`` a ``ConditionResult`` whose ``successNode``/``failedNode`` are lists; ``conditionSuccess`` it
    sets itself. The items' ``status`` is not read by the master (task-api's code, not served, reads it): its names
    rest on the DS source and the SDK's ``SUCCESS``/``FAILURE``."""
    refs = _master_references(facts)
    used = {(r["name"], r["descriptor"]) for cls in CONDITIONS_CLASSES.values() for r in refs[cls]}
    assert {n for n, _ in used if n.startswith(("get", "is"))} == {
        "getDependence", "getConditionResult", "getDependTaskList", "getRelation", "getSuccessNode", "getFailedNode",
        "isConditionSuccess",
    }  # fmt: skip
    for getter, descriptor in [
        ("getDependence", f"()L{_internal(CONDITIONS_CLASSES['ConditionDependency'])};"),
        ("getConditionResult", f"()L{_internal(CONDITIONS_CLASSES['ConditionResult'])};"),
        ("getDependTaskList", "()Ljava/util/List;"),
        ("getRelation", f"()L{_internal(DEPENDENT_CLASSES['DependentRelation'])};"),
        ("getSuccessNode", "()Ljava/util/List;"),
        ("getFailedNode", "()Ljava/util/List;"),
    ]:
        assert (getter, descriptor) in used, getter


@_ON_MASTER
def test_the_ds_master_reads_the_switch_json_we_send(facts: dict[str, Any]) -> None:
    """``SwitchParameters`` (task-api, not served): the stand-ins our SWITCH ``taskParams`` are read into have every
    member the 3.4.2 master (``SwitchLogicTask``, ``SuccessorFlowAdjuster``) uses, and what it reads is exactly what
    the converter sets, with those types: ``switchResult`` a ``SwitchResult`` whose ``dependTaskList`` is a list of
    ``SwitchResultVo`` {``condition`` a ``String``, ``nextNode`` a ``Long``} and whose ``nextNode`` (the default) is a
    ``Long``; ``nextBranch`` it sets itself."""
    refs = _master_references(facts)
    for name, cls in SWITCH_CLASSES.items():
        _assert_none(checks.check_references_resolve(name, refs[cls]))
    used = {(r["name"], r["descriptor"]) for cls in SWITCH_CLASSES.values() for r in refs[cls]}
    assert {n for n, _ in used if n.startswith(("get", "is"))} == {
        "getSwitchResult", "getDependTaskList", "getNextNode", "getCondition", "getNextBranch",
    }  # fmt: skip
    for getter, descriptor in [
        ("getSwitchResult", f"()L{_internal(SWITCH_CLASSES['SwitchResult'])};"),
        ("getDependTaskList", "()Ljava/util/List;"),
        ("getNextNode", "()Ljava/lang/Long;"),
        ("getCondition", "()Ljava/lang/String;"),
        ("setNextBranch", "(Ljava/lang/Long;)V"),
    ]:
        assert (getter, descriptor) in used, getter


def _internal(name: str) -> str:
    return name.replace(".", "/")


@_ON_MASTER
def test_dependent_enum_names_the_ds_master_uses_are_known_to_us(facts: dict[str, Any]) -> None:
    """The enum constants the master uses (``DEPENDENT_FAILURE_WAITING``) are names the emulator knows; the master
    uses no ``DependentRelation`` constant (task-api's ``DependentUtils`` does), so AND/OR rest on the DS source and
    the SDK's ``And``/``Or``."""
    refs = _master_references(facts)
    policies = refs[DEPENDENT_CLASSES["DependentFailurePolicyEnum"]]
    assert {r["name"] for r in policies if r["kind"] == "field"} == {"DEPENDENT_FAILURE_WAITING"}
    _assert_none(
        checks.check_referenced_names(
            "DependentFailurePolicyEnum", policies, emulator_dependent.DEPENDENT_FAILURE_POLICIES
        )
    )
    _assert_none(
        checks.check_referenced_names(
            "DependentRelation", refs[DEPENDENT_CLASSES["DependentRelation"]], emulator_dependent.DEPENDENT_RELATIONS
        )
    )


def test_the_stand_ins_have_what_ds_uses_of_them(facts: dict[str, Any]) -> None:
    """task-api 3.4.x is not served: the harness's stand-ins (Property, Direct, DataType, TaskTimeoutStrategy) must at
    least have every member DS's served classes use."""
    for name in STANDINS:
        _assert_none(checks.check_references_resolve(name, facts["references"][NOT_SERVED[name]]))


# ---------------------------------------------------------------------------------------------------------------
# Enums


def test_our_enums_have_the_jars_names_and_codes(facts: dict[str, Any]) -> None:
    codes: dict[str, dict[str, int]] = dolphin_models._CODES
    for ours, theirs in DS_ENUMS.items():
        members = {m.value: codes[ours][m.value] for m in getattr(dolphin_models, ours)}
        _assert_none(checks.check_enum(ours, facts["enums"][theirs], members))
    # what the converter puts into the DS JSON from the platform's own enums
    by = facts["enums"]
    _assert_none(checks.check_enum("Priority", by[DS_ENUMS["Priority"]], dict.fromkeys(Priority)))
    _assert_none(
        checks.check_enum("ExecutionType", by[DS_ENUMS["WorkflowExecutionType"]], dict.fromkeys(ExecutionType))
    )


def test_the_emulator_takes_exactly_the_jars_enum_names(facts: dict[str, Any]) -> None:
    by = facts["enums"]
    accepted = {
        "WorkflowExecutionStatus": emulator_params.WF_STATES,
        "CommandType": emulator_params.COMMAND_TYPES,
        "FailureStrategy": emulator_params.FAILURE_STRATEGIES,
        "WarningType": emulator_params.WARNING_TYPES,
        "Priority": emulator_params.PRIORITIES,
        "ReleaseState": emulator_params.RELEASE_STATES,
        "TaskDependType": emulator_params.TASK_DEPEND_TYPES,
        "RunMode": emulator_params.RUN_MODES,
        "WorkflowExecutionType": emulator_model.EXECUTION_TYPES,
    }
    for ours, names in accepted.items():
        assert sorted(names) == sorted(c["name"] for c in by[DS_ENUMS[ours]]), ours


def test_task_api_enums_used_by_ds_are_known_to_us(facts: dict[str, Any]) -> None:
    """task-api 3.4.x is not served: its enums can only be checked by the constants DS's served classes use."""
    refs = facts["references"]
    _assert_none(
        checks.check_referenced_names(
            "TaskExecutionStatus",
            refs[NOT_SERVED["TaskExecutionStatus"]],
            [m.value for m in dolphin_models.TaskExecutionStatus],
        )
    )
    _assert_none(
        checks.check_referenced_names(
            "TaskTimeoutStrategy", refs[NOT_SERVED["TaskTimeoutStrategy"]], list(TimeoutStrategy)
        )
    )
    _assert_none(checks.check_referenced_names("DataType", refs[NOT_SERVED["DataType"]], list(ParamType)))
    _assert_none(checks.check_referenced_names("Direct", refs[NOT_SERVED["Direct"]], ["IN", "OUT"]))


# ---------------------------------------------------------------------------------------------------------------
# The artifacts


def test_third_party_versions_are_the_ones_ds_pins(ds_jars: harness.Jars) -> None:
    """``dolphinscheduler-bom`` is not served, so harness.THIRD_PARTY writes the versions down: they must be the ones
    in every DS jar's META-INF/DEPENDENCIES."""
    for jar in ds_jars.ds:
        pinned = harness.pinned_dependencies(jar)
        for artifact in harness.THIRD_PARTY:
            assert pinned.get(f"{artifact.group}:{artifact.artifact}") == artifact.version, (jar.name, artifact)


def test_plugin_task_params_lack_only_what_we_send_on_purpose(facts: dict[str, Any]) -> None:
    """HTTP, PROCEDURE, DATAX, SPARK, FLINK, SUB_WORKFLOW and SWITCH ``taskParams`` (into stand-ins of their parameter
    classes copied from DS's source: the plugins are not served): the only property DS has no field for is HTTP's,
    PROCEDURE's, SUB_WORKFLOW's and SWITCH's ``resourceList`` (``cases.PLUGIN_PARAMS_IGNORED_BY_DS``), the enums are
    DS's names, and the rest is read back as sent."""
    docs = {d["id"]: d for d in documents() if d["entity"] in PLUGIN_PARAMETERS.values()}
    assert sorted(docs) == [
        "DATAX taskParams custom sync", "DATAX taskParams sync", "FLINK taskParams flink", "FLINK taskParams flink sql",
        "HTTP taskParams call api", "PROCEDURE taskParams proc", "SPARK taskParams spark", "SPARK taskParams spark sql",
        "SUB_WORKFLOW taskParams child", "SWITCH taskParams route",
    ]  # fmt: skip
    results = {r["id"]: r for r in facts["json"] if r["id"] in docs}
    for doc_id, result in results.items():
        assert result["error"] is None, result["error"]
        unknown = [u.rsplit(".", 1)[-1] for u in result["unknown"]]
        has_resources = doc_id.startswith(("DATAX", "SPARK", "FLINK"))
        assert unknown == ([] if has_resources else ["resourceList"]), (doc_id, result["unknown"])
    http = results["HTTP taskParams call api"]["written"]
    assert (http["httpMethod"], http["httpCheckCondition"], http["connectTimeout"]) == (
        "POST",
        "BODY_NOT_CONTAINS",
        1500,
    )
    assert [p["httpParametersType"] for p in http["httpParams"]] == ["HEADERS", "PARAMETER"]
    procedure = results["PROCEDURE taskParams proc"]["written"]
    assert (procedure["type"], procedure["datasource"], procedure["method"]) == (
        "POSTGRESQL",
        42,
        "call refresh(${dt})",
    )
    datax = results["DATAX taskParams sync"]["written"]
    assert (datax["customConfig"], datax["dataSource"], datax["dataTarget"], datax["targetTable"]) == (
        0,
        42,
        42,
        "t_copy",
    )
    assert results["DATAX taskParams custom sync"]["written"]["customConfig"] == 1
    spark = results["SPARK taskParams spark"]["written"]
    assert (spark["programType"], spark["mainJar"]["resourceName"], spark["driverCores"]) == ("JAVA", "jobs/a.jar", 2)
    spark_sql = results["SPARK taskParams spark sql"]["written"]
    assert (spark_sql["programType"], spark_sql["mainJar"], spark_sql["rawScript"]) == ("SQL", None, "select 1")
    flink = results["FLINK taskParams flink"]["written"]
    assert (flink["deployMode"], flink["flinkVersion"], flink["taskManager"]) == ("application", ">=1.10", 3)
    flink_sql = results["FLINK taskParams flink sql"]["written"]
    assert (flink_sql["mainJar"], flink_sql["initScript"]) == (None, "set a=b;")
    child = results["SUB_WORKFLOW taskParams child"]["written"]
    assert child["workflowDefinitionCode"] == CHILD_WORKFLOW_CODE
    assert child["localParams"]
    assert all(p["prop"].startswith("c_") for p in child["localParams"])
    route = results["SWITCH taskParams route"]["written"]
    assert route["switchResult"] == {
        "dependTaskList": [{"condition": "${dt} == '2025-01-01' && ${n} > 1", "nextNode": 7_000_000_000_012}],
        "nextNode": 7_000_000_000_010,
    }
    assert route["nextBranch"] is None  # the master's, at run time
