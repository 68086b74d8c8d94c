"""The Java gateway's callback (``/_gateway/{method}``): the entry point's calls, dispatched to the emulator."""

from __future__ import annotations

from typing import Any

from ds_emulator.errors import DsError, JavaException
from ds_emulator.state import Emulator


def _gateway_dispatch(emu: Emulator, method: str, args: list[Any]) -> Any:
    if method == "ping":
        return "PONG"
    if method == "getGatewayVersion":
        return emu.ds_version
    if method == "genTaskCodeList":
        # DS: TaskDefinitionService.genTaskCodeList's ServiceException becomes {status, msg} (no data); the Java
        # gateway checks the same cap before calling here
        try:
            return {"status": "SUCCESS", "msg": "success", "data": emu.gen_task_codes(args[0])}
        except DsError as exc:
            return {"status": exc.status, "msg": exc.msg}
    if method == "getCodeAndVersion":
        return emu.gateway_code_and_version(*args)
    if method == "createOrUpdateWorkflow":
        if len(args) != 16:
            raise JavaException(f"createOrUpdateWorkflow expects 16 arguments, got {len(args)}")
        return emu.gateway_create_or_update(*args)
    if method == "createOrGrantProject":
        emu.gateway_create_or_grant_project(*args)
        return None
    if method == "queryProjectByName":
        project = emu.project_by_name(args[1])
        return None if project is None else emu.project_json(project)
    if method == "getDatasource":
        return emu.gateway_datasource(args[0], args[1])
    if method == "execWorkflowInstance":
        emu.gateway_exec(args[0], args[1], args[2])
        return None
    if method == "getDependentInfo":
        return emu.gateway_dependent_info(*args)
    raise JavaException(f"unknown gateway method {method}")
