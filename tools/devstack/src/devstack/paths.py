"""Locations and settings shared by the devstack launchers.

Everything can be overridden through environment variables so that CI and developers
can run several checkouts side by side:

* ``DEVSTACK_STATE_DIR``  – where server data, logs and pid files live
  (default ``/var/tmp/devstack-<repo-hash>`` for root, ``/var/tmp/devstack-<repo-hash>-<user>`` otherwise;
  ``/var/tmp`` is used because an unprivileged PostgreSQL user must be able to reach it).
* ``DEVSTACK_CACHE_DIR``  – download cache (default ``<repo>/.cache``, which is git-ignored).
* ``DEVSTACK_PG_PORT`` / ``DEVSTACK_KAFKA_PORT`` / ``DEVSTACK_KAFKA_CONTROLLER_PORT`` – TCP ports.
"""

from __future__ import annotations

import getpass
import hashlib
import os
import tomllib
from pathlib import Path

from devstack._proc import DevstackError

# Below Linux's ephemeral port range (32768-60999 by default): a port in that range can be taken by a client's own
# outgoing connection while the server is down for a restart (see ``_proc.require_free_port``).
DEFAULT_PG_PORT = 15432
DEFAULT_KAFKA_PORT = 19092
HOST = "127.0.0.1"


def _is_workspace_root(candidate: Path) -> bool:
    pyproject = candidate / "pyproject.toml"
    if not pyproject.is_file():
        return False
    try:
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return False
    tool = data.get("tool", {})
    return isinstance(tool, dict) and "workspace" in tool.get("uv", {})


def repo_root() -> Path:
    """The uv workspace root this package belongs to (falls back to the current directory)."""
    here = Path(__file__).resolve()
    for candidate in here.parents:
        if _is_workspace_root(candidate):
            return candidate
    cwd = Path.cwd().resolve()
    for candidate in (cwd, *cwd.parents):
        if _is_workspace_root(candidate):
            return candidate
    return cwd


def _repo_hash() -> str:
    return hashlib.sha256(str(repo_root()).encode()).hexdigest()[:10]


def state_dir() -> Path:
    """Directory holding data, logs and pid files of the local servers."""
    override = os.environ.get("DEVSTACK_STATE_DIR")
    if override:
        return Path(override).expanduser().resolve()
    # /var/tmp (not /tmp, not the repo): persistent, and reachable by the unprivileged PostgreSQL user.
    base = Path("/var/tmp")  # noqa: S108 - per-repo/per-user subdirectory, see module docstring
    if os.geteuid() == 0:
        return base / f"devstack-{_repo_hash()}"
    return base / f"devstack-{_repo_hash()}-{getpass.getuser()}"


def cache_dir() -> Path:
    """Download cache (Kafka jars)."""
    override = os.environ.get("DEVSTACK_CACHE_DIR")
    if override:
        return Path(override).expanduser().resolve()
    return repo_root() / ".cache"


def env_port(name: str, default: int) -> int:
    """Read a TCP port from the environment variable ``name``."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        port = int(raw)
    except ValueError:
        raise DevstackError(f"{name}={raw!r} is not a valid TCP port number") from None
    if not 1 <= port <= 65535:
        raise DevstackError(f"{name}={port} is outside the TCP port range 1-65535")
    return port
