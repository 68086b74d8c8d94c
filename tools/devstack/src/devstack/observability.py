"""The local observability stack without Docker: a trace backend with a UI and Prometheus with the project's rules.

- **Zipkin** (``io.zipkin:zipkin-server:<ZIPKIN_VERSION>:exec``, one self-contained jar from Maven Central, fetched
  once with Maven into ``<cache dir>/zipkin/<version>/`` like the Kafka jars) runs on the machine's Java with
  in-memory storage. The services export to it with OpenTelemetry's Zipkin JSON exporter
  (``<PREFIX>OTEL_EXPORTER_ZIPKIN_ENDPOINT``): Zipkin 3.x takes no OTLP (``POST /v1/traces`` answers 404, measured).
  Chosen over Jaeger, which would be built from Go source on every fresh machine (docs/operations.md has the figures).
- **Prometheus**: Debian's ``prometheus`` binary (the package that already brings ``promtool``), scraping every
  service's ``/metrics`` and loaded with ``deploy/prometheus/rules.yml``; its configuration is written here for the
  ports in use, its TSDB lives in the state directory.

Both are started in the background with their output in ``<state dir>/<name>/<name>.log`` and a pid file beside it,
as ``platform up`` starts the services; a second ``start`` finds them running and reuses them.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from devstack._proc import DevstackError, is_root, kill_tree, process_alive, read_pid, run, wait_gone, wait_http
from devstack.paths import HOST, cache_dir, repo_root, state_dir

ZIPKIN_VERSION = "3.5.1"
DEFAULT_ZIPKIN_PORT = 9411
DEFAULT_PROMETHEUS_PORT = 9090


def zipkin_jar(version: str = ZIPKIN_VERSION) -> Path:
    return cache_dir() / "zipkin" / version / f"zipkin-server-{version}-exec.jar"


def ensure_zipkin_jar(version: str = ZIPKIN_VERSION) -> Path:
    """Download Zipkin's server jar once (with Maven, from Maven Central) and return its path."""
    jar = zipkin_jar(version)
    if jar.is_file():
        return jar
    jar.parent.mkdir(parents=True, exist_ok=True)
    with (jar.parent / ".lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if jar.is_file():
            return jar
        mvn = shutil.which("mvn")
        if mvn is None:
            raise DevstackError(
                f"Maven (`mvn`) is needed once to download Zipkin's server {version} from Maven Central into "
                f"{jar.parent}. Install it (e.g. `apt-get install maven`) or start without observability."
            )
        staging = jar.parent / "partial"
        shutil.rmtree(staging, ignore_errors=True)
        artifact = f"io.zipkin:zipkin-server:{version}:jar:exec"
        result = run(
            [mvn, "-q", "-B", "dependency:copy", f"-Dartifact={artifact}", f"-DoutputDirectory={staging}"],
            cwd=jar.parent,
            check=False,
            timeout=1800,
        )
        got = staging / jar.name
        if result.returncode != 0 or not got.is_file():
            raise DevstackError(
                f"downloading {artifact} with Maven failed (exit {result.returncode}); is Maven Central reachable?\n"
                f"{(result.stdout + result.stderr).strip()[-3000:]}"
            )
        got.rename(jar)
        shutil.rmtree(staging, ignore_errors=True)
        return jar


def prometheus_binary() -> Path:
    """Debian's ``prometheus`` (installed with ``--no-install-recommends`` and its system service disabled, as
    ``./platform`` installs ``promtool``; as root it is installed here when missing)."""
    found = shutil.which("prometheus")
    if found:
        return Path(found)
    if not is_root():
        raise DevstackError(
            "Prometheus is missing and only root can install it here (apt-get install --no-install-recommends "
            "prometheus), or start without observability."
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    run(["apt-get", "update", "-qq"], env=env, check=True, timeout=1800)
    run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", "prometheus"], env=env, check=True, timeout=1800)
    # only the binary is wanted: the packaged system service would scrape nothing of ours on :9090
    subprocess.run(["systemctl", "disable", "--now", "prometheus"], capture_output=True, check=False)
    subprocess.run(["service", "prometheus", "stop"], capture_output=True, check=False)
    found = shutil.which("prometheus")
    if not found:
        raise DevstackError("apt-get installed prometheus but no `prometheus` binary is on PATH")
    return Path(found)


class _Daemon:
    """One background process with a pid file and a log in its own directory."""

    name = ""
    ready_path = ""

    def __init__(self, port: int, directory: Path) -> None:
        self.port = port
        self.dir = directory
        self.pid_file = directory / f"{self.name}.pid"
        self.log = directory / f"{self.name}.log"

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def pid(self) -> int | None:
        pid = read_pid(self.pid_file)
        return pid if pid is not None and process_alive(pid) else None

    def is_running(self) -> bool:
        return self.pid() is not None

    def command(self) -> list[str]:
        raise NotImplementedError

    def start(self, timeout: float = 120.0) -> None:
        """Start it (or keep the running one) and wait until it answers."""
        pid = self.pid()
        if pid is None:
            self.dir.mkdir(parents=True, exist_ok=True)
            command = self.command()
            with self.log.open("ab") as out:
                proc = subprocess.Popen(
                    command, stdout=out, stderr=subprocess.STDOUT, cwd=self.dir, start_new_session=True
                )
            self.pid_file.write_text(str(proc.pid))
            pid = proc.pid
        wait_http(self.url + self.ready_path, self.name, timeout, pid, self.log)

    def stop(self, timeout: float = 20.0) -> bool:
        """Stop it; False when it was not running."""
        pid = self.pid()
        self.pid_file.unlink(missing_ok=True)
        if pid is None:
            return False
        os.killpg(pid, signal.SIGTERM)
        if not wait_gone(pid, timeout):
            kill_tree(pid)
        return True


class Zipkin(_Daemon):
    """Zipkin's server, in-memory storage (traces live as long as the process; ``MEM_MAX_SPANS`` bounds them)."""

    name = "zipkin"
    ready_path = "/health"

    def __init__(self, port: int = DEFAULT_ZIPKIN_PORT, directory: Path | None = None, max_spans: int = 500_000):
        super().__init__(port, directory or state_dir() / "zipkin")
        self.max_spans = max_spans

    @property
    def spans_endpoint(self) -> str:
        """Where the services send spans (Zipkin JSON v2)."""
        return self.url + "/api/v2/spans"

    @property
    def ui_url(self) -> str:
        return self.url + "/zipkin/"

    def trace_url(self, trace_id: str) -> str:
        return f"{self.url}/zipkin/traces/{trace_id}"

    def command(self) -> list[str]:
        from devstack.kafka_runtime import find_java

        jar = ensure_zipkin_jar()
        return [
            str(find_java()),
            "-Xms64m",
            "-Xmx384m",
            "-XX:+UseSerialGC",
            "-XX:TieredStopAtLevel=1",
            "-jar",
            str(jar),
            f"--server.port={self.port}",
            f"--server.address={HOST}",
            "--zipkin.storage.type=mem",
            f"--zipkin.storage.mem.max-spans={self.max_spans}",
            "--logging.level.root=WARN",
        ]


@dataclass(frozen=True)
class ScrapeTarget:
    job: str
    address: str  # host:port
    labels: dict[str, str]
    metrics_path: str = "/metrics"


def prometheus_config(
    targets: Iterable[ScrapeTarget],
    rule_files: Sequence[Path],
    *,
    scrape_interval_s: float = 5.0,
    evaluation_interval_s: float = 5.0,
    self_address: str | None = None,
) -> dict[str, Any]:
    """A Prometheus configuration: one scrape job per ``job`` name (one static config per target, with its labels)
    and the rule files. The shipped rules keep their own ``for:`` and their groups' ``interval``; the global
    evaluation interval only sets how often the groups without one are evaluated."""
    jobs: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for t in targets:
        jobs.setdefault((t.job, t.metrics_path), []).append({"targets": [t.address], "labels": dict(t.labels)})
    scrape = [
        {"job_name": job, "metrics_path": path, "static_configs": statics} for (job, path), statics in jobs.items()
    ]
    if self_address:
        scrape.append({"job_name": "prometheus", "static_configs": [{"targets": [self_address]}]})
    return {
        "global": {
            "scrape_interval": f"{scrape_interval_s:g}s",
            "scrape_timeout": f"{min(scrape_interval_s, 10.0):g}s",
            "evaluation_interval": f"{evaluation_interval_s:g}s",
            "external_labels": {"environment": "local"},
        },
        "rule_files": [str(p) for p in rule_files],
        "scrape_configs": scrape,
    }


def shipped_rules() -> Path:
    return repo_root() / "deploy" / "prometheus" / "rules.yml"


class Prometheus(_Daemon):
    """Prometheus with a configuration of ours (``prometheus_config``), its TSDB in its directory."""

    name = "prometheus"
    ready_path = "/-/ready"

    def __init__(
        self,
        targets: Iterable[ScrapeTarget],
        *,
        port: int = DEFAULT_PROMETHEUS_PORT,
        directory: Path | None = None,
        rule_files: Sequence[Path] | None = None,
        scrape_interval_s: float = 5.0,
        evaluation_interval_s: float = 5.0,
        retention: str = "2d",
    ) -> None:
        super().__init__(port, directory or state_dir() / "prometheus")
        self.targets = list(targets)
        self.rule_files = list(rule_files) if rule_files is not None else [shipped_rules()]
        self.scrape_interval_s = scrape_interval_s
        self.evaluation_interval_s = evaluation_interval_s
        self.retention = retention
        self.config_file = self.dir / "prometheus.yml"

    def write_config(self) -> Path:
        self.dir.mkdir(parents=True, exist_ok=True)
        config = prometheus_config(
            self.targets,
            self.rule_files,
            scrape_interval_s=self.scrape_interval_s,
            evaluation_interval_s=self.evaluation_interval_s,
            self_address=f"{HOST}:{self.port}",
        )
        # JSON is YAML: no YAML library needed here
        self.config_file.write_text(json.dumps(config, indent=2), encoding="utf-8")
        return self.config_file

    def command(self) -> list[str]:
        return [
            str(prometheus_binary()),
            f"--config.file={self.write_config()}",
            f"--storage.tsdb.path={self.dir / 'data'}",
            f"--storage.tsdb.retention.time={self.retention}",
            f"--web.listen-address={HOST}:{self.port}",
            "--web.enable-lifecycle",
            "--log.level=warn",
        ]

    def reload(self) -> None:
        """Rewrite the configuration and have the running server load it (targets of a new ``up``)."""
        self.write_config()
        httpx.post(self.url + "/-/reload", timeout=10.0).raise_for_status()

    def graph_url(self, expr: str, range_input: str = "15m") -> str:
        """The graph page of ``expr`` over the last ``range_input``."""
        from urllib.parse import urlencode

        query = urlencode({"g0.expr": expr, "g0.tab": "0", "g0.range_input": range_input})
        return f"{self.url}/graph?{query}"
