"""A throw-away local PostgreSQL (>= 15) cluster for development and tests.

The cluster lives in ``<state dir>/pg`` (see :mod:`devstack.paths`).  PostgreSQL refuses to run as
root, so when we are root the server runs as the ``postgres`` OS user (or a ``devstack`` system user
created on demand) through ``runuser``/``setpriv``.
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import logging
import os
import re
import shutil
import signal
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

from devstack._proc import (
    DevstackError,
    OsUser,
    as_user_prefix,
    current_user,
    ensure_system_user,
    is_root,
    kill_tree,
    lookup_user,
    process_alive,
    process_cmdline,
    read_pid,
    require_free_port,
    run,
    tail,
    wait_gone,
)
from devstack.paths import DEFAULT_PG_PORT, HOST, env_port, state_dir

MIN_PG_MAJOR = 15
ADMIN_USER = "platform_admin"
DATABASE = "platform"
DEFAULT_PASSWORD = "platform_admin"  # noqa: S105 - local throw-away test cluster bound to 127.0.0.1
BOOTSTRAP_SUPERUSER = "postgres"
PORT_ENV = "DEVSTACK_PG_PORT"
_REQUIRED_BINARIES = ("initdb", "pg_ctl", "postgres", "psql")
_INIT_MARKER = "initdb.done"
log = logging.getLogger(__name__)

_TUNING = {
    "max_connections": "300",
    "shared_buffers": "256MB",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    # synchronous_commit=off acknowledges commits before their WAL is written, so a crash (kill())
    # loses the last ~3 x wal_writer_delay of commits; keep that window small.
    "wal_writer_delay": "10ms",
}


def _pg_major(bindir: Path) -> int | None:
    """Major version of the server binaries in ``bindir`` (None if unusable)."""
    if not all((bindir / name).is_file() for name in _REQUIRED_BINARIES):
        return None
    result = run([str(bindir / "postgres"), "--version"], check=False, timeout=30)
    match = re.search(r"\(PostgreSQL\)\s+(\d+)", result.stdout)
    return int(match.group(1)) if match else None


def _candidate_bindirs() -> list[Path]:
    candidates: list[Path] = []
    pg_config = shutil.which("pg_config")
    if pg_config is not None:
        result = run([pg_config, "--bindir"], check=False, timeout=30)
        if result.returncode == 0 and result.stdout.strip():
            candidates.append(Path(result.stdout.strip()))

    def version_key(path: str) -> int:
        match = re.search(r"(\d+)", Path(path).parent.name)
        return int(match.group(1)) if match else 0

    for pattern in ("/usr/lib/postgresql/*/bin", "/usr/pgsql-*/bin", "/usr/local/pgsql/bin"):
        candidates.extend(Path(p) for p in sorted(glob.glob(pattern), key=version_key, reverse=True))
    initdb = shutil.which("initdb")
    if initdb is not None:
        candidates.append(Path(initdb).resolve().parent)
    unique: list[Path] = []
    for cand in candidates:
        if cand not in unique:
            unique.append(cand)
    return unique


def _apt_install_postgresql() -> None:
    """Install the distribution's PostgreSQL server without creating/starting its default cluster."""
    apt_get = shutil.which("apt-get")
    if apt_get is None:
        raise DevstackError(
            "PostgreSQL >= 15 server binaries were not found and apt-get is not available to install them; "
            "install PostgreSQL 15+ or set DEVSTACK_PG_BINDIR / DATABASE_URL."
        )
    createcluster = Path("/etc/postgresql-common/createcluster.conf")
    if not createcluster.exists():
        # Keep the Debian package from creating (and trying to start) its own 'main' cluster.
        createcluster.parent.mkdir(parents=True, exist_ok=True)
        createcluster.write_text("create_main_cluster = false\n", encoding="utf-8")
    log.info("PostgreSQL >= %d not found; installing the distribution's postgresql package with apt-get", MIN_PG_MAJOR)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    run([apt_get, "update"], env=env, timeout=900)
    run([apt_get, "install", "-y", "--no-install-recommends", "postgresql"], env=env, timeout=1800)


def find_pg_bindir(*, allow_install: bool = True) -> Path:
    """Locate PostgreSQL >= 15 server binaries (installing them with apt-get when root)."""
    override = os.environ.get("DEVSTACK_PG_BINDIR")
    if override:
        path = Path(override)
        major = _pg_major(path)
        if major is None or major < MIN_PG_MAJOR:
            raise DevstackError(
                f"DEVSTACK_PG_BINDIR={override} does not contain PostgreSQL >= {MIN_PG_MAJOR} binaries "
                f"({', '.join(_REQUIRED_BINARIES)})"
            )
        return path
    best: tuple[int, Path] | None = None
    candidates = _candidate_bindirs()
    for cand in candidates:
        major = _pg_major(cand)
        if major is not None and major >= MIN_PG_MAJOR and (best is None or major > best[0]):
            best = (major, cand)
    if best is not None:
        return best[1]
    if allow_install and is_root():
        _apt_install_postgresql()
        return find_pg_bindir(allow_install=False)
    looked = ", ".join(str(c) for c in candidates) or "pg_config, /usr/lib/postgresql/*/bin, PATH"
    raise DevstackError(
        f"PostgreSQL >= {MIN_PG_MAJOR} server binaries not found (looked in: {looked}). "
        "Install them (e.g. `sudo apt-get install postgresql`), set DEVSTACK_PG_BINDIR to their bin "
        "directory, or set DATABASE_URL to use an existing server."
    )


def _sql_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _reachable_by(path: Path, user: OsUser) -> Path | None:
    """Return the first ancestor directory of ``path`` that ``user`` cannot traverse (None if all ok)."""
    for directory in reversed([path, *path.parents]):
        try:
            st = directory.stat()
        except FileNotFoundError:
            return None
        if user.uid == 0:
            continue
        if st.st_uid == user.uid:
            ok = bool(st.st_mode & stat.S_IXUSR)
        elif st.st_gid == user.gid:
            ok = bool(st.st_mode & stat.S_IXGRP)
        else:
            ok = bool(st.st_mode & stat.S_IXOTH)
        if not ok:
            return directory
    return None


class PostgresServer:
    """A local PostgreSQL cluster: ``start()`` is idempotent and survives stale pid files."""

    def __init__(
        self,
        *,
        port: int | None = None,
        work_dir: Path | None = None,
        password: str | None = None,
        bindir: Path | None = None,
    ) -> None:
        self.host = HOST
        self.port = port if port is not None else env_port(PORT_ENV, DEFAULT_PG_PORT)
        self.work_dir = work_dir if work_dir is not None else state_dir() / "pg"
        self.data_dir = self.work_dir / "data"
        self.socket_dir = self.work_dir / "run"
        self.log_file = self.work_dir / "postgres.log"
        self.user_name = ADMIN_USER
        self.database = DATABASE
        self.password = password or os.environ.get("DEVSTACK_PG_PASSWORD") or DEFAULT_PASSWORD
        self._bindir = bindir
        self._os_user: OsUser | None = None

    # ----------------------------------------------------------------- addresses
    @property
    def url(self) -> str:
        """Superuser URL, ``postgresql://user:pw@host:port/db``."""
        return (
            f"postgresql://{quote(self.user_name, safe='')}:{quote(self.password, safe='')}"
            f"@{self.host}:{self.port}/{self.database}"
        )

    @property
    def async_url(self) -> str:
        """SQLAlchemy URL with the asyncpg driver."""
        return self.url.replace("postgresql://", "postgresql+asyncpg://", 1)

    # ----------------------------------------------------------------- plumbing
    @property
    def bindir(self) -> Path:
        if self._bindir is None:
            self._bindir = find_pg_bindir()
        return self._bindir

    @property
    def os_user(self) -> OsUser:
        """The OS account the server runs as."""
        if self._os_user is None:
            if not is_root():
                self._os_user = current_user()
            else:
                self._os_user = lookup_user("postgres") or ensure_system_user("devstack")
        return self._os_user

    def _cmd(self, binary: str, *args: str) -> list[str]:
        return [*as_user_prefix(self.os_user), str(self.bindir / binary), *args]

    def _run_pg(
        self, binary: str, *args: str, input_text: str | None = None, timeout: float = 120.0
    ) -> subprocess.CompletedProcess[str]:
        return run(self._cmd(binary, *args), cwd=self.work_dir, input_text=input_text, timeout=timeout)

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        """Serialize start/stop between concurrent devstack invocations on this state dir."""
        lock_dir = self.work_dir.parent
        lock_dir.mkdir(parents=True, exist_ok=True)
        with (lock_dir / ".pg.lock").open("a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _chown(self, path: Path) -> None:
        if is_root() and self.os_user.uid != 0:
            os.chown(path, self.os_user.uid, self.os_user.gid)

    # ----------------------------------------------------------------- state
    def pid(self) -> int | None:
        """PID of the running postmaster, if any."""
        pid = read_pid(self.data_dir / "postmaster.pid")
        if pid is None or not process_alive(pid):
            return None
        cmdline = process_cmdline(pid)
        if cmdline and not any("postgres" in part or "postmaster" in part for part in cmdline[:1]):
            return None  # pid was reused by an unrelated process
        return pid

    def is_running(self) -> bool:
        return self.pid() is not None

    def _running_port(self) -> int | None:
        """TCP port recorded by the running postmaster (4th line of postmaster.pid)."""
        try:
            return int((self.data_dir / "postmaster.pid").read_text(encoding="utf-8").splitlines()[3])
        except (OSError, IndexError, ValueError):
            return None

    def is_ready(self) -> bool:
        """True when the server accepts connections on its TCP port."""
        if not self.is_running():
            return False
        pg_isready = self.bindir / "pg_isready"
        if pg_isready.is_file():
            result = run(
                [str(pg_isready), "-q", "-h", self.host, "-p", str(self.port), "-t", "2"],
                check=False,
                timeout=10,
            )
            return result.returncode == 0
        result = run(
            self._cmd(
                "psql",
                "-X",
                "-q",
                "-h",
                str(self.socket_dir),
                "-p",
                str(self.port),
                "-U",
                BOOTSTRAP_SUPERUSER,
                "-d",
                "postgres",
                "-c",
                "SELECT 1",
            ),
            check=False,
            timeout=10,
        )
        return result.returncode == 0

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.is_ready():
                return
            if not self.is_running():
                raise DevstackError(
                    f"PostgreSQL exited while starting; last lines of {self.log_file}:\n{tail(self.log_file)}"
                )
            time.sleep(0.2)
        raise DevstackError(
            f"PostgreSQL did not accept connections on {self.host}:{self.port} within {timeout:.0f}s; "
            f"see {self.log_file}:\n{tail(self.log_file)}"
        )

    # ----------------------------------------------------------------- lifecycle
    def start(self, timeout: float = 60.0) -> bool:
        """Start the cluster (initialising it on first use). Returns False if it was already running."""
        with self._lock():
            if self.is_running():
                running_port = self._running_port()
                if running_port is not None and running_port != self.port:
                    raise DevstackError(
                        f"PostgreSQL from {self.work_dir} is already running on port {running_port}, not "
                        f"{self.port}; stop it first (`devstack down --only pg`) or use {PORT_ENV}={running_port}"
                    )
                self.wait_ready(timeout)
                return False
            self._prepare_dirs()
            self._initdb_if_needed()
            self._write_config()
            self._remove_stale_files()
            require_free_port(self.host, self.port, "PostgreSQL", PORT_ENV)
            cmd = self._cmd(
                "pg_ctl",
                "-D",
                str(self.data_dir),
                "-l",
                str(self.log_file),
                "-w",
                "-t",
                str(int(timeout)),
                "-s",
                "start",
            )
            result = subprocess.run(
                cmd,
                cwd=self.work_dir,
                capture_output=True,
                text=True,
                check=False,
                timeout=timeout + 30,
                start_new_session=True,
                stdin=subprocess.DEVNULL,
            )
            if result.returncode != 0:
                raise DevstackError(
                    f"pg_ctl start failed (exit {result.returncode}): {(result.stdout + result.stderr).strip()}\n"
                    f"last lines of {self.log_file}:\n{tail(self.log_file)}"
                )
            self.wait_ready(timeout)
            self._bootstrap_roles()
            return True

    def stop(self, timeout: float = 60.0) -> bool:
        """Fast shutdown. Returns False if it was not running."""
        with self._lock():
            pid = self.pid()
            if pid is None:
                return False
            result = run(
                self._cmd(
                    "pg_ctl", "-D", str(self.data_dir), "-m", "fast", "-w", "-t", str(int(timeout)), "-s", "stop"
                ),
                cwd=self.work_dir,
                check=False,
                timeout=timeout + 30,
            )
            if result.returncode != 0 or not wait_gone(pid, 10):
                kill_tree(pid, signal.SIGKILL)
            return True

    def kill(self) -> bool:
        """Simulate a crash: SIGKILL the postmaster and all backends. Returns False if not running.

        The cluster runs with ``synchronous_commit=off``: transactions committed in the last few tens of
        milliseconds before the kill may be lost. Sessions that must survive a crash can
        ``SET synchronous_commit = on``.
        """
        pid = self.pid()
        if pid is None:
            return False
        kill_tree(pid, signal.SIGKILL)
        wait_gone(pid, 10)
        return True

    def restart(self, timeout: float = 60.0) -> None:
        self.stop(timeout)
        self.start(timeout)

    def purge(self) -> None:
        """Stop the server and delete its data directory."""
        self.stop()
        shutil.rmtree(self.work_dir, ignore_errors=True)

    # ----------------------------------------------------------------- internals
    def _prepare_dirs(self) -> None:
        self.work_dir.parent.mkdir(parents=True, exist_ok=True)
        if is_root():
            self.work_dir.parent.chmod(0o755)
        self.work_dir.mkdir(mode=0o700, exist_ok=True)
        self._chown(self.work_dir)
        blocked = _reachable_by(self.work_dir, self.os_user)
        if blocked is not None:
            raise DevstackError(
                f"PostgreSQL runs as OS user {self.os_user.name!r}, which cannot reach {self.work_dir} "
                f"({blocked} is not traversable). Set DEVSTACK_STATE_DIR to a directory under /var/tmp."
            )
        owner = self.work_dir.stat().st_uid
        if owner != self.os_user.uid:
            raise DevstackError(
                f"{self.work_dir} is owned by uid {owner}, but PostgreSQL runs as {self.os_user.name!r} "
                f"(uid {self.os_user.uid}); remove it or set DEVSTACK_STATE_DIR to another directory."
            )
        self.socket_dir.mkdir(mode=0o700, exist_ok=True)
        self._chown(self.socket_dir)

    def _initdb_if_needed(self) -> None:
        marker = self.work_dir / _INIT_MARKER
        if marker.exists() and (self.data_dir / "PG_VERSION").exists():
            existing = (self.data_dir / "PG_VERSION").read_text(encoding="utf-8").strip()
            major = _pg_major(self.bindir)
            if major is not None and existing != str(major):
                raise DevstackError(
                    f"the cluster in {self.data_dir} was created by PostgreSQL {existing}, but the binaries in "
                    f"{self.bindir} are version {major}. Run `devstack down --purge` to recreate it."
                )
            return
        if self.data_dir.exists():
            shutil.rmtree(self.data_dir)  # leftovers of an interrupted initdb
        self._run_pg(
            "initdb",
            "-D",
            str(self.data_dir),
            "-U",
            BOOTSTRAP_SUPERUSER,
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
            timeout=300,
        )
        conf = self.data_dir / "postgresql.conf"
        with conf.open("a", encoding="utf-8") as fh:
            fh.write("\n# settings managed by devstack\ninclude_if_exists = 'devstack.conf'\n")
        marker.write_text("ok\n", encoding="utf-8")
        self._chown(marker)

    def _write_config(self) -> None:
        settings = {
            "listen_addresses": f"'{self.host}'",
            "port": str(self.port),
            "unix_socket_directories": _sql_literal(str(self.socket_dir)),
            "unix_socket_permissions": "0700",
            **_TUNING,
        }
        conf = self.data_dir / "devstack.conf"
        conf.write_text(
            "# generated by devstack on every start; do not edit\n"
            + "".join(f"{key} = {value}\n" for key, value in settings.items()),
            encoding="utf-8",
        )
        self._chown(conf)

    def _remove_stale_files(self) -> None:
        """Remove pid/lock files left behind by a crashed server (the pid may have been reused)."""
        pid_file = self.data_dir / "postmaster.pid"
        if pid_file.exists() and self.pid() is None:
            pid_file.unlink()
        for lock in self.socket_dir.glob(".s.PGSQL.*.lock"):
            pid = read_pid(lock)
            cmdline = process_cmdline(pid) if pid is not None else []
            if pid is None or not process_alive(pid) or not any("postgres" in p for p in cmdline[:1]):
                lock.unlink(missing_ok=True)
                Path(str(lock)[: -len(".lock")]).unlink(missing_ok=True)

    def _bootstrap_roles(self) -> None:
        # Identifiers are module constants; the only variable input (password) is quoted as a literal.
        sql = f"""
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = {_sql_literal(self.user_name)}) THEN
    CREATE ROLE "{self.user_name}";
  END IF;
END
$$;
ALTER ROLE "{self.user_name}" WITH LOGIN SUPERUSER PASSWORD {_sql_literal(self.password)};
SELECT 'CREATE DATABASE "{self.database}" OWNER "{self.user_name}"'
WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = {_sql_literal(self.database)})\\gexec
"""  # noqa: S608
        self._run_pg(
            "psql",
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            str(self.socket_dir),
            "-p",
            str(self.port),
            "-U",
            BOOTSTRAP_SUPERUSER,
            "-d",
            "postgres",
            "-f",
            "-",
            input_text=sql,
        )
