"""The verified-key memory (TTL, bound, revocation) and the workflow list's marking of missing executions."""

from __future__ import annotations

from typing import Any, cast

from gateway import service
from gateway.config import Settings
from gateway.deps import Deps
from gateway.ports import Caller
from gateway.principals import Principal, VerifiedKeys

ALICE = Principal(key_id=1, name="alice", roles=("viewer",), key_prefix="abcdefgh")
BOB = Principal(key_id=2, name="bob", roles=("admin",), key_prefix="ijklmnop")


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_verified_key_is_trusted_for_its_ttl_only() -> None:
    clock = Clock()
    keys = VerifiedKeys(5.0, clock=clock)
    keys.put("h1", ALICE)
    assert keys.get("h1") == ALICE
    clock.now += 4.99
    assert keys.get("h1") == ALICE
    clock.now += 0.01
    assert keys.get("h1") is None  # expired: the next request asks the database again
    assert keys.get("h2") is None


def test_forget_drops_a_revoked_key_at_once() -> None:
    keys = VerifiedKeys(60.0, clock=Clock())
    keys.put("h1", ALICE)
    keys.put("h2", BOB)
    keys.forget(ALICE.key_id)
    assert keys.get("h1") is None
    assert keys.get("h2") == BOB


def test_ttl_zero_remembers_nothing() -> None:
    keys = VerifiedKeys(0.0, clock=Clock())
    keys.put("h1", ALICE)
    assert keys.get("h1") is None


def test_bounded_least_recently_verified_go_first() -> None:
    keys = VerifiedKeys(60.0, max_keys=2, clock=Clock())
    keys.put("h1", ALICE)
    keys.put("h2", BOB)
    keys.put("h3", ALICE)
    assert keys.get("h1") is None
    assert keys.get("h2") == BOB
    assert keys.get("h3") == ALICE


class _Definition:
    def __init__(self, page: dict[str, Any]) -> None:
        self.page = page

    async def list_workflows(self, params: object, caller: object) -> dict[str, Any]:
        return self.page


def _deps(definition: object) -> Deps:
    settings = Settings(ds_ui_url="http://ds/ui")
    return Deps(
        settings=settings,
        sessions=cast(Any, None),
        definition=cast(Any, definition),
        publisher=cast(Any, None),
        history=cast(Any, None),
        lineage=cast(Any, None),
    )


async def test_workflow_list_marks_an_item_without_executions() -> None:
    page = {
        "items": [
            {"id": 1, "last_executions": None, "workflow_code": 5, "project_code": 7},
            {"id": 2, "last_executions": [], "workflow_code": None, "project_code": None},
        ],
        "total": 2,
        "page": 1,
        "page_size": 20,
    }
    out = await service.list_workflows(_deps(_Definition(page)), {}, Caller(actor="a", request_id="r"))
    assert out["unavailable"] == ["executions"]
    assert [w["executions_unavailable"] for w in out["items"]] == [True, False]
    assert out["items"][0]["ds_link"] == "http://ds/ui/projects/7/workflow/definitions/5"
    assert out["items"][1]["ds_link"] is None
    assert out["total"] == 2
