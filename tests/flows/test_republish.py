"""Issue 24 item 2: bulk republish on the running platform. Workflows are created, versioned and published through
the gateway (one edited to a second version, one online, one taken offline, one never published); after a converter
change the operator's command (``python -m publisher republish``) republishes exactly the deployed ones, each as the
version DS holds and in the release state it had, shows in the gateway's publish history as a ``republish``, and a
second run finds nothing left to do."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import sys
from typing import Any

import pytest

from common.dolphin import ReleaseState
from publisher.__main__ import main as publisher_main

from .conftest import Platform, uid
from .test_main_flow import new_task, new_workflow, publish

pytestmark = pytest.mark.slow


def cli_env(p: Platform, monkeypatch: pytest.MonkeyPatch) -> None:
    """The publisher's own settings, as its command reads them (the environment of the pod it runs in)."""
    s = p.publisher
    assert s is not None
    env = {
        "PUBLISHER_DATABASE_URL": s.database_url.get_secret_value(),
        "PUBLISHER_DB_SCHEMA": s.db_schema,
        "KAFKA_BOOTSTRAP_SERVERS": s.kafka_bootstrap_servers,
        "KAFKA_TOPIC_PREFIX": s.topic_prefix,
        "PUBLISHER_DS_REST_URL": s.ds_rest_url,
        "PUBLISHER_DS_TOKEN": s.rest_token().get_secret_value(),
        "PUBLISHER_DS_GATEWAY_HOST": s.ds_gateway_host,
        "PUBLISHER_DS_GATEWAY_PORT": str(s.ds_gateway_port),
        "PUBLISHER_DS_GATEWAY_AUTH_TOKEN": s.gateway_token().get_secret_value(),
        "PUBLISHER_DS_PROJECT_NAME": s.ds_project_name,
        "PUBLISHER_LOG_LEVEL": "WARNING",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)


async def cli(*argv: str) -> tuple[int, Any, str]:
    """Run the command in a thread (it runs its own event loop, as in a shell); its exit code, JSON and stderr."""
    out, err = io.StringIO(), io.StringIO()

    def call() -> int:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            return publisher_main(["republish", *argv])

    code = await asyncio.to_thread(call)
    text = out.getvalue()
    return code, json.loads(text) if text.strip() else None, err.getvalue()


async def test_bulk_republish_through_the_cli_on_the_running_platform(
    platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    p, s = platform, uid()
    cli_env(p, monkeypatch)
    ids: dict[str, int] = {}
    for name in ("edited", "online", "offline", "draft"):
        tasks = [await new_task(p, f"rp-{s}-{name}-{i}") for i in range(2)]
        wf = await new_workflow(p, f"rp-{s}-{name}", tasks, [(tasks[0], tasks[1])])
        ids[name] = int(wf["id"])
        if name != "draft":
            await p.call("POST", f"/api/v1/workflows/{ids[name]}/approve", json={"version_no": 1})
    await publish(p, ids["edited"], "deploy")
    first = [t["task_id"] for t in (await p.workflow(ids["edited"]))["tasks"]]
    body = {
        "name": f"rp-{s}-edited",
        "tasks": [{"task_id": t} for t in [*first, await new_task(p, f"rp-{s}-edited-2")]],
        "edges": [],
        "expected_version_no": 1,
    }
    await p.call("PUT", f"/api/v1/workflows/{ids['edited']}", json=body)
    await p.call("POST", f"/api/v1/workflows/{ids['edited']}/approve", json={"version_no": 2})
    await publish(p, ids["edited"], "deploy")
    await publish(p, ids["online"], "online")
    await publish(p, ids["offline"], "online")
    await publish(p, ids["offline"], "offline")
    before = {n: await p.workflow(w) for n, w in ids.items()}

    code, plan, _ = await cli("start", "--dry-run")
    assert code == 0
    plan = plan["plan"]
    assert (plan["run_id"], plan["total"], plan["to_republish"], plan["skipped"]) == (None, 3, 0, 3)

    # a new converter: what every deployed workflow converts to changes
    monkeypatch.setattr(sys.modules["publisher.domain.convert"], "CONVERTER_VERSION", "ds-3.3/flows-republish")
    code, out, progress = await cli("start", "--rate", "20/s", "--reason", "converter ds-3.3/2", "--every", "0.2")
    assert code == 0, progress
    assert (out["plan"]["to_republish"], out["plan"]["skipped"]) == (3, 0)
    view = out["run"]
    assert (view["status"], view["total"], view["republished"], view["skipped"], view["failed"]) == (
        "done", 3, 3, 0, 0,
    )  # fmt: skip
    assert f"run {view['run_id']} done: 3/3 done" in progress  # the progress lines on stderr

    for name in ("edited", "online", "offline"):
        wid = ids[name]
        detail = await p.published(wid)
        assert detail["last_published_version_no"] == before[name]["last_published_version_no"]
        records = (await p.call("GET", f"/api/v1/workflows/{wid}/publish-records"))["items"]
        newest = records[0]
        assert (newest["operation"], newest["status"], newest["operator"]) == ("deploy", "success", "republish")
        dag = await p.ds.get_workflow_definition(detail["project_code"], detail["workflow_code"])
        held = ReleaseState.OFFLINE if name == "offline" else ReleaseState.ONLINE if name == "online" else None
        if held is not None:
            assert dag.workflow_definition.release_state is held
    edited = await p.ds.get_workflow_definition(before["edited"]["project_code"], before["edited"]["workflow_code"])
    assert len(edited.task_definition_list) == 3  # version 2 stays what DS holds: nothing rolled back
    assert (await p.workflow(ids["draft"]))["publish_status"] in (None, "never_published", "unpublished")

    code, status, _ = await cli("status")
    assert (code, status["run_id"], status["status"]) == (0, view["run_id"], "done")
    code, again, _ = await cli("start", "--no-follow")
    assert (code, again["plan"]["to_republish"], again["plan"]["skipped"]) == (0, 0, 3)
    code, _, err = await cli("cancel", "--run", str(view["run_id"]))
    assert code == 1
    assert f"republish cancel: republish run {view['run_id']} is done: it cannot be cancelled" in err
