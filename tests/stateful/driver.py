"""How the lifecycle machine talks to the running platform: the gateway's public API (``/api/v1``), the
lineage-resolver's documented input (``POST /internal/lineage``), and DolphinScheduler's own REST API and control
API of the emulator to inspect (and, for an outage, break) what DS holds.

Every call is synchronous (httpx), every answer is checked for 5xx (never allowed) and against the status the
model expects, and bounded waits (``until``) poll for one specific effect instead of sleeping.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx

from common.testing.gateway_api import every_item
from common.testing.identity import UserAuth
from devstack.stack import Stack
from ds_emulator import EmulatorProcess

T = TypeVar("T")


@dataclass(frozen=True)
class LifecycleStack:
    """The running platform the machine drives: its services and DS (the emulator)."""

    platform: Stack
    emulator: EmulatorProcess
    #: API keys with one role each, made on first use (``as_role``)
    keys: dict[str, str] = field(default_factory=dict)

    @property
    def ds_project(self) -> str:
        """The DS project the publisher deploys to."""
        return self.platform.ds_project

    def gateway(self) -> httpx.Client:
        """The public API, as the bootstrap admin."""
        return self.platform.client()

    def as_role(self, role: str) -> httpx.Client:
        """The public API with a key that holds only ``role`` (made through the gateway once per stack)."""
        if role not in self.keys:
            with self.gateway() as admin:
                r = admin.post("/api/v1/api-keys", json={"name": f"lifecycle-{role}", "roles": [role]})
                if r.status_code != 201:
                    raise PlatformAnswerError(f"could not make a {role} key: {_describe(r)}")
                self.keys[role] = r.json()["key"]
        return httpx.Client(
            base_url=self.platform.base_url, headers={"Authorization": f"Bearer {self.keys[role]}"}, timeout=30.0
        )

    def service(self, name: str) -> httpx.Client:
        """A service's internal API (the lineage-resolver's documented input), called with a token the gateway
        signs for an admin, as every internal call must carry one."""
        return httpx.Client(
            base_url=self.platform.url(name), auth=UserAuth(name, actor="lifecycle-machine"), timeout=30.0
        )

    def log_tails(self, lines: int = 40) -> str:
        """The end of every log (services and emulator) without the access lines: the machine makes hundreds of
        requests a second, and they would bury everything else."""
        out = []
        for path in sorted(self.platform.log_dir.glob("*.log")):
            text = [line for line in path.read_text(errors="replace").splitlines() if "uvicorn.access" not in line]
            out.append(f"----- {path.name}\n" + "\n".join(text[-lines:]))
        return "\n".join(out)


class PlatformAnswerError(AssertionError):
    """The platform answered something the model rules out (a 5xx always)."""


def _describe(r: httpx.Response) -> str:
    body = r.text
    if len(body) > 1500:
        body = body[:1500] + " …"
    sent = r.request.content.decode(errors="replace") if r.request.content else ""
    if len(sent) > 600:
        sent = sent[:600] + " …"
    return (
        f"{r.request.method} {r.request.url.path}{'?' + r.request.url.query.decode() if r.request.url.query else ''}"
        + (f" {sent}" if sent else "")
        + f" → {r.status_code} {body}"
    )


def until(check: Callable[[], T | None], what: str, *, timeout_s: float = 30.0, every_s: float = 0.05) -> T:
    """Poll ``check()`` until it returns something other than None/False (returned); fails naming ``what``."""
    deadline = time.monotonic() + timeout_s
    delay = every_s
    while True:
        last = check()
        if last is not None and last is not False:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout_s:.0f}s")
        time.sleep(delay)
        delay = min(delay * 1.5, 0.5)


class Http:
    """One upstream (the gateway or a service's internal API) with the no-5xx rule."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client
        #: calls made so far (the step log's cost figures)
        self.calls = 0

    def call(
        self, method: str, path: str, *, expect: int | Collection[int], json_body: Any = None, **kw: Any
    ) -> httpx.Response:
        self.calls += 1
        r = self.client.request(method, path, json=json_body, **kw)
        if r.status_code >= 500:
            raise PlatformAnswerError(f"server error (no 5xx ever): {_describe(r)}")
        wanted = {expect} if isinstance(expect, int) else set(expect)
        if r.status_code not in wanted:
            raise PlatformAnswerError(f"expected HTTP {sorted(wanted)}: {_describe(r)}")
        return r

    def get(self, path: str, **params: Any) -> Any:
        return self.call("GET", path, expect=200, params=params or None).json()

    def pages(self, path: str, *, page_size: int = 200, **params: Any) -> list[Any]:
        """Every item of a paged list (``items``/``total``)."""
        return every_item(lambda page, size: self.get(path, page=page, page_size=size, **params), page_size=page_size)

    def close(self) -> None:
        self.client.close()


def problem_type(r: httpx.Response) -> str:
    try:
        return str(r.json().get("type", ""))
    except (ValueError, AttributeError):
        return ""


class Dolphin:
    """What DolphinScheduler holds, read through its own REST API (the emulator's is DS's), plus the emulator's
    fault control for DS outages."""

    def __init__(self, rest_url: str, token: str, control_url: str, project_name: str) -> None:
        self.rest = httpx.Client(base_url=rest_url, headers={"token": token}, timeout=30.0)
        self.control = httpx.Client(base_url=control_url, timeout=30.0)
        self.project_name = project_name
        self._project_code: int | None = None

    def _data(self, path: str, **params: Any) -> Any:
        r = self.rest.get(path, params=params or None)
        r.raise_for_status()
        body = r.json()
        if body.get("code") != 0:
            raise AssertionError(f"DS GET {path} {params}: {body.get('code')} {body.get('msg')}")
        return body["data"]

    def project_code(self) -> int | None:
        """The platform's DS project (the publisher creates it with the first deploy)."""
        if self._project_code is None:
            for p in self._data("/projects/list"):
                if p["name"] == self.project_name:
                    self._project_code = int(p["code"])
        return self._project_code

    def _all(self, path: str, **params: Any) -> list[Any]:
        out: list[Any] = []
        page = 1
        while True:
            data = self._data(path, pageNo=page, pageSize=100, **params)
            out += data["totalList"]
            if len(out) >= data["total"] or not data["totalList"]:
                return out
            page += 1

    def workflows(self, name_contains: str) -> list[dict[str, Any]]:
        """DS workflow definitions of the project whose name contains the text (code, name, version, releaseState)."""
        project = self.project_code()
        if project is None:
            return []
        return self._all(f"/projects/{project}/workflow-definition", searchVal=name_contains)

    def dag(self, code: int) -> dict[str, Any]:
        """``workflowDefinition``, ``taskDefinitionList``, ``workflowTaskRelationList`` of one workflow."""
        project = self.project_code()
        assert project is not None
        data: dict[str, Any] = self._data(f"/projects/{project}/workflow-definition/{code}")
        return data

    def instances(self, name_contains: str) -> list[dict[str, Any]]:
        """Workflow instances of the project whose name (``<workflow name>-…``) contains the text."""
        project = self.project_code()
        if project is None:
            return []
        return self._all(f"/projects/{project}/workflow-instances", searchVal=name_contains)

    def start_outage(self) -> None:
        """DS refuses every write the publisher makes: the gateway's createOrUpdateWorkflow, REST release and REST
        update (a rename)."""
        for body in (
            {"target": "gateway", "action": "raise", "match": "^createOrUpdateWorkflow$", "message": "DS is down"},
            {
                "target": "rest",
                "action": "ds_error",
                "match": r"/workflow-definition/[0-9]+/release$",
                "method": "POST",
                "dsCode": 10108,  # a release error: permanent (10000 would be retried in place)
                "dsMsg": "DS is down",
            },
            {  # a renamed workflow's deploy updates its DS workflow by code over REST
                "target": "rest",
                "action": "ds_error",
                "match": r"/workflow-definition/[0-9]+$",
                "method": "PUT",
                "dsCode": 10107,  # UPDATE_WORKFLOW_DEFINITION_ERROR: permanent
                "dsMsg": "DS is down",
            },
        ):
            self.control.post("/_emulator/faults", json=body).raise_for_status()

    def end_outage(self) -> None:
        self.control.delete("/_emulator/faults").raise_for_status()

    def close(self) -> None:
        self.rest.close()
        self.control.close()


TaskView = tuple[str, str, str | None]


def dag_view(dag: dict[str, Any]) -> tuple[str, dict[str, TaskView], set[tuple[str, str]], set[str]]:
    """A DS DAG as ``(workflow name, {task name: (type, script or sql, SQL datasource type)}, {(upstream name,
    downstream name)}, {root names})`` (roots: the tasks with a ``preTaskCode=0`` relation)."""
    by_code: dict[int, str] = {}
    tasks: dict[str, TaskView] = {}
    for t in dag["taskDefinitionList"]:
        by_code[int(t["code"])] = t["name"]
        params = t["taskParams"]
        if isinstance(params, str):
            params = json.loads(params)
        if t["taskType"] == "SQL":
            tasks[t["name"]] = (t["taskType"], str(params.get("sql")), params.get("type"))
        else:
            tasks[t["name"]] = (t["taskType"], str(params.get("rawScript")), None)
    edges: set[tuple[str, str]] = set()
    roots: set[str] = set()
    for r in dag["workflowTaskRelationList"]:
        pre, post = int(r["preTaskCode"]), int(r["postTaskCode"])
        if pre == 0:
            roots.add(by_code.get(post, f"<unknown code {post}>"))
        else:
            edges.add((by_code.get(pre, f"<unknown code {pre}>"), by_code.get(post, f"<unknown code {post}>")))
    return dag["workflowDefinition"]["name"], tasks, edges, roots
