"""The Kafka runtime the local broker runs on: the official jars, fetched once from Maven Central with Maven (the
versions pinned in ``kafka-runtime-pom.xml``) into ``<cache dir>/kafka/<version>/libs``, and a Java 17+ to run them."""

from __future__ import annotations

import fcntl
import logging
import os
import re
import shutil
import time
import xml.etree.ElementTree as ET
from importlib import resources
from pathlib import Path

from devstack._proc import DevstackError, run
from devstack.paths import cache_dir

MIN_JAVA_MAJOR = 17
_POM_RESOURCE = "kafka-runtime-pom.xml"
_MAVEN_NS = "{http://maven.apache.org/POM/4.0.0}"
log = logging.getLogger(__name__)


def _pom_text() -> str:
    return resources.files("devstack").joinpath(_POM_RESOURCE).read_text(encoding="utf-8")


def kafka_version() -> str:
    """The pinned Kafka version (``kafka.version`` in the bundled pom)."""
    root = ET.fromstring(_pom_text())  # noqa: S314 - trusted file shipped with this package
    node = root.find(f"{_MAVEN_NS}properties/{_MAVEN_NS}kafka.version")
    if node is None or not (node.text or "").strip():
        raise DevstackError(f"{_POM_RESOURCE} does not define the kafka.version property")
    return (node.text or "").strip()


KAFKA_VERSION = kafka_version()


def find_java() -> Path:
    """Locate a Java >= 17 runtime ($JAVA_HOME first, then PATH)."""
    candidates: list[Path] = []
    java_home = os.environ.get("JAVA_HOME")
    if java_home:
        candidates.append(Path(java_home) / "bin" / "java")
    on_path = shutil.which("java")
    if on_path:
        candidates.append(Path(on_path))
    problems: list[str] = []
    for java in candidates:
        if not java.is_file():
            problems.append(f"{java} does not exist")
            continue
        result = run([str(java), "-version"], check=False, timeout=60)
        match = re.search(r'version "(\d+)(?:\.(\d+))?', result.stderr + result.stdout)
        if match is None:
            problems.append(f"{java}: cannot parse `java -version` output")
            continue
        major = int(match.group(1))
        if major == 1 and match.group(2):
            major = int(match.group(2))
        if major >= MIN_JAVA_MAJOR:
            return java
        problems.append(f"{java} is Java {major}")
    detail = f" ({'; '.join(problems)})" if problems else ""
    raise DevstackError(
        f"Java {MIN_JAVA_MAJOR}+ is required to run Kafka but was not found{detail}. Install a JDK/JRE "
        "(e.g. `apt-get install openjdk-17-jre-headless`) and put `java` on PATH or set JAVA_HOME, "
        "or set KAFKA_BOOTSTRAP_SERVERS to use an existing broker."
    )


def kafka_libs_dir(version: str = KAFKA_VERSION) -> Path:
    return cache_dir() / "kafka" / version / "libs"


def ensure_kafka_libs(version: str = KAFKA_VERSION) -> Path:
    """Download the Kafka runtime jars once (with Maven) and return the directory holding them."""
    libs = kafka_libs_dir(version)
    base = libs.parent
    marker = base / ".complete"
    if marker.exists() and libs.is_dir():
        return libs
    base.mkdir(parents=True, exist_ok=True)
    with (base / ".lock").open("a") as lock_fh:
        fcntl.flock(lock_fh, fcntl.LOCK_EX)
        try:
            if marker.exists() and libs.is_dir():
                return libs
            mvn = shutil.which("mvn")
            if mvn is None:
                raise DevstackError(
                    f"Maven (`mvn`) is needed once to download the Kafka {version} jars from Maven Central "
                    f"into {libs}. Install it (e.g. `apt-get install maven`), or set KAFKA_BOOTSTRAP_SERVERS "
                    "to use an existing broker."
                )
            log.info("downloading the Kafka %s jars from Maven Central into %s (one-time)", version, libs)
            started = time.monotonic()
            pom = base / "pom.xml"
            pom.write_text(_pom_text(), encoding="utf-8")
            staging = base / "libs.partial"
            shutil.rmtree(staging, ignore_errors=True)
            env = dict(os.environ)
            java = find_java()
            env.setdefault("JAVA_HOME", str(java.resolve().parent.parent))
            result = run(
                [
                    mvn,
                    "-q",
                    "-B",
                    "-f",
                    str(pom),
                    "dependency:copy-dependencies",
                    f"-DoutputDirectory={staging}",
                    "-DincludeScope=runtime",
                    f"-Dkafka.version={version}",
                ],
                cwd=base,
                env=env,
                check=False,
                timeout=1800,
            )
            if result.returncode != 0:
                raise DevstackError(
                    f"downloading the Kafka {version} jars with Maven failed (exit {result.returncode}); "
                    f"is Maven Central reachable?\n{(result.stdout + result.stderr).strip()[-4000:]}"
                )
            if not (staging / f"kafka_2.13-{version}.jar").is_file():
                raise DevstackError(f"Maven finished but {staging} does not contain kafka_2.13-{version}.jar")
            shutil.rmtree(libs, ignore_errors=True)
            staging.rename(libs)
            marker.write_text(f"{version}\n", encoding="utf-8")
            log.info("downloaded the Kafka %s jars in %.0fs", version, time.monotonic() - started)
            return libs
        finally:
            fcntl.flock(lock_fh, fcntl.LOCK_UN)
