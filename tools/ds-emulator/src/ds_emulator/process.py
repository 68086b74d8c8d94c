"""``EmulatorProcess``: start and stop the emulator as a child process, and drive its control API."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import httpx

from ds_emulator.javabuild import cache_root, ensure_built
from ds_emulator.server import DEFAULT_ACCESS_TOKEN


class EmulatorProcess:
    """A DS emulator in a separate process. Ports 0 pick free ports; read them after :meth:`start`."""

    def __init__(
        self,
        rest_port: int = 0,
        gateway_port: int = 0,
        *,
        auth_token: str | None = None,
        access_token: str = DEFAULT_ACCESS_TOKEN,
        host: str = "127.0.0.1",
        with_gateway: bool = True,
        ds_version: str = "3.4.1",
        startup_timeout: float = 120.0,
        log_path: Path | None = None,
    ) -> None:
        self.host = host
        self.rest_port = rest_port
        self.gateway_port = gateway_port
        # a token of its own, never DS's public default (the publisher refuses that one)
        self.auth_token = auth_token if auth_token is not None else "emu-gw-" + secrets.token_urlsafe(16)
        self.access_token = access_token
        self.with_gateway = with_gateway
        self.ds_version = ds_version
        self.startup_timeout = startup_timeout
        self.log_path = log_path
        self.pid: int | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._control: httpx.Client | None = None

    def __repr__(self) -> str:
        return f"EmulatorProcess(host={self.host!r}, rest_port={self.rest_port}, gateway_port={self.gateway_port})"

    # ------------------------------------------------------------------------------------------------------------
    # Lifecycle

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.rest_port}"

    @property
    def rest_url(self) -> str:
        """The DS REST base URL (``.../dolphinscheduler``)."""
        return f"{self.base_url}/dolphinscheduler"

    def start(self) -> None:
        if self._proc is not None:
            raise RuntimeError("already started")
        if self.with_gateway:
            ensure_built()
        logs = cache_root() / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        if self.log_path is None:
            self.log_path = logs / f"emulator-{os.getpid()}-{int(time.time() * 1000)}.log"
        ready_dir = Path(tempfile.mkdtemp(prefix="ds-emulator-"))
        ready_file = ready_dir / "ready.json"
        cmd = [
            sys.executable, "-m", "ds_emulator", "--host", self.host, "--rest-port", str(self.rest_port),
            "--gateway-port", str(self.gateway_port), "--ds-version", self.ds_version,
            "--ready-file", str(ready_file), "--exit-on-stdin-eof",
        ]  # fmt: skip
        if not self.with_gateway:
            cmd.append("--no-gateway")
        env = dict(
            os.environ,
            DS_EMULATOR_ACCESS_TOKEN=self.access_token,
            DS_EMULATOR_GATEWAY_AUTH_TOKEN=self.auth_token,
        )
        with open(self.log_path, "ab") as log:
            self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=log, stderr=log, env=env)
        deadline = time.monotonic() + self.startup_timeout
        try:
            while not ready_file.exists():
                if self._proc.poll() is not None:
                    raise RuntimeError(f"the DS emulator exited during start-up; see {self.log_path}")
                if time.monotonic() > deadline:
                    raise TimeoutError(f"the DS emulator did not start in {self.startup_timeout}s; see {self.log_path}")
                time.sleep(0.05)
            info = json.loads(ready_file.read_text())
        except BaseException:
            self.stop()
            raise
        finally:
            ready_file.unlink(missing_ok=True)
            ready_dir.rmdir()
        self.rest_port = int(info["restPort"])
        self.gateway_port = int(info["gatewayPort"] or 0)
        self.pid = int(info["pid"])
        self._control = httpx.Client(base_url=self.base_url, timeout=10.0)

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if self._control is not None:
            self._control.close()
            self._control = None
        if proc is None:
            return
        if proc.poll() is None:
            if proc.stdin is not None:
                proc.stdin.close()
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # ------------------------------------------------------------------------------------------------------------
    # Control API (emulator only; contract tests never use it)

    def _post(self, what: str, body: dict[str, Any] | None = None, method: str = "POST") -> Any:
        if self._control is None:
            raise RuntimeError("the emulator is not running")
        response = self._control.request(method, f"/_emulator/{what}", json=body)
        response.raise_for_status()
        return response.json()

    def reset(self) -> None:
        """Forget all state (back to the seed: user admin, tenant default, the access token) and all faults."""
        self._post("reset")

    def add_fault(self, action: str, *, target: str = "rest", match: str = ".*", **options: Any) -> dict[str, Any]:
        """Add a fault rule; options: method, latencyMs, dsCode, dsMsg, status, message, hangSeconds, times."""
        result: dict[str, Any] = self._post("faults", {"target": target, "action": action, "match": match, **options})
        return result

    def set_global_latency(self, milliseconds: float) -> None:
        self._post("faults", {"globalLatencyMs": milliseconds})

    def clear_faults(self) -> None:
        self._post("faults", method="DELETE")

    def script(self, outcome: str, **selectors: Any) -> None:
        """Set an outcome: selectors workflowCode, taskName, taskCode, rawScriptContains, durationSeconds, times."""
        self._post("script", {"outcome": outcome, **selectors})

    def configure(self, **timing: Any) -> None:
        """submitDelaySeconds, dispatchDelaySeconds, taskDurationSeconds, dsVersion."""
        self._post("config", timing)

    def add_user(self, user_name: str, *, password: str = "secret", tenant_code: str | None = "default") -> Any:  # noqa: S107
        return self._post("users", {"userName": user_name, "password": password, "tenantCode": tenant_code})

    def add_datasource(self, name: str, ds_type: str = "POSTGRESQL") -> Any:
        return self._post("datasources", {"name": name, "type": ds_type})

    def seed(
        self, project_name: str, workflows: int, *, instances_per_workflow: int = 3, failure_every: int = 0
    ) -> dict[str, Any]:
        """Bulk-create ONLINE workflows with finished instances (for benchmarks); returns project and codes."""
        if self._control is None:
            raise RuntimeError("the emulator is not running")
        body = {"projectName": project_name, "workflows": workflows, "instancesPerWorkflow": instances_per_workflow,
                "failureEvery": failure_every}  # fmt: skip
        response = self._control.post("/_emulator/seed", json=body, timeout=300.0)
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def state(self) -> Any:
        return self._post("state", method="GET")
