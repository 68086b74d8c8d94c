"""What the local JVM servers started in the background (Kafka, Keycloak) share: a pid file holding the pid and the
port it was started on, a lock beside the work directory so that two processes never start or stop one server at
once, and a graceful stop (SIGTERM, SIGKILL after a timeout) or a crash (SIGKILL)."""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

from devstack._proc import DevstackError, kill_tree, process_alive, process_cmdline, read_pid, wait_gone
from devstack.paths import env_port


def port_pair(
    port: int | None, second: int | None, *, port_env: str, default: int, second_env: str, what: str
) -> tuple[int, int]:
    """A server's port and its second one (Kafka's controller, Keycloak's management interface): given, else from
    the environment, else the default and the next port; the two must differ."""
    main = port if port is not None else env_port(port_env, default)
    other = second if second is not None else env_port(second_env, main + 1 if main < 65535 else main - 1)
    if other == main:
        raise DevstackError(f"{what} ports must differ (both are {main}); set {second_env} to another port")
    return main, other


class PidFileServer:
    """The bookkeeping half of a local server; a subclass sets the attributes and says which command line is its."""

    #: the lock file's name beside the work directory: ``.<lock_name>.lock``
    lock_name: ClassVar[str] = ""
    work_dir: Path
    pid_file: Path
    _proc: subprocess.Popen[bytes] | None

    def _is_ours(self, cmdline: list[str]) -> bool:
        """Whether a live process with the recorded pid is this server (and not a reused pid)."""
        raise NotImplementedError

    def _signal_graceful(self, pid: int) -> None:
        os.kill(pid, signal.SIGTERM)

    def pid(self) -> int | None:
        """PID of this server, if it is running."""
        pid = read_pid(self.pid_file)
        if pid is None or not process_alive(pid):
            return None
        cmdline = process_cmdline(pid)
        if cmdline and not self._is_ours(cmdline):
            return None  # pid was reused by an unrelated process
        return pid

    def is_running(self) -> bool:
        return self.pid() is not None

    def _running_port(self) -> int | None:
        """The port recorded in the pid file by the process that started the server."""
        try:
            return int(self.pid_file.read_text(encoding="utf-8").splitlines()[1])
        except (OSError, IndexError, ValueError):
            return None

    def _record(self, pid: int, port: int) -> None:
        self.pid_file.write_text(f"{pid}\n{port}\n", encoding="utf-8")

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        self.work_dir.parent.mkdir(parents=True, exist_ok=True)
        with (self.work_dir.parent / f".{self.lock_name}.lock").open("a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def stop(self, timeout: float = 60.0) -> bool:
        """Graceful (SIGTERM) shutdown, keeping all data. Returns False if it was not running."""
        with self._lock():
            return self._terminate(graceful_timeout=timeout)

    def kill(self) -> bool:
        """Simulate a crash with SIGKILL. Returns False if it was not running."""
        with self._lock():
            return self._terminate(graceful_timeout=0)

    def purge(self) -> None:
        """Stop the server and delete all its data."""
        self.stop()
        shutil.rmtree(self.work_dir, ignore_errors=True)

    def _terminate(self, graceful_timeout: float) -> bool:
        pid = self.pid()
        if pid is None:
            self._reap()
            return False
        if graceful_timeout > 0:
            with contextlib.suppress(ProcessLookupError):
                self._signal_graceful(pid)
            if not wait_gone(pid, graceful_timeout):
                kill_tree(pid, signal.SIGKILL)
        else:
            kill_tree(pid, signal.SIGKILL)
        wait_gone(pid, 10)
        self._reap()
        self.pid_file.unlink(missing_ok=True)
        return True

    def _reap(self) -> None:
        if self._proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(timeout=10)
            self._proc = None
