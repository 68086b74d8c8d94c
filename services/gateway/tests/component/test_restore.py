"""The restore of a workflow's DS state after a failed publish (publisher's reconciler): read, restore now, cancel —
each forwarded with the caller's identity token (the operator), problems passed through, the mutating calls audited."""

from __future__ import annotations

import httpx

from .fakes import FakeServices


async def test_restore_read_restore_now_and_cancel(client: httpx.AsyncClient, fakes: FakeServices) -> None:
    fakes.add_restore(4, fakes.add_record(4)["id"])
    r = await client.get("/api/v1/workflows/4/restore")
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["intended_release_state"]) == ("restoring", "ONLINE")

    r = await client.post("/api/v1/workflows/4/restore/cancel")
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["cancelled_by"]) == ("cancelled", "admin")
    cancel = fakes.calls("publisher", "/internal/workflows/4/restore/cancel")[0]
    assert (cancel.body, cancel.actor) == ({}, "admin")  # the operator is the verified actor of the token

    r = await client.post("/api/v1/workflows/4/restore")
    assert r.status_code == 202, r.text
    assert (r.json()["status"], r.json()["requested_by"]) == ("restoring", "admin")
    again = fakes.calls("publisher", "/internal/workflows/4/restore")[-1]
    assert (again.body, again.actor) == ({}, "admin")

    audit = (await client.get("/api/v1/audit-log")).json()["items"]
    details = [a["detail"] for a in audit if a["path"].startswith("/api/v1/workflows/4/restore")]
    assert "restore of workflow 4 in DolphinScheduler asked" in details
    assert "restore of workflow 4 in DolphinScheduler cancelled" in details


async def test_no_restore_is_404(client: httpx.AsyncClient) -> None:
    for method in ("GET", "POST"):
        r = await client.request(method, "/api/v1/workflows/9/restore")
        assert r.status_code == 404, r.text
        assert r.json()["instance"] == "/api/v1/workflows/9/restore"
