"""Local infrastructure for development and tests: PostgreSQL 15+ and Kafka (KRaft).

Use the ``devstack`` CLI (``devstack up|down|status|env``), the pytest fixtures in
:mod:`devstack.pytest_plugin`, or the server classes directly::

    from devstack.postgres import PostgresServer
    from devstack.kafka import KafkaServer
"""

from devstack._proc import DevstackError, PortBusyError

__all__ = ["DevstackError", "PortBusyError"]
