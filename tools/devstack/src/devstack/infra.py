"""One call for scripts and benchmarks: the PostgreSQL superuser URL and Kafka bootstrap servers to use.

External services named by ``DATABASE_URL`` / ``KAFKA_BOOTSTRAP_SERVERS`` win; otherwise the local servers are
started if they are not running yet (and left running, like ``devstack up``). For the local Kafka, its
administrator's credentials are put into this process's environment (``KAFKA_SASL_USERNAME`` / ``_PASSWORD``), where
the platform's Kafka clients and the processes started from here find them.
"""

from __future__ import annotations

import os

from devstack.external import external_database_url, external_kafka_bootstrap, plain_pg_url


def ensure_infra() -> tuple[str, str]:
    """``(postgres superuser URL, kafka bootstrap servers)``, starting local servers when needed."""
    db = external_database_url()
    if db is None:
        from devstack.postgres import PostgresServer

        pg = PostgresServer()
        pg.start()
        db_url = pg.url
    else:
        db_url = plain_pg_url(db)
    kafka = external_kafka_bootstrap()
    if kafka is None:
        from devstack.kafka import KafkaServer

        k = KafkaServer()
        k.start()
        kafka = k.bootstrap_servers
        os.environ.update({key: v for key, v in k.client_env().items() if key != "KAFKA_BOOTSTRAP_SERVERS"})
    return db_url, kafka
