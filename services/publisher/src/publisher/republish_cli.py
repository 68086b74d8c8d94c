"""``python -m publisher republish start | status | pause | resume | cancel`` (``publisher.republish``).

``start`` plans (converts every deployed workflow again; DS is asked only for SQL datasources) and, unless
``--dry-run``, writes the run for the publisher replicas to execute, then follows it: a progress line every
``--every`` seconds until it is done (Ctrl-C stops following, not the run: ``status --follow`` picks it up again).
Each command prints one JSON object (``start``: ``{"plan", "run"}``; the others: the run's counts, rate, ETA and
failures with their reason); progress lines go to stderr. A refused command
(a run open already, no such run, a run that cannot be paused…) prints the reason and exits 1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Literal

from common.db import create_engine, session_factory
from common.errors import DomainError
from common.main import run
from common.outbox import Outbox
from publisher import republish
from publisher.config import Settings
from publisher.db.tables import outbox_table
from publisher.deps import Deps
from publisher.main import dolphin_clients, ds_target

_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(?:/\s*s)?\s*$")


def rate(text: str) -> float:
    """``5``, ``5/s`` or ``0.5/s``: publishes started per second, across every replica."""
    m = _RATE.match(text)
    if m is None or float(m.group(1)) <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a rate: give publishes per second, e.g. 5 or 5/s")
    return float(m.group(1))


def arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True)
    start = sub.add_parser("start", help="plan and start a republish of every deployed workflow that would change")
    start.add_argument("--dry-run", action="store_true", help="only plan: what would be republished, nothing written")
    start.add_argument("--rate", type=rate, default=5.0, help="publishes started per second, all replicas (5/s)")
    start.add_argument(
        "--max-in-flight", type=int, default=8, help="unfinished republish records at once, all replicas (8)"
    )
    start.add_argument("--reason", default="converter changed", help="why (in each record's log)")
    start.add_argument("--operator", default="cli", help="who asks (in the run and each record's log)")
    start.add_argument("--workflow", type=int, action="append", help="only these workflows (repeatable)")
    start.add_argument("--no-follow", action="store_true", help="return once the run is written")
    start.add_argument("--every", type=float, default=2.0, help="seconds between progress lines (2)")
    status = sub.add_parser("status", help="the run's counts, rate, ETA and failures (default: the latest run)")
    status.add_argument("--run", type=int)
    status.add_argument("--follow", action="store_true", help="print progress until the run is over")
    status.add_argument("--every", type=float, default=2.0)
    status.add_argument("--failures", type=int, default=20, help="failed items listed (20)")
    for action in ("pause", "resume", "cancel"):
        p = sub.add_parser(action, help=f"{action} the run (default: the latest)")
        p.add_argument("--run", type=int)
        p.add_argument("--operator", default="cli")


@asynccontextmanager
async def _deps(settings: Settings) -> AsyncIterator[Deps]:
    engine = create_engine(settings.database_url, schema=settings.db_schema, pool_size=2)
    rest, gateway = dolphin_clients(settings)
    try:
        yield Deps(
            sessions=session_factory(engine),
            # never written to: planning and the controls emit no events
            outbox=Outbox(outbox_table, source=f"/services/{settings.service_name}", topic_name=settings.topic),
            gateway=gateway,
            rest=rest,
            target=ds_target(settings),
        )
    finally:
        await rest.aclose()
        await gateway.aclose()
        await engine.dispose()


def _line(view: republish.RunView) -> str:
    rate_text = "-" if view.rate_per_s is None else f"{view.rate_per_s:.1f}/s"
    eta = "-" if view.eta_s is None else f"{view.eta_s:.0f}s"
    done = view.republished + view.skipped + view.failed + view.cancelled
    return (
        f"run {view.run_id} {view.status}: {done}/{view.total} done — republished {view.republished}, skipped "
        f"{view.skipped}, failed {view.failed}, cancelled {view.cancelled}, queued {view.queued}, pending "
        f"{view.pending}; rate {rate_text}, ETA {eta}"
    )


async def _follow(deps: Deps, run_id: int, every_s: float, failures: int) -> republish.RunView:
    while True:
        view = await republish.status(deps, run_id, failures=failures)
        print(_line(view), file=sys.stderr, flush=True)
        if view.status in ("done", "cancelled") or (view.status == "paused" and view.queued == 0):
            return view
        await asyncio.sleep(every_s)


def _print(data: Any) -> None:
    print(json.dumps(data, indent=2, default=str))


async def _main(settings: Settings, args: argparse.Namespace) -> int:
    async with _deps(settings) as deps:
        try:
            if args.action == "start":
                if args.max_in_flight < 1:
                    raise DomainError("--max-in-flight must be at least 1")
                plan = await republish.plan(
                    deps,
                    requested_by=args.operator,
                    reason=args.reason,
                    rate_per_s=args.rate,
                    max_in_flight=args.max_in_flight,
                    dry_run=args.dry_run,
                    workflow_ids=args.workflow,
                )
                if plan.run_id is None or args.no_follow:
                    _print({"plan": plan.model_dump()})
                    return 0
                print(f"republish run {plan.run_id}: {plan.to_republish} of {plan.total} to republish", file=sys.stderr)
                view = await _follow(deps, plan.run_id, args.every, 20)
                _print({"plan": plan.model_dump(), "run": view.model_dump(mode="json")})
                return 0
            elif args.action == "status":
                view = await republish.status(deps, args.run, failures=args.failures)
                if args.follow:
                    view = await _follow(deps, view.run_id, args.every, args.failures)
            else:
                action: Literal["pause", "resume", "cancel"] = args.action
                view = await republish.set_status(deps, args.run, action, args.operator)
        except DomainError as exc:
            print(f"republish {args.action}: {exc.detail}", file=sys.stderr)
            return 1
        _print(view.model_dump(mode="json"))
        return 0


def command(settings: Settings, args: argparse.Namespace) -> int:
    try:
        return run(_main(settings, args))
    except KeyboardInterrupt:
        print("stopped following; the run goes on (republish status --follow)", file=sys.stderr)
        return 130
