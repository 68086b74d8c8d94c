"""Command line for manual use (``python -m devstack.dolphin download|start|stop|status``)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from devstack.dolphin.server import DolphinStandalone


@contextlib.contextmanager
def running(server: DolphinStandalone | None = None) -> Iterator[DolphinStandalone]:
    """Start a server for the duration of a ``with`` block (reuses one that is already running)."""
    ds = server or DolphinStandalone()
    was_running = ds.is_running()
    ds.start()
    try:
        yield ds
    finally:
        if not was_running:
            ds.stop()


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m devstack.dolphin")
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("download")
    sub.add_parser("start")
    sub.add_parser("stop")
    sub.add_parser("status")
    args = parser.parse_args(argv)
    ds = DolphinStandalone()
    if args.cmd == "download":
        print(ds.ensure_downloaded())
    elif args.cmd == "start":
        ds.start()
        rss = ds.rss_bytes() or 0
        print(f"DolphinScheduler {ds.version} up in {ds.started_in or 0:.0f}s, RSS {rss / 2**20:.0f} MiB")
        print(f"REST {ds.rest_url}  gateway {ds.gateway_address}:{ds.gateway_port}")
    elif args.cmd == "stop":
        ds.stop()
    else:
        state = "healthy" if ds.is_healthy() else ("starting" if ds.is_running() else "stopped")
        print(f"DolphinScheduler {ds.version}: {state} ({ds.rest_url})")
    return 0
