"""Start of the local identity provider (``devstack.keycloak``): what a test session or ``./platform up`` waits for.

One command: ``.venv/bin/python bench/bench_keycloak_start.py [--restarts N]``. On a server of its own (a fresh
state directory, free ports; the cached and built distribution, which the first run of anything fetches and builds):

* first start: the H2 database made and the realm imported;
* restart without the class-data archive (the baseline: what every start cost before the archive);
* restarts with the class-data archive the previous graceful stop wrote (what every later start costs).

Each figure: wall time until the realm's discovery document answers, the CPU time of the server's processes then
(the machine is shared: the CPU is the figure to compare), their resident memory, the load average; the ratio of
the archived restarts' median CPU to the baseline's.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import tempfile
import time
from pathlib import Path

import psutil

from devstack.keycloak import KeycloakServer
from devstack.keycloak.runtime import KEYCLOAK_VERSION, ensure_built, ensure_dist, find_java_home


def _free_port_pair() -> int:
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port: int = s.getsockname()[1]
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port


def _start(kc: KeycloakServer) -> dict[str, float]:
    began = time.monotonic()
    kc.start()
    wall = time.monotonic() - began
    pid = kc.pid()
    assert pid is not None
    root = psutil.Process(pid)
    procs = [root, *root.children(recursive=True)]
    cpu = sum(p.cpu_times().user + p.cpu_times().system for p in procs)
    rss = sum(p.memory_info().rss for p in procs) / 2**20
    kc.password_login("ada.admin")  # the realm answers a sign-in, not only the discovery document
    return {"wall_s": wall, "cpu_s": cpu, "rss_mb": rss, "load1": os.getloadavg()[0]}


def _line(name: str, m: dict[str, float]) -> str:
    return (
        f"{name:<34} wall {m['wall_s']:6.1f} s   CPU {m['cpu_s']:5.1f} s   RSS {m['rss_mb']:4.0f} MB"
        f"   load {m['load1']:.1f}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--restarts", type=int, default=3, help="restarts with the archive (default 3)")
    args = ap.parse_args()
    java = find_java_home()
    dist = ensure_dist()
    work = Path(tempfile.mkdtemp(prefix="bench-keycloak-", dir="/var/tmp"))
    kc = KeycloakServer(port=_free_port_pair(), work_dir=work / "keycloak")
    ensure_built(dist, java, kc._env(java))
    print(f"Keycloak {KEYCLOAK_VERSION} on {java}; {os.cpu_count()} CPUs; load {os.getloadavg()}")
    try:
        first = _start(kc)
        print(_line("first start (database + realm)", first))
        kc.stop()
        kc.cds_archive.unlink(missing_ok=True)
        baseline = _start(kc)
        print(_line("restart, no class-data archive", baseline))
        kc.stop()
        if not kc.cds_archive.is_file():
            raise SystemExit("the JVM wrote no class-data archive at its graceful stop")
        archived = []
        for i in range(args.restarts):
            archived.append(_start(kc))
            print(_line(f"restart {i + 1}, with the archive", archived[-1]))
            kc.stop()
        cpu = statistics.median(m["cpu_s"] for m in archived)
        wall = statistics.median(m["wall_s"] for m in archived)
        print(
            f"median restart with the archive: CPU {cpu:.1f} s = {cpu / baseline['cpu_s']:.2f}x the baseline's "
            f"{baseline['cpu_s']:.1f} s; wall {wall:.1f} s = {wall / baseline['wall_s']:.2f}x its "
            f"{baseline['wall_s']:.1f} s"
        )
    finally:
        kc.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
