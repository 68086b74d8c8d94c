"""Builds the emulator's Java gateway once with Maven into the cache directory (never into the source tree).

Cache: ``$DEVSTACK_CACHE_DIR/ds-emulator`` or ``<repo>/.cache/ds-emulator``; one sub-directory per hash of the
Java sources and pom, so an edit rebuilds and an unchanged tree reuses the build.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
from pathlib import Path

MAIN_CLASS = "dsemulator.EmulatorGateway"


def package_root() -> Path:
    """``tools/ds-emulator`` (the package is installed editable from the workspace)."""
    return Path(__file__).resolve().parents[2]


def java_source_dir() -> Path:
    return package_root() / "java"


def cache_root() -> Path:
    env = os.environ.get("DEVSTACK_CACHE_DIR")
    if env:
        return Path(env) / "ds-emulator"
    repo = package_root().parents[1]
    if (repo / "pyproject.toml").is_file():
        return repo / ".cache" / "ds-emulator"
    return Path.cwd() / ".cache" / "ds-emulator"


def fingerprint(source: Path) -> str:
    digest = hashlib.sha256()
    files = [source / "pom.xml", *sorted((source / "src").rglob("*.java"))]
    for path in files:
        digest.update(str(path.relative_to(source)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def classpath_of(build_dir: Path) -> str:
    jars = sorted(str(p) for p in (build_dir / "lib").glob("*.jar"))
    return os.pathsep.join([str(build_dir / "classes"), *jars])


def _is_built(build_dir: Path) -> bool:
    return (build_dir / "classes" / "dsemulator" / "EmulatorGateway.class").is_file() and any(
        (build_dir / "lib").glob("py4j-*.jar")
    )


def ensure_built(*, timeout: float = 600.0) -> str:
    """The Java classpath of the gateway, building it first when needed (serialised with a file lock)."""
    source = java_source_dir()
    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    build_dir = root / f"gateway-{fingerprint(source)}"
    if _is_built(build_dir):
        return classpath_of(build_dir)
    with open(root / "build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _is_built(build_dir):
            return classpath_of(build_dir)
        mvn = shutil.which("mvn")
        if mvn is None:
            raise RuntimeError("Maven (mvn) is needed to build the DS emulator gateway; install it or use no gateway")
        staging = root / f"{build_dir.name}.building"
        shutil.rmtree(staging, ignore_errors=True)
        result = subprocess.run(
            [
                mvn,
                "-q",
                "-B",
                "-f",
                str(source / "pom.xml"),
                f"-Dds.build.dir={staging}",
                "compile",
                "dependency:copy-dependencies",
            ],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"building the DS emulator gateway failed:\n{result.stdout[-4000:]}{result.stderr[-4000:]}"
            )
        shutil.rmtree(build_dir, ignore_errors=True)
        staging.rename(build_dir)
    return classpath_of(build_dir)
