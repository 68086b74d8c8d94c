"""Where the DolphinScheduler jars and H2 schema come from (the download cache, an official tarball, Maven
Central), tried in the order the package docstring lists, and which version is used.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

from devstack.dolphin.errors import DolphinUnavailableError
from devstack.paths import cache_dir

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
_COMPLETE_MARKER = ".complete"


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
