"""Fetch DolphinScheduler's released jars from Maven Central, build the Java harness, and read facts from the jars.

- **Artifacts**: ``dolphinscheduler-api``, ``-common`` and ``-dao`` of each checked DS version (and
  ``dolphinscheduler-master`` where Central serves it, 3.4.2 only: its bytecode is read, never loaded), plus the few
  third-party jars the harness needs to load DS's classes (Jackson for ``JSONUtils`` and the entities, slf4j, Guava,
  commons-lang3, commons-collections4). ``dolphinscheduler-bom`` is not served, so the third-party versions are
  written here; they are the ones pinned in each DS jar's ``META-INF/DEPENDENCIES`` (a test compares them). Every
  file is checked against a SHA-256 pinned here (for DS versions not pinned yet, against the ``.sha1`` Central
  serves) before it is used.
- **Cache**: ``$DEVSTACK_CACHE_DIR/ds-conformance`` or ``<repo>/.cache/ds-conformance`` (git-ignored), in Maven's
  layout under ``repo/``. A file already in the cache or in the local Maven repository (``~/.m2``) with the pinned
  hash is not downloaded again. Downloads run in parallel, each retried with backoff; a partial file never lands in
  the cache (written to a temporary name, renamed when its hash is right).
- **Harness**: the Java sources in ``java/src`` plus the stand-ins in ``java/standins`` (classes of DS modules
  Central does not serve), compiled with ``javac`` against the jars into ``harness-<fingerprint>`` (hash of the
  sources and the jars' hashes), so an edit rebuilds and an unchanged tree reuses the build.

``DS_CONFORMANCE_MAVEN_URL`` names another Maven repository (a mirror); ``DS_CONFORMANCE_VERSIONS`` (comma
separated, default ``3.4.2,3.4.3``) the DS versions to check.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
JAVA_DIR = HERE / "java"
REPO_ROOT = HERE.parents[2]

CENTRAL = "https://repo1.maven.org/maven2"
DEFAULT_VERSIONS = ("3.4.2", "3.4.3")
DS_GROUP = "org.apache.dolphinscheduler"
DS_MODULES = ("dolphinscheduler-api", "dolphinscheduler-common", "dolphinscheduler-dao")

#: sha256 of each DS jar, by (artifact, version): what Maven Central served when they were pinned
DS_SHA256: Mapping[tuple[str, str], str] = {
    ("dolphinscheduler-api", "3.4.2"): "76a458a6747db5b768dd73bf2c2b8e17236e4015f42639f348c80893ed888a69",
    ("dolphinscheduler-common", "3.4.2"): "2227f01923d991ade6ce23451662c61fa24d659061dc552e8577fa90618acd60",
    ("dolphinscheduler-dao", "3.4.2"): "ed411d207325c282b3dd23120394e60ffb9f325ae9632d49da652e7776b0b6ca",
    ("dolphinscheduler-api", "3.4.3"): "0f3b58ccae0be58eafd46b8ce1588388e9509c763d9901f2f6dca3fa53f945a9",
    ("dolphinscheduler-common", "3.4.3"): "4db969de767fc6e25012d2341809e62ec19fe3ba78a379b6101dc21fa5ed571f",
    ("dolphinscheduler-dao", "3.4.3"): "75a67797caa40a2f4e8dd37348437964e2f5706874ff22e4c2c06219851d4ae8",
}

#: ``dolphinscheduler-master`` holds the DEPENDENT task's runtime (``DependentLogicTask``, ``DependentExecute``): what
#: it uses of task-api's dependent classes (not served) is read from its bytecode. Central serves it at 3.4.2 only
#: (3.4.3: 404), so a version without a pinned hash here has no master facts.
DS_MASTER = "dolphinscheduler-master"
DS_MASTER_SHA256: Mapping[str, str] = {
    "3.4.2": "7606f9c43f04bd44d3271d1bb60a724d2325e29704e9d2740a996605e3bf5e66",
}


@dataclass(frozen=True)
class Artifact:
    group: str
    artifact: str
    version: str
    sha256: str | None = None

    @property
    def coordinate(self) -> str:
        return f"{self.group}:{self.artifact}:{self.version}"

    @property
    def relative_path(self) -> str:
        return f"{self.group.replace('.', '/')}/{self.artifact}/{self.version}/{self.artifact}-{self.version}.jar"


#: The third-party jars the harness loads DS's classes with, at the versions DS 3.4.2/3.4.3 pin in
#: ``META-INF/DEPENDENCIES`` (``test_third_party_versions_are_the_pinned_ones`` compares them).
THIRD_PARTY: tuple[Artifact, ...] = (
    Artifact("com.fasterxml.jackson.core", "jackson-databind", "2.13.4",
             "c9faff420d9e2c7e1e4711dbeebec2506a32c9942027211c5c293d8d87807eb6"),
    Artifact("com.fasterxml.jackson.core", "jackson-core", "2.13.4",
             "4c2e043200edd9ee7ba6fc378bd5c17784a5bf2388e152d208068b51fd0839cf"),
    Artifact("com.fasterxml.jackson.core", "jackson-annotations", "2.13.4",
             "ac5b27a634942391ca113850ee7db01df1499a240174021263501c05fc653b44"),
    Artifact("com.fasterxml.jackson.datatype", "jackson-datatype-jsr310", "2.13.4",
             "5ad75d210bacc17271925da28e1f393aaf8c83f6c92fbe5b2ed61954b84decf7"),
    Artifact("org.slf4j", "slf4j-api", "1.7.36",
             "d3ef575e3e4979678dc01bf1dcce51021493b4d11fb7f1be8ad982877c16a1c0"),
    Artifact("com.google.guava", "guava", "31.1-jre",
             "a42edc9cab792e39fe39bb94f3fca655ed157ff87a8af78e1d6ba5b07c4a00ab"),
    Artifact("org.apache.commons", "commons-lang3", "3.17.0",
             "6ee731df5c8e5a2976a1ca023b6bb320ea8d3539fbe64c8a1d5cb765127c33b4"),
    Artifact("org.apache.commons", "commons-collections4", "4.5.0",
             "00f93263c267be201b8ae521b44a7137271b16688435340bf629db1bac0a5845"),
)  # fmt: skip


class HarnessError(RuntimeError):
    """The jars could not be fetched, or the harness could not be built or run; the message says what to do."""


def versions() -> list[str]:
    raw = os.environ.get("DS_CONFORMANCE_VERSIONS", "")
    chosen = [v.strip() for v in raw.split(",") if v.strip()]
    return chosen or list(DEFAULT_VERSIONS)


def ds_artifacts(version: str) -> list[Artifact]:
    return [Artifact(DS_GROUP, name, version, DS_SHA256.get((name, version))) for name in DS_MODULES]


def cache_root() -> Path:
    env = os.environ.get("DEVSTACK_CACHE_DIR")
    return Path(env) / "ds-conformance" if env else REPO_ROOT / ".cache" / "ds-conformance"


# ---------------------------------------------------------------------------------------------------------------
# Fetching


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _good(path: Path, artifact: Artifact) -> bool:
    return path.is_file() and (artifact.sha256 is None or _sha256(path) == artifact.sha256)


class Fetcher:
    """Gets artifacts into the cache: cache, then the local Maven repository, then ``base_url`` over HTTPS."""

    def __init__(
        self,
        root: Path,
        *,
        base_url: str | None = None,
        local_repo: Path | None = None,
        attempts: int = 4,
        backoff_s: float = 1.0,
        timeout_s: float = 60.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        """``transport``: for tests, an ``httpx`` transport instead of the network."""
        self.transport = transport
        self.root = root
        self.base_url = (base_url or os.environ.get("DS_CONFORMANCE_MAVEN_URL") or CENTRAL).rstrip("/")
        self.local_repo = local_repo if local_repo is not None else Path.home() / ".m2" / "repository"
        self.attempts = attempts
        self.backoff_s = backoff_s
        self.timeout_s = timeout_s

    def path_of(self, artifact: Artifact) -> Path:
        return self.root / "repo" / artifact.relative_path

    def fetch_all(self, artifacts: Sequence[Artifact]) -> list[Path]:
        """Every artifact's cached path (in order), fetching the missing ones in parallel."""
        missing = [a for a in artifacts if not self._cached(a)]
        if missing:
            with (
                httpx.Client(timeout=self.timeout_s, follow_redirects=True, transport=self.transport) as client,
                ThreadPoolExecutor(max_workers=min(8, len(missing))) as pool,
            ):
                errors = [e for e in pool.map(lambda a: self._fetch_one(client, a), missing) if e is not None]
            if errors:
                raise HarnessError(
                    "could not fetch from "
                    + self.base_url
                    + " (set DS_CONFORMANCE_MAVEN_URL for a mirror, DS_CONFORMANCE_VERSIONS to check other DS "
                    "versions):\n  " + "\n  ".join(errors)
                )
        return [self.path_of(a) for a in artifacts]

    def _cached(self, artifact: Artifact) -> bool:
        target = self.path_of(artifact)
        if target.is_file() and (artifact.sha256 is None or target.with_suffix(".jar.ok").is_file()):
            return True
        local = self.local_repo / artifact.relative_path
        if artifact.sha256 is not None and _good(local, artifact):
            self._store(local.read_bytes(), artifact)
            return True
        return False

    def _store(self, content: bytes, artifact: Artifact) -> None:
        target = self.path_of(artifact)
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=target.parent, prefix=target.name, suffix=".part", delete=False) as tmp:
            tmp.write(content)
        os.replace(tmp.name, target)
        # the marker says "this file's hash was checked": a later run does not hash ~6 MB again
        target.with_suffix(".jar.ok").write_text(hashlib.sha256(content).hexdigest() + "\n")

    def _fetch_one(self, client: httpx.Client, artifact: Artifact) -> str | None:
        """Download, verify and store one artifact; the reason when it cannot."""
        url = f"{self.base_url}/{artifact.relative_path}"
        last = ""
        for attempt in range(1, self.attempts + 1):
            try:
                response = client.get(url)
                if response.status_code == 404:
                    return f"{artifact.coordinate}: not served ({url} answered 404)"
                response.raise_for_status()
                content = response.content
                problem = self._verify(client, artifact, url, content)
                if problem is None:
                    self._store(content, artifact)
                    return None
                last = problem
            except httpx.HTTPError as exc:
                last = f"{type(exc).__name__}: {exc}"
            if attempt < self.attempts:
                time.sleep(self.backoff_s * 2 ** (attempt - 1))
        return f"{artifact.coordinate}: {last} (after {self.attempts} attempts)"

    def _verify(self, client: httpx.Client, artifact: Artifact, url: str, content: bytes) -> str | None:
        if artifact.sha256 is not None:
            got = hashlib.sha256(content).hexdigest()
            return None if got == artifact.sha256 else f"sha256 {got} is not the pinned {artifact.sha256}"
        answer = client.get(url + ".sha1")
        answer.raise_for_status()
        expected = answer.text.split()[0].strip().lower() if answer.text.strip() else ""
        got = hashlib.sha1(content, usedforsecurity=False).hexdigest()
        return None if got == expected else f"sha1 {got} is not the {expected!r} the repository lists"


# ---------------------------------------------------------------------------------------------------------------
# Building and running the harness


def _javac() -> tuple[str, str]:
    home = os.environ.get("JAVA_HOME")
    candidates = [Path(home) / "bin" / "javac"] if home else []
    found = shutil.which("javac")
    if found:
        candidates.append(Path(found))
    for javac in candidates:
        if javac.is_file():
            java = javac.with_name("java")
            return str(javac), str(java if java.is_file() else "java")
    raise HarnessError("a JDK (javac, 17 or newer) is needed to build the DS conformance harness; install one")


def _sources() -> list[Path]:
    return sorted(JAVA_DIR.rglob("*.java"))


def fingerprint(jars: Iterable[Path]) -> str:
    digest = hashlib.sha256()
    for source in _sources():
        digest.update(str(source.relative_to(JAVA_DIR)).encode())
        digest.update(source.read_bytes())
    for jar in jars:
        marker = jar.with_suffix(".jar.ok")
        digest.update((marker.read_text() if marker.is_file() else _sha256(jar)).encode())
    return digest.hexdigest()[:16]


def build(root: Path, jars: Sequence[Path]) -> Path:
    """The compiled harness (classes directory) for these jars, compiling it when needed."""
    build_dir = root / f"harness-{fingerprint(jars)}"
    done = build_dir / ".built"
    if done.is_file():
        return build_dir
    root.mkdir(parents=True, exist_ok=True)
    with open(root / "build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if done.is_file():
            return build_dir
        javac, _ = _javac()
        staging = root / f"{build_dir.name}.building"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        result = subprocess.run(
            [javac, "-nowarn", "--release", "17", "-encoding", "UTF-8", "-d", str(staging),
             "-cp", os.pathsep.join(map(str, jars)), *map(str, _sources())],
            capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        if result.returncode != 0:
            raise HarnessError(f"compiling the DS conformance harness failed:\n{result.stdout}{result.stderr}")
        (staging / ".built").write_text("ok\n")
        shutil.rmtree(build_dir, ignore_errors=True)
        staging.rename(build_dir)
    return build_dir


@dataclass(frozen=True)
class Jars:
    version: str
    ds: list[Path]
    third_party: list[Path]
    #: ``dolphinscheduler-master`` of this version, when Central serves it (read as bytecode, not on the class path)
    master: Path | None = None

    @property
    def all(self) -> list[Path]:
        return [*self.ds, *self.third_party]


def fetch(version: str, *, root: Path | None = None, fetcher: Fetcher | None = None) -> Jars:
    root = root or cache_root()
    fetcher = fetcher or Fetcher(root)
    ds = ds_artifacts(version)
    master_sha = DS_MASTER_SHA256.get(version)
    master = [Artifact(DS_GROUP, DS_MASTER, version, master_sha)] if master_sha is not None else []
    paths = fetcher.fetch_all([*ds, *THIRD_PARTY, *master])
    n = len(ds) + len(THIRD_PARTY)
    return Jars(version, paths[: len(ds)], paths[len(ds) : n], paths[n] if master else None)


def run(jars: Jars, request: Mapping[str, Any], *, root: Path | None = None) -> dict[str, Any]:
    """Run the harness on ``request`` (its ``jars`` are filled in here); returns its answer."""
    root = root or cache_root()
    classes = build(root, jars.all)
    _, java = _javac()
    with tempfile.TemporaryDirectory(prefix="ds-conformance-") as tmp:
        request_path, answer_path = Path(tmp) / "request.json", Path(tmp) / "answer.json"
        master = [str(jars.master)] if jars.master is not None else []
        request_path.write_text(json.dumps({**request, "jars": [str(p) for p in jars.ds], "masterJars": master}))
        classpath = os.pathsep.join([str(classes), *map(str, jars.all)])
        # DS runs in UTC (docs/dolphin-standalone.md): JSONUtils formats dates in the JVM's zone
        command = [java, "-Duser.timezone=UTC", "-cp", classpath, "dsconformance.Harness"]
        result = subprocess.run(
            [*command, str(request_path), str(answer_path)],
            capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        if result.returncode != 0 or not answer_path.is_file():
            raise HarnessError(f"the DS conformance harness failed ({result.returncode}):\n{result.stderr[-6000:]}")
        answer: dict[str, Any] = json.loads(answer_path.read_text())
    return answer


def pinned_dependencies(jar: Path) -> dict[str, str]:
    """``group:artifact`` -> version from a DS jar's ``META-INF/DEPENDENCIES``."""
    with zipfile.ZipFile(jar) as z:
        text = z.read("META-INF/DEPENDENCIES").decode("utf-8", "replace")
    out: dict[str, str] = {}
    for line in text.splitlines():
        token = line.strip().rsplit(" ", 1)[-1]
        parts = token.split(":")
        if line.strip().startswith("- ") and len(parts) == 4:
            group, artifact, _kind, version = parts
            out[f"{group}:{artifact}"] = version
    return out
