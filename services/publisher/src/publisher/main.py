"""Composition root: ``create_app(settings)`` builds the FastAPI app; the lifespan wires DS clients, ``Deps``, the
``publish.requested`` subscriber, the publish workers, the run reconciler, the restore reconciler (``restore``) and
the republish dispatcher (``republish``)."""

from __future__ import annotations

import logging

import httpx
from fastapi import FastAPI

from common.app import Wired, create_service_app
from common.dolphin.gateway import DolphinGatewayClient
from common.dolphin.rest import DolphinRestClient
from common.identity import trusted_keys_from
from common.runtime import Infra
from common.telemetry import register_secrets
from publisher import subscribers
from publisher.config import MIGRATIONS, Settings
from publisher.db.tables import audit_log, inbox_table, outbox_table
from publisher.deps import Deps, DsTarget, Retries
from publisher.republish import RepublishDispatcher
from publisher.restore import RestoreReconciler
from publisher.routes import router
from publisher.service import integration, publish_queue
from publisher.worker import PublishWorkers, RunReconciler


def ds_target(settings: Settings) -> DsTarget:
    return DsTarget(
        environment=settings.environment,
        project_name=settings.ds_project_name,
        user=settings.ds_user,
        tenant=settings.ds_tenant,
        worker_group=settings.ds_worker_group,
        links=settings.ds_links,
    )


def config_values(settings: Settings) -> dict[str, object]:
    """The ``workflow_integration_config`` row of this environment: references to the tokens, never the tokens."""
    return {
        "name": settings.environment,
        "project_name": settings.ds_project_name,
        "rest_base_url": settings.ds_rest_url,
        "gateway_host": settings.ds_gateway_host,
        "gateway_port": settings.ds_gateway_port,
        "ds_user": settings.ds_user,
        "tenant_code": settings.ds_tenant,
        "worker_group": settings.ds_worker_group,
        "rest_token_ref": settings.rest_token_ref(),
        "gateway_token_ref": settings.gateway_token_ref(),
    }


def dolphin_clients(settings: Settings) -> tuple[DolphinRestClient, DolphinGatewayClient]:
    rest_token, gateway_token = settings.rest_token(), settings.gateway_token()
    register_secrets([rest_token, gateway_token])
    rest = DolphinRestClient.create(
        settings.ds_rest_url, rest_token, timeout=httpx.Timeout(settings.ds_rest_timeout_s, connect=5.0)
    )
    gateway = DolphinGatewayClient(
        settings.ds_gateway_host, settings.ds_gateway_port, gateway_token, read_timeout=settings.ds_gateway_timeout_s
    )
    return rest, gateway


def create_app(settings: Settings) -> FastAPI:
    if settings.ds_user == "admin":
        logging.getLogger(__name__).warning(
            "PUBLISHER_DS_USER is DolphinScheduler's admin: give the platform a DS user of its own, limited to its "
            "project (docs/security.md)"
        )

    async def wire(infra: Infra) -> Wired:
        rest, gateway = dolphin_clients(settings)
        deps = Deps(
            sessions=infra.sessions,
            outbox=infra.outbox,
            gateway=gateway,
            rest=rest,
            target=ds_target(settings),
            lease_s=settings.publish_lease_s,
            run_reconcile_window_s=settings.run_reconcile_window_s,
            # a start call lasts at most the REST timeout: past it (and a margin) its process is gone
            run_stuck_after_s=settings.ds_rest_timeout_s + 30.0,
            instance_id=settings.instance_id,
            retries=Retries(
                ds_attempts=settings.ds_retry_attempts,
                ds_initial_s=settings.ds_retry_initial_s,
                ds_max_s=settings.ds_retry_max_s,
                finish_s=settings.finish_retry_s,
                restore_initial_s=settings.reconcile_backoff_initial_s,
                restore_max_s=settings.reconcile_backoff_max_s,
            ),
            approvals=trusted_keys_from(settings),
        )
        await integration.sync_integration_config(deps, config_values(settings))
        workers = PublishWorkers(
            deps, workers=settings.publish_workers, poll_interval_s=settings.publish_poll_interval_s
        )
        deps.wake = workers.wake
        reconciler = RunReconciler(deps, poll_interval_s=2.0, retention_s=settings.run_retention_s)
        deps.wake_reconciler = reconciler.wake
        subscribers.register_subscribers(infra, deps)
        # records this instance's previous process left running (it was killed mid-publish) are run again at once
        await publish_queue.release_own_claims(deps)
        workers.start()
        reconciler.start()
        restorer = RestoreReconciler(deps, interval_s=settings.reconcile_interval_s)
        restorer.start()
        republisher = RepublishDispatcher(deps, interval_s=settings.republish_interval_s)
        deps.wake_republish = republisher.wake
        republisher.start()

        async def cleanup() -> None:
            await republisher.stop()
            await restorer.stop()
            await reconciler.stop()
            await workers.stop()
            await rest.aclose()
            await gateway.aclose()

        return Wired(deps=deps, cleanup=cleanup)

    return create_service_app(
        title="publisher",
        settings=settings,
        migrations=MIGRATIONS,
        outbox_table=outbox_table,
        inbox_table=inbox_table,
        audit_table=audit_log,
        wire=wire,
        routers=[router],
    )
