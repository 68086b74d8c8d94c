"""The control API's bodies (``/_emulator``): script rules and fault rules from JSON."""

from __future__ import annotations

from ds_emulator.faults import FaultRule
from ds_emulator.model import Json, ScriptRule


def _rule_from_json(body: Json) -> ScriptRule:
    outcome = str(body.get("outcome", "SUCCESS")).upper()
    if outcome not in ("SUCCESS", "FAILURE"):
        raise ValueError("outcome must be SUCCESS or FAILURE")
    return ScriptRule(
        outcome=outcome,
        workflow_code=body.get("workflowCode"),
        task_name=body.get("taskName"),
        task_code=body.get("taskCode"),
        raw_script_contains=body.get("rawScriptContains"),
        duration_seconds=body.get("durationSeconds"),
        times=body.get("times"),
    )


def _fault_from_json(body: Json) -> FaultRule:
    return FaultRule(
        target=body.get("target", "rest"),
        action=body["action"],
        match=body.get("match", ".*"),
        method=body.get("method"),
        latency_ms=float(body.get("latencyMs", 0.0)),
        ds_code=int(body.get("dsCode", 10000)),
        ds_msg=body.get("dsMsg"),
        status=int(body.get("status", 500)),
        message=str(body.get("message", "injected fault")),
        hang_seconds=float(body.get("hangSeconds", 300.0)),
        times=body.get("times"),
    )
