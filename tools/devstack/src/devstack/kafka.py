"""A local single-node Apache Kafka broker in KRaft mode (combined broker + controller).

The official Kafka jars are fetched once from Maven Central (``devstack.kafka_runtime``) and run with the machine's
Java 17+. Data lives in ``<state dir>/kafka`` and survives ``stop()``/``start()``.

Clients authenticate (SASL/SCRAM-SHA-512 on the broker's listener; the controller's listener takes SASL/PLAIN from
the broker itself) and the ACL authorizer denies what no ACL allows. The SCRAM users — ``admin`` (the only super
user: provisioning, tests), one per service and ``lineage-producer`` (``PRINCIPALS``) — are created when the storage
is formatted, with passwords generated into ``<state dir>/kafka/sasl-users.json`` (mode 0600). A data directory
formatted without them (an older devstack) is formatted again, its data lost.
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import json
import logging
import os
import secrets
import shutil
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

from aiokafka.client import AIOKafkaClient, CoordinationType
from aiokafka.errors import KafkaError

from devstack._proc import (
    DevstackError,
    PortBusyError,
    ephemeral_port_range,
    in_ephemeral_range,
    port_accepts,
    port_has_listener,
    require_free_port,
    run,
    tail,
)
from devstack._server import PidFileServer, port_pair
from devstack.kafka_runtime import KAFKA_VERSION, ensure_kafka_libs, find_java
from devstack.paths import DEFAULT_KAFKA_PORT, HOST, state_dir

PORT_ENV = "DEVSTACK_KAFKA_PORT"
CONTROLLER_PORT_ENV = "DEVSTACK_KAFKA_CONTROLLER_PORT"
HEAP_OPTS = ("-Xms256m", "-Xmx768m")
# C1-only JIT: much faster JVM start-up on small CI machines; plenty for a test broker.
JVM_OPTS = ("-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20", "-XX:TieredStopAtLevel=1")
#: the SCRAM users of the local broker: the administrator (super user), the services (common.kafka_acls.GRANTS) and
#: the external lineage producers
ADMIN_USER = "admin"
PRINCIPALS = (
    ADMIN_USER,
    "definition",
    "publisher",
    "history-sync",
    "lineage-resolver",
    "alerting",
    "lineage-producer",
)
SCRAM = "SCRAM-SHA-512"
#: the broker's own user on the controller listener (SASL/PLAIN, defined in server.properties)
_CONTROLLER_USER = "controller"
log = logging.getLogger(__name__)


def _random_cluster_id() -> str:
    """A Kafka cluster id: 16 random bytes, URL-safe base64 without padding, not starting with '-'."""
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode("ascii")
        if not cid.startswith("-"):
            return cid


# --------------------------------------------------------------------------- readiness probe
def sasl_options(username: str, password: str) -> dict[str, Any]:
    """aiokafka keyword arguments of a SCRAM user of the local broker."""
    return {
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": SCRAM,
        "sasl_plain_username": username,
        "sasl_plain_password": password,
    }


async def _probe(bootstrap: str, request_timeout_ms: int, options: dict[str, Any] | None = None) -> None:
    """Succeed once a metadata request returns a broker and the group coordinator is available."""
    client = AIOKafkaClient(bootstrap_servers=bootstrap, request_timeout_ms=request_timeout_ms, **(options or {}))
    try:
        await client.bootstrap()
        metadata = await client.fetch_all_metadata()
        if not metadata.brokers():
            raise DevstackError("metadata response lists no brokers yet")
        # Creates __consumer_offsets on first use, so the first consumer group of a test is fast.
        await client.coordinator_lookup(CoordinationType.GROUP, "devstack-readiness-probe")
    finally:
        await client.close()


def probe_kafka(bootstrap: str, timeout: float = 5.0, options: dict[str, Any] | None = None) -> bool:
    """One readiness probe with aiokafka, run on a private event loop in a worker thread."""
    probe = _probe(bootstrap, max(1000, int(timeout * 1000)), options)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        future = pool.submit(asyncio.run, asyncio.wait_for(probe, timeout))
        try:
            future.result(timeout=timeout + 5)
        except (KafkaError, DevstackError, OSError, TimeoutError, concurrent.futures.TimeoutError):
            return False
        except Exception:  # any other client-side failure also just means "not ready yet"
            log.debug("Kafka readiness probe failed", exc_info=True)
            return False
    return True


# --------------------------------------------------------------------------- server
class KafkaServer(PidFileServer):
    """A local KRaft Kafka broker; ``start()`` is idempotent and keeps data across restarts."""

    lock_name = "kafka"

    def __init__(
        self,
        *,
        port: int | None = None,
        controller_port: int | None = None,
        work_dir: Path | None = None,
        version: str = KAFKA_VERSION,
    ) -> None:
        self.host = HOST
        self.port, self.controller_port = port_pair(
            port,
            controller_port,
            port_env=PORT_ENV,
            default=DEFAULT_KAFKA_PORT,
            second_env=CONTROLLER_PORT_ENV,
            what="Kafka broker and controller",
        )
        self.version = version
        self.work_dir = work_dir if work_dir is not None else state_dir() / "kafka"
        self.data_dir = self.work_dir / "data"
        self.config_file = self.work_dir / "server.properties"
        self.log4j_file = self.work_dir / "log4j2.properties"
        self.log_file = self.work_dir / "server.log"
        self.stdout_file = self.work_dir / "kafka.out"
        self.pid_file = self.work_dir / "kafka.pid"
        self.users_file = self.work_dir / "sasl-users.json"
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"{self.host}:{self.port}"

    # ----------------------------------------------------------------- users
    def passwords(self) -> dict[str, str]:
        """The SCRAM users' passwords (and the controller's), generated once into ``sasl-users.json``."""
        data: dict[str, str] = json.loads(self.users_file.read_text()) if self.users_file.exists() else {}
        wanted = (*PRINCIPALS, _CONTROLLER_USER)
        if any(u not in data for u in wanted):
            for user in wanted:
                data.setdefault(user, secrets.token_urlsafe(18))
            self.work_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.users_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as fh:
                json.dump(data, fh, indent=2)
        return data

    def client_options(self, user: str = ADMIN_USER) -> dict[str, Any]:
        """aiokafka keyword arguments (bootstrap servers included) of ``user``."""
        return {"bootstrap_servers": self.bootstrap_servers, **sasl_options(user, self.passwords()[user])}

    def client_env(self, user: str = ADMIN_USER) -> dict[str, str]:
        """The environment a platform process reads to connect as ``user`` (``common.kafka_access``)."""
        return {
            "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap_servers,
            "KAFKA_SASL_USERNAME": user,
            "KAFKA_SASL_PASSWORD": self.passwords()[user],
            "KAFKA_SASL_MECHANISM": SCRAM,
        }

    def _log_mark(self) -> tuple[int, int]:
        """Where the broker's log ends now: (inode, size); (0, 0) when there is none yet."""
        try:
            st = self.log_file.stat()
        except OSError:
            return (0, 0)
        return (st.st_ino, st.st_size)

    def _port_was_taken(self, mark: tuple[int, int]) -> bool:
        """The broker's log since ``mark`` says a listener's address was in use. log4j rolls ``server.log`` over
        to ``server.log.1`` at 50 MB: when the file at ``mark`` was rolled, its rest is read there, then the new one."""
        inode, offset = mark
        parts: list[tuple[Path, int]] = [(self.log_file, offset)]
        try:
            if self.log_file.stat().st_ino != inode and inode:
                parts = [(self.log_file.with_name(self.log_file.name + ".1"), offset), (self.log_file, 0)]
        except OSError:
            return False
        for path, start in parts:
            try:
                with path.open("rb") as fh:
                    fh.seek(start)
                    if b"Address already in use" in fh.read():
                        return True
            except OSError:
                continue
        return False

    def _formatted_users(self) -> list[str] | None:
        marker = self.data_dir / "devstack-scram-users.json"
        return list(json.loads(marker.read_text())) if marker.exists() else None

    # ----------------------------------------------------------------- state
    def _is_ours(self, cmdline: list[str]) -> bool:
        return "kafka.Kafka" in cmdline and str(self.config_file) in cmdline

    def _probe(self) -> bool:
        return probe_kafka(self.bootstrap_servers, options=sasl_options(ADMIN_USER, self.passwords()[ADMIN_USER]))

    def is_ready(self) -> bool:
        return self.is_running() and port_accepts(self.host, self.port) and self._probe()

    def wait_ready(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.is_running():
                raise DevstackError(
                    f"Kafka exited while starting; last lines of {self.log_file}:\n{tail(self.log_file)}\n"
                    f"--- {self.stdout_file}:\n{tail(self.stdout_file, 15)}"
                )
            if port_accepts(self.host, self.port) and self._probe():
                return
            time.sleep(0.3)
        raise DevstackError(
            f"Kafka did not answer a metadata request on {self.bootstrap_servers} within {timeout:.0f}s; "
            f"see {self.log_file}:\n{tail(self.log_file)}"
        )

    # ----------------------------------------------------------------- lifecycle
    def start(self, timeout: float = 120.0) -> bool:
        """Start the broker (formatting storage on first use). Returns False if it was already running."""
        with self._lock():
            if self.is_running():
                running_port = self._running_port()
                if running_port is not None and running_port != self.port:
                    raise DevstackError(
                        f"Kafka from {self.work_dir} is already running on port {running_port}, not {self.port}; "
                        f"stop it first (`devstack down --only kafka`) or use {PORT_ENV}={running_port}"
                    )
                self.wait_ready(timeout)
                return False
            java = find_java()
            libs = ensure_kafka_libs(self.version)
            self.work_dir.mkdir(parents=True, exist_ok=True)
            self._write_config()
            self._write_log4j_config()
            classpath = f"{libs}/*"
            formatted = (self.data_dir / "meta.properties").exists()
            if formatted and self._formatted_users() != list(PRINCIPALS):
                log.warning(
                    "the Kafka data in %s has no SCRAM users of this devstack: formatting it again", self.data_dir
                )
                formatted = False
            if not formatted:
                shutil.rmtree(self.data_dir, ignore_errors=True)
                self._format_storage(java, classpath)
                (self.data_dir / "devstack-scram-users.json").write_text(json.dumps(list(PRINCIPALS)))
            self.pid_file.unlink(missing_ok=True)
            cmd = [
                str(java),
                *HEAP_OPTS,
                *JVM_OPTS,
                "-XX:+ExitOnOutOfMemoryError",
                "-Djava.awt.headless=true",
                f"-Dlog4j2.configurationFile={self.log4j_file}",
                f"-Dkafka.logs.dir={self.work_dir}",
                "-cp",
                classpath,
                "kafka.Kafka",
                str(self.config_file),
            ]
            # Ports chosen through the environment may lie in the kernel's ephemeral range: while the broker is down
            # (a test that restarts it), a client's outgoing connection can take the port as its own source port, and
            # the broker then cannot bind. Such a start is tried again once the client has let go of it.
            for port in (self.port, self.controller_port):
                if in_ephemeral_range(port):
                    log.warning(
                        "Kafka port %d lies in the kernel's ephemeral port range: a restart may find it taken by a "
                        "client's connection for a while (choose a port below %d)",
                        port,
                        (ephemeral_port_range() or (32768, 0))[0],
                    )
            for attempt in range(1, 6):
                # a client's self-connection holding the port lets go within a second or two: wait for it to go
                try:
                    require_free_port(self.host, self.port, "Kafka", PORT_ENV)
                    require_free_port(
                        self.host, self.controller_port, "the Kafka KRaft controller", CONTROLLER_PORT_ENV
                    )
                except PortBusyError:
                    ours = (self.port, self.controller_port)
                    if attempt < 5 and not any(map(port_has_listener, ours)):
                        log.warning("a Kafka port is still held by a client's connection; waiting again")
                        continue
                    raise
                log_mark = self._log_mark()
                with self.stdout_file.open("ab") as out:
                    self._proc = subprocess.Popen(
                        cmd,
                        cwd=self.work_dir,
                        stdin=subprocess.DEVNULL,
                        stdout=out,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                self._record(self._proc.pid, self.port)
                try:
                    self.wait_ready(timeout)
                except DevstackError:
                    self._terminate(graceful_timeout=10)
                    if attempt < 5 and self._port_was_taken(log_mark):
                        log.warning("Kafka could not bind its port (taken by a client's connection); starting again")
                        time.sleep(2.0)
                        continue
                    raise
                return True
            return True

    def restart(self, timeout: float = 120.0) -> None:
        self.stop()
        self.start(timeout)

    # ----------------------------------------------------------------- internals
    def _format_storage(self, java: Path, classpath: str) -> None:
        passwords = self.passwords()
        result = run(
            [
                str(java),
                "-Xmx256m",
                "-XX:TieredStopAtLevel=1",
                f"-Dlog4j2.configurationFile={self.log4j_file}",
                "-cp",
                classpath,
                "kafka.tools.StorageTool",
                "format",
                "-t",
                _random_cluster_id(),
                "-c",
                str(self.config_file),
                *[
                    a
                    for user in PRINCIPALS
                    for a in ("--add-scram", f"{SCRAM}=[name={user},password={passwords[user]}]")
                ],
            ],
            cwd=self.work_dir,
            check=False,
            timeout=180,
        )
        if result.returncode != 0:
            output = (result.stdout + result.stderr).strip()[-4000:]
            for secret in passwords.values():
                output = output.replace(secret, "***")
            raise DevstackError(
                f"formatting Kafka storage in {self.data_dir} failed (exit {result.returncode}):\n{output}"
            )

    def server_properties(self) -> dict[str, str]:
        """The broker configuration written to ``server.properties``."""
        passwords = self.passwords()
        admin, controller = passwords[ADMIN_USER], passwords[_CONTROLLER_USER]
        return {
            "node.id": "1",
            "process.roles": "broker,controller",
            "listeners": f"BROKER://{self.host}:{self.port},CONTROLLER://{self.host}:{self.controller_port}",
            "advertised.listeners": f"BROKER://{self.host}:{self.port}",
            "listener.security.protocol.map": "BROKER:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT",
            "inter.broker.listener.name": "BROKER",
            "controller.listener.names": "CONTROLLER",
            # clients: SCRAM users created when the storage is formatted; the broker itself is the admin
            "sasl.enabled.mechanisms": SCRAM,
            "sasl.mechanism.inter.broker.protocol": SCRAM,
            "listener.name.broker.sasl.enabled.mechanisms": SCRAM,
            "listener.name.broker.scram-sha-512.sasl.jaas.config": (
                "org.apache.kafka.common.security.scram.ScramLoginModule required "
                f'username="{ADMIN_USER}" password="{admin}";'
            ),
            # the controller listener: only the broker (KRaft keeps SCRAM users in the metadata the controller serves)
            "sasl.mechanism.controller.protocol": "PLAIN",
            "listener.name.controller.sasl.enabled.mechanisms": "PLAIN",
            "listener.name.controller.plain.sasl.jaas.config": (
                "org.apache.kafka.common.security.plain.PlainLoginModule required "
                f'username="{_CONTROLLER_USER}" password="{controller}" user_{_CONTROLLER_USER}="{controller}";'
            ),
            "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            "super.users": f"User:{ADMIN_USER};User:{_CONTROLLER_USER}",
            "allow.everyone.if.no.acl.found": "false",
            "controller.quorum.voters": f"1@{self.host}:{self.controller_port}",
            "log.dirs": str(self.data_dir),
            "num.partitions": "3",
            "default.replication.factor": "1",
            "min.insync.replicas": "1",
            "auto.create.topics.enable": "true",
            "delete.topic.enable": "true",
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "10",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "transaction.state.log.num.partitions": "10",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            # after a crash (kill()) the restarted broker can only re-register once its previous
            # session has expired; keep that short for a local single-node broker
            "broker.session.timeout.ms": "3000",
            "broker.heartbeat.interval.ms": "500",
            "num.network.threads": "2",
            "num.io.threads": "4",
            "num.recovery.threads.per.data.dir": "1",
        }

    def _write_config(self) -> None:
        lines = ["# generated by devstack on every start; do not edit (holds passwords: mode 0600)"]
        lines += [f"{key}={value}" for key, value in self.server_properties().items()]
        fd = os.open(self.config_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write("\n".join(lines) + "\n")
        self.config_file.chmod(0o600)

    def _write_log4j_config(self) -> None:
        self.log4j_file.write_text(
            "\n".join(
                [
                    "# generated by devstack: broker logs go to a size-capped file",
                    "status = warn",
                    "shutdownHook = disable",
                    "name = devstack-kafka",
                    "appender.file.type = RollingFile",
                    "appender.file.name = FILE",
                    f"appender.file.fileName = {self.log_file}",
                    f"appender.file.filePattern = {self.log_file}.%i",
                    "appender.file.layout.type = PatternLayout",
                    "appender.file.layout.pattern = [%d] %p %m (%c)%n",
                    "appender.file.policies.type = Policies",
                    "appender.file.policies.size.type = SizeBasedTriggeringPolicy",
                    "appender.file.policies.size.size = 50MB",
                    "appender.file.strategy.type = DefaultRolloverStrategy",
                    "appender.file.strategy.max = 2",
                    "rootLogger.level = INFO",
                    "rootLogger.appenderRef.file.ref = FILE",
                    "logger.request.name = kafka.request.logger",
                    "logger.request.level = WARN",
                    "logger.statechange.name = state.change.logger",
                    "logger.statechange.level = WARN",
                    "",
                ]
            ),
            encoding="utf-8",
        )
