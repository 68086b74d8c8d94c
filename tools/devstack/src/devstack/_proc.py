"""Process, port and privilege helpers used by the launchers."""

from __future__ import annotations

import errno
import logging
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil

log = logging.getLogger(__name__)


class DevstackError(RuntimeError):
    """A local service could not be provisioned; the message says why and what to do."""


class PortBusyError(DevstackError):
    """A TCP port needed by a local service is taken by some other process."""


@dataclass(frozen=True)
class OsUser:
    """An OS account that server processes run as."""

    name: str
    uid: int
    gid: int


def is_root() -> bool:
    return os.geteuid() == 0


def current_user() -> OsUser:
    entry = pwd.getpwuid(os.geteuid())
    return OsUser(entry.pw_name, entry.pw_uid, entry.pw_gid)


def lookup_user(name: str) -> OsUser | None:
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        return None
    return OsUser(entry.pw_name, entry.pw_uid, entry.pw_gid)


def ensure_system_user(name: str) -> OsUser:
    """Return the OS user ``name``, creating it as a system account (root only) if missing."""
    existing = lookup_user(name)
    if existing is not None:
        return existing
    useradd = shutil.which("useradd") or "/usr/sbin/useradd"
    if not Path(useradd).exists():
        raise DevstackError(f"cannot create OS user {name!r}: useradd is not available")
    log.info("creating system user %r to run servers that refuse to run as root", name)
    nologin = "/usr/sbin/nologin" if Path("/usr/sbin/nologin").exists() else "/bin/false"
    run([useradd, "--system", "--user-group", "--no-create-home", "--shell", nologin, name])
    created = lookup_user(name)
    if created is None:
        raise DevstackError(f"useradd reported success but OS user {name!r} does not exist")
    return created


def as_user_prefix(user: OsUser) -> list[str]:
    """Command prefix that runs the following command as ``user`` (empty if that is us already)."""
    if user.uid == os.geteuid():
        return []
    if not is_root():
        raise DevstackError(f"cannot switch to OS user {user.name!r}: not running as root")
    runuser = shutil.which("runuser") or ("/usr/sbin/runuser" if Path("/usr/sbin/runuser").exists() else None)
    if runuser is not None:
        return [runuser, "-u", user.name, "--"]
    setpriv = shutil.which("setpriv")
    if setpriv is not None:
        return [setpriv, f"--reuid={user.uid}", f"--regid={user.gid}", "--init-groups", "--"]
    raise DevstackError("neither runuser nor setpriv is available to drop root privileges (install util-linux)")


def run(
    cmd: Sequence[str],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    input_text: str | None = None,
    timeout: float = 300.0,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run a command, capturing its output; raise DevstackError with the output on failure."""
    try:
        result = subprocess.run(
            list(cmd),
            cwd=cwd,
            env=dict(env) if env is not None else None,
            input=input_text,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError as exc:
        raise DevstackError(f"command not found: {cmd[0]} ({exc})") from exc
    except subprocess.TimeoutExpired as exc:
        raise DevstackError(f"command timed out after {timeout:.0f}s: {' '.join(cmd)}") from exc
    if check and result.returncode != 0:
        output = (result.stdout + result.stderr).strip()
        raise DevstackError(f"command failed with exit code {result.returncode}: {' '.join(cmd)}\n{output}")
    return result


def port_is_free(host: str, port: int) -> bool:
    """True when nothing listens on ``host:port`` (tested by binding like a server would)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


def port_accepts(host: str, port: int, timeout: float = 0.5) -> bool:
    """True when a TCP connection to ``host:port`` succeeds."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def ephemeral_port_range() -> tuple[int, int] | None:
    """The kernel's range of ports it hands to outgoing connections, when it says (Linux)."""
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text(encoding="ascii").split()
        return int(low), int(high)
    except (OSError, ValueError):
        return None


def port_has_listener(port: int) -> bool:
    """True when some socket listens on TCP ``port`` (a server, not a client's connection that happens to hold it)."""
    try:
        return any(
            c.laddr and c.laddr.port == port and c.status == psutil.CONN_LISTEN
            for c in psutil.net_connections(kind="tcp")
        )
    except psutil.Error:
        return True  # cannot tell: assume the worst (a real server), so nothing waits in vain


def in_ephemeral_range(port: int) -> bool:
    """True when ``port`` may be handed to an outgoing connection (then a restart may find it taken for a moment)."""
    span = ephemeral_port_range()
    return span is not None and span[0] <= port <= span[1]


#: how long a start waits for a port held only for a moment (see :func:`require_free_port`)
PORT_GRACE_S = 10.0


def require_free_port(
    host: str, port: int, service: str, env_var: str, *, grace_s: float = PORT_GRACE_S, poll_s: float = 0.2
) -> None:
    """Fail unless ``host:port`` is free, after waiting up to ``grace_s`` for a transient holder to go. A port in the
    kernel's ephemeral range (32768–60999 by default; the devstack defaults lie below it, ports chosen through the
    environment may not): while a service is down for a restart, a client retrying ``127.0.0.1:<port>`` can be given
    that very port as its own and connect to itself (TCP simultaneous open), which holds the port until the client
    drops the connection, usually within a second."""
    deadline = time.monotonic() + grace_s
    while not port_is_free(host, port):
        if time.monotonic() >= deadline:
            raise PortBusyError(
                f"cannot start {service}: TCP port {port} on {host} is already in use by another process. "
                f"Stop that process, or choose another port with {env_var}=<port>."
            )
        time.sleep(poll_s)


def process_alive(pid: int) -> bool:
    """True for a live (non-zombie) process."""
    try:
        status: str = psutil.Process(pid).status()
        return bool(status != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True


def process_cmdline(pid: int) -> list[str]:
    try:
        cmdline: list[str] = psutil.Process(pid).cmdline()
        return cmdline
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return []


def kill_tree(pid: int, sig: signal.Signals = signal.SIGKILL) -> None:
    """Send ``sig`` to a process and all its descendants."""
    try:
        parent = psutil.Process(pid)
    except psutil.NoSuchProcess:
        return
    try:
        procs = [parent, *parent.children(recursive=True)]
    except psutil.NoSuchProcess:
        procs = [parent]
    for proc in procs:
        try:
            proc.send_signal(sig)
        except psutil.NoSuchProcess:
            continue
    psutil.wait_procs(procs, timeout=10)


def wait_gone(pid: int, timeout: float) -> bool:
    """Wait until ``pid`` has exited; True if it did within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not process_alive(pid):
            return True
        time.sleep(0.1)
    return not process_alive(pid)


def tail(path: Path, lines: int = 30) -> str:
    """Last lines of a log file, for error messages."""
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 16384))
            data = fh.read().decode("utf-8", errors="replace")
    except OSError:
        return "(no log output)"
    return "\n".join(data.splitlines()[-lines:])


def read_pid(path: Path) -> int | None:
    try:
        first = path.read_text(encoding="utf-8").splitlines()[0].strip()
        return int(first)
    except (OSError, IndexError, ValueError):
        return None


def wait_http(url: str, what: str, timeout: float, pid: int | None = None, log: Path | None = None) -> None:
    """Wait until ``url`` answers 200; fail early when ``pid`` (the server's process) exits, with ``log``'s tail."""
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        if pid is not None and not process_alive(pid):
            raise DevstackError(f"{what} exited during start-up" + (f":\n{tail(log)}" if log else ""))
        try:
            r = httpx.get(url, timeout=2.0)
            if r.status_code == 200:
                return
            last = f"HTTP {r.status_code}: {r.text[:200]}"
        except httpx.HTTPError as exc:
            last = type(exc).__name__
        time.sleep(0.5)
    raise DevstackError(f"{what} not ready after {timeout:.0f}s ({last})" + (f":\n{tail(log)}" if log else ""))
