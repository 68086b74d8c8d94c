"""The emulator process: uvicorn (REST + control + gateway callback), the Java py4j gateway and its fault proxy."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn

from ds_emulator.app import create_app
from ds_emulator.faults import Faults
from ds_emulator.gateway_proxy import GatewayProxy
from ds_emulator.javabuild import MAIN_CLASS, ensure_built
from ds_emulator.state import Emulator

logger = logging.getLogger(__name__)

DEFAULT_ACCESS_TOKEN = "ds-emulator-access-token"  # noqa: S105 (a test fixture value)
#: DS's shipped default py4j token (CONTRACT §1.1)
DEFAULT_GATEWAY_AUTH_TOKEN = "jwUDzpLsNKEFER4*a8gruBH_GsAurNxU7A@Xc"  # noqa: S105 (public DS default)


@dataclass
class ServerConfig:
    host: str = "127.0.0.1"
    rest_port: int = 0
    gateway_port: int = 0
    access_token: str = DEFAULT_ACCESS_TOKEN
    gateway_auth_token: str = DEFAULT_GATEWAY_AUTH_TOKEN
    with_gateway: bool = True
    ds_version: str = "3.4.1"
    java: str = "java"
    exit_on_stdin_eof: bool = False


async def _start_java(config: ServerConfig, rest_port: int) -> tuple[asyncio.subprocess.Process, int]:
    classpath = await asyncio.to_thread(ensure_built)
    env = dict(os.environ, DS_EMULATOR_GATEWAY_AUTH_TOKEN=config.gateway_auth_token)
    proc = await asyncio.create_subprocess_exec(
        config.java,
        "-Xmx128m",
        "-XX:+UseSerialGC",
        "-XX:TieredStopAtLevel=1",
        "-cp",
        classpath,
        MAIN_CLASS,
        f"http://127.0.0.1:{rest_port}",
        "0",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        env=env,
    )
    assert proc.stdout is not None
    try:
        while True:
            line = (await asyncio.wait_for(proc.stdout.readline(), timeout=60)).decode().strip()
            if not line:
                raise RuntimeError("the Java gateway exited before it was ready")
            if line.startswith("GATEWAY_PORT="):
                return proc, int(line.split("=", 1)[1])
    except BaseException:
        proc.kill()
        raise


async def _stop_java(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is not None:
        return
    if proc.stdin is not None:
        proc.stdin.close()
    try:
        await asyncio.wait_for(proc.wait(), timeout=5)
    except TimeoutError:
        proc.kill()
        await proc.wait()


async def serve(config: ServerConfig, on_ready: Callable[[dict[str, Any]], None]) -> None:
    emulator = Emulator(access_token=config.access_token, ds_version=config.ds_version)
    faults = Faults()
    app = create_app(emulator, faults)

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # accepted sockets inherit it: without it each response (headers, then body) waits ~40 ms for a delayed ACK
    # (asyncio sets TCP_NODELAY itself only for sockets created with proto IPPROTO_TCP)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((config.host, config.rest_port))
    sock.listen(128)
    sock.setblocking(False)
    rest_port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=2,
            # nothing proxies the emulator, and DS sends no "server: uvicorn": one ASGI layer and one header less
            # per request
            proxy_headers=False,
            server_header=False,
        )
    )
    server_task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if server_task.done():
            server_task.result()
            raise RuntimeError("uvicorn stopped during start-up")
        await asyncio.sleep(0.01)

    java: asyncio.subprocess.Process | None = None
    proxy: GatewayProxy | None = None
    stop = asyncio.Event()
    watchers: list[asyncio.Task[None]] = []
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        gateway_port = None
        if config.with_gateway:
            java, backend_port = await _start_java(config, rest_port)
            proxy = GatewayProxy(faults, config.host, config.gateway_port, backend_port)
            await proxy.start()
            gateway_port = proxy.port
        if config.exit_on_stdin_eof:
            watchers.append(loop.create_task(_watch_stdin(stop)))
        on_ready({"restPort": rest_port, "gatewayPort": gateway_port, "pid": os.getpid()})
        done, _ = await asyncio.wait(
            [asyncio.create_task(stop.wait()), server_task], return_when=asyncio.FIRST_COMPLETED
        )
        del done
    finally:
        if proxy is not None:
            await proxy.close()
        if java is not None:
            await _stop_java(java)
        faults.clear()
        server.should_exit = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(server_task, timeout=5)


async def _watch_stdin(stop: asyncio.Event) -> None:
    """Stop when the parent closes our stdin (it died or called stop())."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while await reader.read(1024):
        pass
    stop.set()


def main(argv: list[str] | None = None) -> None:
    """Console script ``ds-emulator``: run the emulator in the foreground."""
    import argparse

    parser = argparse.ArgumentParser(prog="ds-emulator", description="DolphinScheduler 3.3/3.4 emulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--rest-port", type=int, default=12345, help="0 picks a free port")
    parser.add_argument("--gateway-port", type=int, default=25333, help="0 picks a free port")
    parser.add_argument("--no-gateway", action="store_true", help="REST only (no Java needed)")
    parser.add_argument("--ds-version", default="3.4.1")
    parser.add_argument("--ready-file", type=Path, help="write the ready JSON (ports, pid) to this file")
    parser.add_argument("--exit-on-stdin-eof", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = ServerConfig(
        host=args.host,
        rest_port=args.rest_port,
        gateway_port=args.gateway_port,
        access_token=os.environ.get("DS_EMULATOR_ACCESS_TOKEN", DEFAULT_ACCESS_TOKEN),
        gateway_auth_token=os.environ.get("DS_EMULATOR_GATEWAY_AUTH_TOKEN", DEFAULT_GATEWAY_AUTH_TOKEN),
        with_gateway=not args.no_gateway,
        ds_version=args.ds_version,
        exit_on_stdin_eof=args.exit_on_stdin_eof,
    )

    def ready(info: dict[str, Any]) -> None:
        text = json.dumps(info)
        if args.ready_file is not None:
            tmp = args.ready_file.with_suffix(".tmp")
            tmp.write_text(text)
            tmp.rename(args.ready_file)
        logger.info("DS emulator ready: REST http://%s:%s/dolphinscheduler, gateway port %s",
                    config.host, info["restPort"], info["gatewayPort"])  # fmt: skip

    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        runner.run(serve(config, ready))


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop where installed (``uvicorn[standard]``): a third less CPU per request than the default loop, which
    ``asyncio.run`` would otherwise give uvicorn (``uvicorn.Server.serve`` runs on the loop it is given)."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is not built for every platform
        return None
    return uvloop.new_event_loop
