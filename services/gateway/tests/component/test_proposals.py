"""A proposal's preview through the gateway: the definition service's preview with the tables lineage-resolver
knows for its tasks (what ties them together, what each cut dependency runs through)."""

from __future__ import annotations

import httpx

from .fakes import FakeServices


def seed(f: FakeServices) -> dict[str, int]:
    a = f.add_task("extract orders")["id"]
    d = f.add_task("report")["id"]  # in no workflow: proposal d (the fake's proposals are one per free task)
    f.add_workflow("daily", task_ids=[a], codes=(77, 123))
    f.deps[d] = ([a], [])
    f.tables[a] = ([], ["db.orders"])
    f.tables[d] = (["db.orders", "db.dim"], ["db.report"])
    return {"a": a, "d": d}


async def test_the_preview_names_the_tables_of_each_cut_dependency(
    client: httpx.AsyncClient, fakes: FakeServices
) -> None:
    ids = seed(fakes)
    r = await client.get(f"/api/v1/proposals/{ids['d']}/preview")
    assert r.status_code == 200, r.text
    reasons = r.json()["reasons"]
    assert reasons["tables"] == []  # one task: nothing inside ties it to another
    [cut] = reasons["cut_dependencies"]
    assert (cut["upstream_task_id"], cut["downstream_task_id"], cut["tables"]) == (ids["a"], ids["d"], ["db.orders"])
    [looked_up] = fakes.calls("lineage", "/internal/task-tables")
    assert looked_up.query["task_ids"] == f"{ids['d']},{ids['a']}"


async def test_without_lineage_the_preview_comes_without_tables(client: httpx.AsyncClient, fakes: FakeServices) -> None:
    ids = seed(fakes)
    fakes.control["lineage"].raw_error = 503
    r = await client.get(f"/api/v1/proposals/{ids['d']}/preview")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["reasons"]["tables"] is None
    assert body["moved_task_ids"] == [ids["d"]]
