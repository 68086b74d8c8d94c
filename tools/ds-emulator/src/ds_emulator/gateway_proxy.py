"""A loopback TCP proxy in front of the Java gateway, where gateway faults are injected.

It reads the py4j text protocol just enough to see calls on the entry point (``c\\nt\\n<method>\\n...``), so
latency, hangs and dropped connections can target one Java method. ``refuse`` closes the listening socket (clients
get "connection refused") until the rule is cleared.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from ds_emulator.faults import Faults

logger = logging.getLogger(__name__)

PROXY_ACTIONS = frozenset({"latency", "hang", "close"})


def entry_point_method(chunk: bytes) -> str | None:
    """The method name when ``chunk`` starts a py4j call on the entry point (target ``t``)."""
    if not chunk.startswith(b"c\n"):
        return None
    parts = chunk.split(b"\n", 3)
    if len(parts) < 3 or parts[1] != b"t":
        return None
    return parts[2].decode("utf-8", "replace")


class GatewayProxy:
    def __init__(self, faults: Faults, host: str, port: int, backend_port: int) -> None:
        self.faults = faults
        self.host = host
        self.port = port
        self.backend_port = backend_port
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._changed = asyncio.Event()
        self._watch: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._listen()
        self.faults.on_change.append(self._changed)
        self._watch = asyncio.create_task(self._watch_faults())

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._handle, self.host, self.port, reuse_address=True)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _stop_listening(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for writer in list(self._writers):
            writer.close()
        self._writers.clear()

    async def _watch_faults(self) -> None:
        while True:
            await self._changed.wait()
            self._changed.clear()
            refused = self.faults.gateway_refused()
            if refused and self._server is not None:
                await self._stop_listening()
            elif not refused and self._server is None:
                await self._listen()

    async def close(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
        await self._stop_listening()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            backend_reader, backend_writer = await asyncio.open_connection("127.0.0.1", self.backend_port)
        except OSError:
            writer.close()
            self._writers.discard(writer)
            return
        downstream = asyncio.create_task(self._pump(backend_reader, writer))
        try:
            while True:
                chunk = await reader.read(65536)
                if not chunk:
                    break
                if not await self._apply_faults(chunk):
                    break
                backend_writer.write(chunk)
                await backend_writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            downstream.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionError, OSError):
                await downstream
            for w in (backend_writer, writer):
                w.close()
            self._writers.discard(writer)

    async def _apply_faults(self, chunk: bytes) -> bool:
        """False when the connection must be dropped instead of forwarding ``chunk``."""
        method = entry_point_method(chunk)
        if method is None:
            return True
        if self.faults.global_latency_ms > 0:
            await asyncio.sleep(self.faults.global_latency_ms / 1000)
        for rule in self.faults.take("gateway", method, actions=PROXY_ACTIONS):
            if rule.action == "latency":
                await asyncio.sleep(rule.latency_ms / 1000)
            elif rule.action == "hang":
                await self.faults.hang(rule.hang_seconds)
                return False
            elif rule.action == "close":
                return False
        return True

    @staticmethod
    async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                writer.write(data)
                await writer.drain()
        writer.close()
