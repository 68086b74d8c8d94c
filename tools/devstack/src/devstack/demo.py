"""``platform-demo``: load demo data into a running platform (``./platform up``) so the portal has something to show.

It works through the public API like a user would (tasks, workflows, approval, publishing, a run), and sends the
tasks' table lineage as other platform systems do: ``lineage.changed`` events on Kafka, as the ``lineage-producer``
principal (the local broker's; with an external Kafka, the ``KAFKA_SASL_*`` credentials of the environment), then
waits until the lineage resolver has turned them into task dependencies. Running it twice is harmless: existing tasks
and workflows (by name) are reused.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Sequence
from typing import Any

import httpx

from devstack.paths import HOST
from devstack.platform import platform_dir, port

# name, type, script, reads, writes
TASKS: tuple[tuple[str, str, str, tuple[str, ...], tuple[str, ...]], ...] = (
    ("ods_orders", "SHELL", "echo 'extract orders for ${dt}'", (), ("ods.orders",)),
    ("ods_users", "SHELL", "echo 'extract users for ${dt}'", (), ("ods.users",)),
    (
        "dwd_order_detail",
        "PYTHON",
        "print('join orders and users')",
        ("ods.orders", "ods.users"),
        ("dwd.order_detail",),
    ),
    ("dws_daily_gmv", "SHELL", "echo 'aggregate daily gmv'", ("dwd.order_detail",), ("dws.daily_gmv",)),
    ("ads_sales_report", "SHELL", "echo 'publish the sales report'", ("dws.daily_gmv",), ("ads.sales_report",)),
    ("ods_prices", "SHELL", "echo 'crawl prices'", (), ("ods.prices",)),
    ("dws_price_index", "PYTHON", "print('compute the price index')", ("ods.prices",), ("dws.price_index",)),
    ("adhoc_quality_check", "SHELL", "echo 'row counts look fine'", ("dws.daily_gmv",), ()),
)

WORKFLOWS: tuple[tuple[str, str, tuple[str, ...], tuple[tuple[str, str], ...]], ...] = (
    (
        "daily_sales",
        "Orders and users into the daily sales report",
        ("ods_orders", "ods_users", "dwd_order_detail", "dws_daily_gmv", "ads_sales_report"),
        (
            ("ods_orders", "dwd_order_detail"),
            ("ods_users", "dwd_order_detail"),
            ("dwd_order_detail", "dws_daily_gmv"),
            ("dws_daily_gmv", "ads_sales_report"),
        ),
    ),
    (
        "price_index",
        "Crawled prices into the price index",
        ("ods_prices", "dws_price_index"),
        (("ods_prices", "dws_price_index"),),
    ),
)


class Api:
    def __init__(self, base: str, token: str) -> None:
        self._c = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30)

    def request(self, method: str, path: str, **kw: Any) -> httpx.Response:
        return self._c.request(method, path, **kw)

    def call(self, method: str, path: str, **kw: Any) -> Any:
        r = self.request(method, path, **kw)
        if r.status_code >= 400:
            raise SystemExit(f"platform-demo: {method} {path} → HTTP {r.status_code}: {r.text[:400]}")
        return r.json() if r.content else None


async def send_lineage(changes: Sequence[tuple[int, tuple[str, ...], tuple[str, ...]]]) -> None:
    """``lineage.changed`` for each task (reads, writes), as the lineage producers' principal."""
    from aiokafka import AIOKafkaProducer

    from common.events import LineageChanged, Topics, registry
    from common.kafka_access import KafkaAccess
    from devstack.external import external_kafka_bootstrap

    external = external_kafka_bootstrap()
    if external is not None:
        options = KafkaAccess.from_env(external).client_options()
    else:
        from devstack.kafka import KafkaServer

        options = KafkaServer().client_options("lineage-producer")
    producer = AIOKafkaProducer(**options, enable_idempotence=True, acks="all")
    await producer.start()
    try:
        for task_id, reads, writes in changes:
            event = LineageChanged(task_id=task_id, read_tables=reads, write_tables=writes)
            value = registry.encode(event, source="/systems/platform-demo").to_bytes()
            await producer.send_and_wait(Topics.LINEAGE_CHANGED, value, key=event.key().encode())
    finally:
        await producer.stop()


def wait_for_dependencies(api: Api, ids: dict[str, int], timeout_s: float = 60.0) -> None:
    """Until the lineage resolver has applied the lineage (a task that reads a table has its producer upstream)."""
    expected = {name: any(reads for n, _, _, reads, _ in TASKS if n == name) for name in ids}
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        done = all(
            not wanted or (api.call("GET", f"/api/v1/tasks/{ids[name]}").get("upstream_count") or 0) > 0
            for name, wanted in expected.items()
        )
        if done:
            return
        time.sleep(0.5)
    raise SystemExit("platform-demo: the lineage resolver did not apply the demo's lineage within a minute")


def load(api: Api) -> dict[str, Any]:
    existing = {t["name"]: t for t in api.call("GET", "/api/v1/tasks", params={"page_size": 200})["items"]}
    ids: dict[str, int] = {}
    for name, kind, script, _, _ in TASKS:
        if name in existing:
            ids[name] = existing[name]["id"]
            continue
        task = api.call(
            "POST",
            "/api/v1/tasks",
            json={"name": name, "task_type": kind, "description": f"demo task {name}", "params": {"script": script}},
        )
        ids[name] = task["id"]
    asyncio.run(send_lineage([(ids[name], reads, writes) for name, _, _, reads, writes in TASKS]))
    wait_for_dependencies(api, ids)

    workflows = {w["name"]: w for w in api.call("GET", "/api/v1/workflows", params={"page_size": 200})["items"]}
    made: dict[str, int] = {}
    for name, description, task_names, edges in WORKFLOWS:
        if name in workflows:
            made[name] = workflows[name]["id"]
            continue
        wf = api.call(
            "POST",
            "/api/v1/workflows",
            json={
                "name": name,
                "description": description,
                "tasks": [{"task_id": ids[t]} for t in task_names],
                "edges": [{"upstream_task_id": ids[a], "downstream_task_id": ids[b]} for a, b in edges],
                "global_params": [{"name": "dt", "value": "${system.biz.date}"}],
            },
        )
        made[name] = wf["id"]

    sales = made["daily_sales"]
    detail = api.call("GET", f"/api/v1/workflows/{sales}")
    if "approve" in detail.get("allowed_actions", []):
        api.call("POST", f"/api/v1/workflows/{sales}/approve", json={"version_no": detail["current_version_no"]})
    if detail.get("publish_status") in (None, "never_published", "failed"):
        _publish_online(api, sales)
    runs: Any = None
    if api.call("GET", f"/api/v1/workflows/{sales}").get("publish_status") == "published":
        r = api.request("POST", f"/api/v1/workflows/{sales}/run", json={})
        if r.status_code == 404 and r.json().get("type") == "/problems/dolphin-not-found":
            # published into a DolphinScheduler that no longer has it (the emulator keeps no state across
            # `./platform down`): publish again — the publisher re-creates the project and workflow — and run
            _publish_online(api, sales)
            r = api.request("POST", f"/api/v1/workflows/{sales}/run", json={})
        if r.status_code >= 400:
            path = f"/api/v1/workflows/{sales}/run"
            raise SystemExit(f"platform-demo: POST {path} → HTTP {r.status_code}: {r.text[:400]}")
        runs = r.json()
    return {"tasks": ids, "workflows": made, "run": runs}


def _publish_online(api: Api, workflow_id: int) -> None:
    """Publish (online) and wait for the publisher's answer (up to a minute)."""
    before = {p["id"] for p in api.call("GET", f"/api/v1/workflows/{workflow_id}/publish-records")["items"]}
    api.call("POST", f"/api/v1/workflows/{workflow_id}/publish", json={"operation": "online"})
    for _ in range(60):
        records = api.call("GET", f"/api/v1/workflows/{workflow_id}/publish-records")["items"]
        done = [p for p in records if p["id"] not in before and p["status"] in ("success", "failed")]
        if done:
            if done[0]["status"] == "failed":
                cause = done[0].get("error_message")
                raise SystemExit(f"platform-demo: publishing workflow {workflow_id} failed: {cause}")
            return
        time.sleep(1)
    raise SystemExit(f"platform-demo: workflow {workflow_id} was not published within a minute")


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="platform-demo", description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--gateway", default=f"http://{HOST}:{port('gateway')}")
    ap.add_argument("--token", help="admin API token (default: the one ./platform up generated)")
    ns = ap.parse_args(argv)
    token = ns.token
    if not token:
        secrets_file = platform_dir() / "secrets.json"
        if not secrets_file.exists():
            print("platform-demo: no admin token; run ./platform up first or pass --token", file=sys.stderr)
            return 2
        token = json.loads(secrets_file.read_text())["admin_token"]
    result = load(Api(ns.gateway, token))
    print(json.dumps(result, indent=2))
    print(f"open {ns.gateway}/ to see the demo workflows")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
