"""The instance list's fast path and its per-instance cache (in-process, on the ASGI app): the same bytes as the
general handler, state progression intact, cached entries dropped when their workflow changes."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from ds_emulator.app import create_app
from ds_emulator.faults import Faults
from ds_emulator.model import Instance, Workflow, encode_json
from ds_emulator.state import Emulator

TOKEN = "test-token"
T0 = 1_800_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def emu(clock: Clock) -> Emulator:
    return Emulator(access_token=TOKEN, clock=clock)


@pytest.fixture
async def http(emu: Emulator) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(emu, Faults()))
    async with httpx.AsyncClient(transport=transport, base_url="http://emulator/dolphinscheduler") as client:
        yield client


def seeded_workflow(emu: Emulator, instances: int = 3) -> tuple[int, Workflow]:
    seeded = emu.seed_bulk("p", 1, instances, failure_every=2)
    return int(seeded["projectCode"]), emu.workflows[int(seeded["workflowCodes"][0])]


async def list_page(
    http: httpx.AsyncClient, project: int, code: int, *, general: bool = False, token: str = TOKEN, **extra: Any
) -> httpx.Response:
    params: dict[str, Any] = {"pageNo": 1, "pageSize": 10, "workflowDefinitionCode": code, **extra}
    if general:
        params["searchVal"] = ""  # any other parameter takes the general handler
    return await http.get(f"/projects/{project}/workflow-instances", params=params, headers={"token": token})


async def test_fast_path_answers_the_same_bytes_as_the_general_handler(
    emu: Emulator, http: httpx.AsyncClient, clock: Clock
) -> None:
    project, wf = seeded_workflow(emu, instances=12)
    emu.start(emu.users[1], wf)  # one submitted instance on top of the finished ones
    for moment in (T0, T0 + emu.timing.submit_delay + 0.01, T0 + 5):  # submitted, running, finished
        clock.now = moment
        for page_no, page_size in ((1, 10), (2, 10), (1, 3), (5, 10)):
            fast = await list_page(http, project, wf.code, pageNo=page_no, pageSize=page_size)
            general = await list_page(http, project, wf.code, general=True, pageNo=page_no, pageSize=page_size)
            assert fast.status_code == general.status_code == 200
            assert fast.content == general.content
            assert fast.headers["content-type"] == general.headers["content-type"]
    body = (await list_page(http, project, wf.code)).json()
    assert body["code"] == 0
    assert body["data"]["total"] == 13
    assert [i["state"] for i in body["data"]["totalList"]][:2] == ["SUCCESS", "FAILURE"]


async def test_requests_the_fast_path_does_not_answer_get_the_general_errors(
    emu: Emulator, http: httpx.AsyncClient
) -> None:
    project, wf = seeded_workflow(emu)
    assert (await list_page(http, project, wf.code, token="wrong")).status_code == 401
    assert (await http.get(f"/projects/{project}/workflow-instances?pageNo=1&pageSize=10")).status_code == 401
    unknown = (await list_page(http, project + 1, wf.code)).json()
    assert unknown["code"] != 0
    bad_page = (await list_page(http, project, wf.code, pageNo=0)).json()
    assert (bad_page["code"], bad_page["success"]) == (10001, False)
    not_a_number = (await list_page(http, project, wf.code, pageSize="ten")).json()
    assert not_a_number["code"] == 10113
    # repeated or percent-encoded parameters: the general handler reads them as Spring would
    repeated = await http.get(
        f"/projects/{project}/workflow-instances?pageNo=1&pageSize=10&pageSize=2&workflowDefinitionCode={wf.code}",
        headers={"token": TOKEN},
    )
    assert len(repeated.json()["data"]["totalList"]) == 2


def test_list_entry_follows_the_state_and_is_kept_once_final(emu: Emulator, clock: Clock) -> None:
    _, wf = seeded_workflow(emu)
    instance: Instance = emu.instances[emu.start(emu.users[1], wf)]

    def entry() -> dict[str, Any]:
        decoded: dict[str, Any] = json.loads(emu.instance_list_entry(instance, clock.now))
        return decoded

    submitted = entry()
    assert (submitted["state"], submitted["host"], submitted["endTime"]) == ("SUBMITTED_SUCCESS", None, None)
    assert instance.list_entry is None
    clock.now = instance.run_start + 0.001
    running = entry()
    assert (running["state"], running["endTime"]) == ("RUNNING_EXECUTION", None)
    assert running["host"] is not None
    assert instance.list_entry is None  # a running instance's duration still grows
    clock.now = instance.end
    final = entry()
    assert final["state"] == instance.outcome
    assert final["endTime"] is not None
    assert instance.list_entry is not None
    cached = instance.list_entry[1]
    clock.now += 3600  # a final instance no longer changes: the same bytes, not re-encoded
    assert emu.instance_list_entry(instance, clock.now) is cached
    assert cached == encode_json(emu.instance_json(instance, with_duration=True, now=clock.now))


async def test_a_workflow_update_drops_the_cached_entries_of_its_instances(
    emu: Emulator, http: httpx.AsyncClient, clock: Clock
) -> None:
    project, wf = seeded_workflow(emu)
    before = (await list_page(http, project, wf.code)).json()["data"]["totalList"]
    assert {i["timeout"] for i in before} == {0}
    assert all(i.list_entry is not None for i in emu.instances_by_workflow[wf.code])

    release = f"/projects/{project}/workflow-definition/{wf.code}/release"
    offline = await http.post(release, data={"releaseState": "OFFLINE"}, headers={"token": TOKEN})
    assert offline.json()["code"] == 0
    dag = (await http.get(f"/projects/{project}/workflow-definition/{wf.code}", headers={"token": TOKEN})).json()
    form = {
        "name": wf.name,
        "timeout": "7",
        "taskDefinitionJson": json.dumps(dag["data"]["taskDefinitionList"]),
        "taskRelationJson": json.dumps(dag["data"]["workflowTaskRelationList"]),
    }
    updated = await http.put(f"/projects/{project}/workflow-definition/{wf.code}", data=form, headers={"token": TOKEN})
    assert updated.json()["code"] == 0, updated.text

    after = await list_page(http, project, wf.code)
    assert {i["timeout"] for i in after.json()["data"]["totalList"]} == {7}
    assert after.content == (await list_page(http, project, wf.code, general=True)).content


async def test_a_new_instance_appears_at_once(emu: Emulator, http: httpx.AsyncClient, clock: Clock) -> None:
    project, wf = seeded_workflow(emu)
    first = (await list_page(http, project, wf.code)).json()["data"]
    new_id = emu.start(emu.users[1], wf)
    second = (await list_page(http, project, wf.code)).json()["data"]
    assert second["total"] == first["total"] + 1
    assert second["totalList"][0]["id"] == new_id
    assert second["totalList"][0]["state"] == "SUBMITTED_SUCCESS"
    assert second["totalList"][1:] == first["totalList"]
