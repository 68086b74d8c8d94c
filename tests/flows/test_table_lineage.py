"""Lineage for people on the stack (issue 21 item 3), black-box through the gateway: lineage arrives over Kafka for
tasks of three workflows → table search → a table's lineage (writers, readers, tables hops away, the workflows) →
impact analysis (every task and workflow once, nearest first, with the path) → a DAG's drawn edges checked against
lineage (suggested, reverse, no data link) → bad input is a 4xx problem."""

from __future__ import annotations

from typing import Any

from common.events import LineageChanged

from .conftest import Platform, uid, until
from .test_main_flow import new_task, new_workflow


def by_id(items: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    return {int(x["task_id"]): x for x in items}


async def test_table_lineage_impact_and_dag_check_through_the_gateway(platform: Platform) -> None:
    p = platform
    s = uid()
    # a name with a slash, dots, ? # % and a space reaches lineage-resolver whole (never resolved as a `..` segment)
    orders, daily, report = (f"lin_{s}.{n}" for n in ("orders", "daily", "report/../x?y #z%41"))
    # load writes orders; aggregate reads orders, writes daily (W1: load -> aggregate)
    # publish reads daily, writes report; audit reads orders (W2: audit -> publish, drawn without a data link)
    # mail reads report (W3)
    load, aggregate, publish, audit, mail = [
        await new_task(p, f"lin-{s}-{n}") for n in ("load", "aggregate", "publish", "audit", "mail")
    ]
    await p.send(LineageChanged(task_id=load, write_tables=(orders,)))
    await p.send(LineageChanged(task_id=aggregate, read_tables=(orders,), write_tables=(daily,)))
    await p.send(LineageChanged(task_id=publish, read_tables=(daily,), write_tables=(report,)))
    await p.send(LineageChanged(task_id=audit, read_tables=(orders,)))
    await p.send(LineageChanged(task_id=mail, read_tables=(report,)))
    w1 = await new_workflow(p, f"lin-{s}-w1", [load, aggregate], [(load, aggregate)])
    w2 = await new_workflow(p, f"lin-{s}-w2", [publish, audit], [(audit, publish)])
    w3 = await new_workflow(p, f"lin-{s}-w3", [mail], [])

    # --- search: the three tables with their readers and writers, once lineage applied every change -------------
    async def found() -> list[dict[str, Any]] | None:
        items: list[dict[str, Any]] = (await p.call("GET", "/api/v1/lineage/tables", params={"q": f"LIN_{s}."}))[
            "items"
        ]
        counts = [(i["table"], i["readers"], i["writers"]) for i in items]
        return items if counts == [(daily, 1, 1), (orders, 2, 1), (report, 1, 1)] else None

    await until(found, "the three tables with their readers and writers", timeout_s=60)

    # --- the lineage of `daily`: 1 hop, then 2 --------------------------------------------------------------------
    one = await p.call("GET", "/api/v1/lineage/table", params={"name": daily, "depth": 1})
    tasks = by_id(one["tasks"])
    assert set(tasks) == {aggregate, publish}
    assert (tasks[aggregate]["name"], tasks[aggregate]["workflow_id"]) == (f"lin-{s}-aggregate", w1["id"])
    assert (tasks[aggregate]["writes"], tasks[aggregate]["upstream_distance"]) == ([daily], 1)
    assert (tasks[publish]["reads"], tasks[publish]["downstream_distance"]) == ([daily], 1)
    assert tasks[publish]["workflow_link"] == f"/workflows/{w2['id']}"
    assert [(t["table"], t["upstream_distance"], t["downstream_distance"]) for t in one["tables"]] == [
        (daily, 0, 0),
        (orders, 1, None),
        (report, None, 1),
    ]
    assert [(w["workflow_id"], w["task_ids"]) for w in one["workflows"]] == [
        (w1["id"], [aggregate]),
        (w2["id"], [publish]),
    ]
    assert (one["truncated"], one["unavailable"]) == (False, [])
    two = await p.call("GET", "/api/v1/lineage/table", params={"name": daily, "depth": 2})
    assert set(by_id(two["tasks"])) == {load, aggregate, publish, mail}  # audit reads orders: not upstream of daily
    assert [w["workflow_id"] for w in two["workflows"]] == [w1["id"], w2["id"], w3["id"]]

    # --- impact of `orders`: every affected task and workflow once, nearest first, with its path ------------------
    impact = await p.call("GET", "/api/v1/lineage/impact", params={"name": orders})
    assert [(t["task_id"], t["distance"]) for t in impact["tasks"]] == sorted(
        [(aggregate, 1), (audit, 1), (publish, 3), (mail, 5)], key=lambda x: (x[1], x[0])
    )
    path = by_id(impact["tasks"])[mail]["path"]
    assert [x.get("table") or x.get("task_id") for x in path] == [orders, aggregate, daily, publish, report, mail]
    assert [(w["workflow_id"], w["distance"]) for w in impact["workflows"]] == [
        (w1["id"], 1),
        (w2["id"], 1),
        (w3["id"], 5),
    ]
    assert sorted(by_id(impact["tasks"])) == sorted(t for w in impact["workflows"] for t in w["task_ids"]), (
        "each affected task is listed under its workflow exactly once"
    )
    assert [t["table"] for t in impact["tables"]] == [daily, report]

    # --- the editor's check of a DAG against lineage ---------------------------------------------------------------
    drawn_w2 = await p.call(
        "GET", "/api/v1/lineage/dag-check", params={"task_ids": f"{publish},{audit}", "edges": f"{audit}-{publish}"}
    )
    assert [(f["upstream_task_id"], f["downstream_task_id"], f["reason"]) for f in drawn_w2["flagged"]] == [
        (audit, publish, "no_data_link")
    ]
    assert drawn_w2["suggested"] == []
    reversed_w1 = await p.call(
        "GET", "/api/v1/lineage/dag-check", params={"task_ids": f"{load},{aggregate}", "edges": f"{aggregate}-{load}"}
    )
    assert [
        (f["upstream_task_id"], f["downstream_task_id"], f["reason"], f["tables"]) for f in reversed_w1["flagged"]
    ] == [(aggregate, load, "reverse", [orders])]
    assert [(x["upstream_task_id"], x["downstream_task_id"], x["closes_cycle"]) for x in reversed_w1["suggested"]] == [
        (load, aggregate, True)
    ]
    # across workflows: publish (W2) and mail (W3) drawn together, through report; load -> publish through two steps
    across = await p.call(
        "GET",
        "/api/v1/lineage/dag-check",
        params={"task_ids": f"{load},{publish},{mail}", "edges": f"{load}-{publish}"},
    )
    assert across["confirmed"] == [[load, publish]]
    assert [(x["upstream_task_id"], x["downstream_task_id"], x["tables"]) for x in across["suggested"]] == [
        (publish, mail, [report])
    ]

    # --- bad input: problems, never a 5xx ----------------------------------------------------------------------------
    r = await p.api.get("/api/v1/lineage/table", params={"name": f"lin_{s}.nope"})
    assert (r.status_code, r.json()["type"]) == (404, "/problems/unknown-table")
    r = await p.api.get("/api/v1/lineage/impact", params={"name": f"lin_{s}.nope"})
    assert r.status_code == 404
    bad: list[dict[str, str | int]] = [{"name": daily, "depth": 6}, {"name": daily, "depth": "x"}, {}]
    for params in bad:
        r = await p.api.get("/api/v1/lineage/table", params=params)
        assert r.status_code == 422, (params, r.text)
        assert r.headers["content-type"] == "application/problem+json"
    r = await p.api.get("/api/v1/lineage/dag-check", params={"task_ids": "1", "edges": "1-x"})
    assert r.status_code == 422
    assert "edges" in r.json()["detail"]
