"""The observability stack as ``./platform up`` runs it, on the running platform: Zipkin's server (the trace backend,
``devstack.observability.Zipkin``) receiving every service's spans, and Debian's Prometheus scraping every service
and loaded with ``deploy/prometheus/rules.yml`` as shipped (``devstack.observability.Prometheus``); the services as
OS processes (``devstack.stack``) on the session's PostgreSQL and Kafka, with a DS emulator of their own.

Only the intervals are short: scrapes and rule evaluation every second, each service's lag measured every second;
the rules themselves (thresholds, ``for:``) are the shipped ones. One stack serves the module (six services cost
~20 s of CPU to start); each test makes its own workflows.
"""

from __future__ import annotations

import contextlib
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from opentelemetry.instrumentation.utils import suppress_http_instrumentation

from devstack.observability import Prometheus, ScrapeTarget, Zipkin
from devstack.stack import QUICK_OUTBOX, SPECS, DsEndpoint, Stack, free_port, fresh_log_dir, merge_env
from ds_emulator import EmulatorProcess

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "observability"

#: every consuming service measures its groups' lag each second (the default is 15 s)
FAST_LAG = {name: {f"{spec.env_prefix}KAFKA_LAG_INTERVAL_S": "1"} for name, spec in SPECS.items()}


@dataclass
class ObservedStack:
    procs: Stack
    emulator: EmulatorProcess
    zipkin: Zipkin
    prometheus: Prometheus

    @contextlib.asynccontextmanager
    async def client(self) -> AsyncIterator[httpx.AsyncClient]:
        """The gateway's API as the bootstrap admin, called as a browser calls it: with no trace context. Other test
        modules set up tracing in this process (and httpx's instrumentation with it), which would send the test's
        own client span along as the parent of the gateway's request."""
        headers = {"Authorization": f"Bearer {self.procs.admin_token}"}
        with suppress_http_instrumentation():
            async with httpx.AsyncClient(base_url=self.procs.url("gateway"), headers=headers, timeout=30.0) as client:
                yield client


@pytest.fixture(scope="module")
def observed_stack(postgres_admin_url: str, kafka_bootstrap: str) -> Iterator[ObservedStack]:
    log_dir = fresh_log_dir(ARTIFACTS)
    shutil.rmtree(ARTIFACTS / "prometheus", ignore_errors=True)  # the series of an earlier run
    zipkin = Zipkin(free_port(), ARTIFACTS / "zipkin")
    zipkin.start()
    try:
        with EmulatorProcess(log_path=log_dir / "ds-emulator.log") as emulator:
            emulator.configure(submitDelaySeconds=0.1, dispatchDelaySeconds=0.1, taskDurationSeconds=0.3)
            env = {
                name: {
                    **FAST_LAG[name],
                    # as `platform up` sets them (devstack.platform.Observability)
                    f"{spec.env_prefix}OTEL_EXPORTER_ZIPKIN_ENDPOINT": zipkin.spans_endpoint,
                    f"{spec.env_prefix}OTEL_SAMPLING_RATIO": "1.0",
                }
                for name, spec in SPECS.items()
            }
            env["gateway"]["GATEWAY_TRACE_URL_TEMPLATE"] = zipkin.trace_url("{trace_id}")
            ds = DsEndpoint.of(emulator, f"obs-{uuid.uuid4().hex[:8]}")
            procs = Stack(postgres_admin_url, kafka_bootstrap, ds, log_dir, env=merge_env(QUICK_OUTBOX, env))
            with procs.started():
                targets = [
                    ScrapeTarget("platform", f"127.0.0.1:{procs.ports[name]}", {"service": name})
                    for name in procs.services
                ]
                prometheus = Prometheus(
                    targets,
                    port=free_port(),
                    directory=ARTIFACTS / "prometheus",
                    scrape_interval_s=1.0,
                    evaluation_interval_s=1.0,
                )
                prometheus.start()
                try:
                    yield ObservedStack(procs, emulator, zipkin, prometheus)
                finally:
                    prometheus.stop()
    finally:
        zipkin.stop()
