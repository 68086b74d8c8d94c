"""The local Kafka's pinned version, its generated configuration and a missing Java, without a broker."""

from __future__ import annotations

from pathlib import Path

import pytest

from devstack import DevstackError
from devstack.kafka import KafkaServer
from devstack.kafka_runtime import KAFKA_VERSION, find_java


def test_version_is_pinned_4x() -> None:
    assert KAFKA_VERSION.startswith("4.")


def test_server_properties(tmp_path: Path) -> None:
    props = KafkaServer(port=40000, controller_port=40001, work_dir=tmp_path).server_properties()
    assert props["process.roles"] == "broker,controller"
    assert props["node.id"] == "1"
    assert props["listeners"] == "BROKER://127.0.0.1:40000,CONTROLLER://127.0.0.1:40001"
    # every client authenticates (SCRAM) and is authorized by ACL; only the administrator is a super user
    assert props["listener.security.protocol.map"] == "BROKER:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT"
    assert props["sasl.enabled.mechanisms"] == "SCRAM-SHA-512"
    assert props["allow.everyone.if.no.acl.found"] == "false"
    assert props["super.users"] == "User:admin;User:controller"
    assert (tmp_path / "sasl-users.json").stat().st_mode & 0o077 == 0
    assert props["controller.quorum.voters"] == "1@127.0.0.1:40001"
    assert props["log.dirs"] == str(tmp_path / "data")
    assert props["offsets.topic.replication.factor"] == "1"
    assert props["transaction.state.log.replication.factor"] == "1"
    assert props["transaction.state.log.min.isr"] == "1"
    assert props["num.partitions"] == "3"
    assert props["auto.create.topics.enable"] == "true"
    assert props["group.initial.rebalance.delay.ms"] == "0"


def test_missing_java_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "no-jdk"))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(DevstackError, match=r"Java 17\+ is required.*JAVA_HOME"):
        find_java()


def test_a_bind_failure_is_seen_in_the_log_after_the_mark(tmp_path: Path) -> None:
    server = KafkaServer(port=40000, controller_port=40001, work_dir=tmp_path)
    server.log_file.write_text("[old] Address already in use\n")
    mark = server._log_mark()
    assert not server._port_was_taken(mark)  # only what the start after the mark wrote counts
    with server.log_file.open("a") as fh:
        fh.write("Socket server failed to bind to 127.0.0.1:40000: Address already in use.\n")
    assert server._port_was_taken(mark)


def test_a_bind_failure_is_seen_when_log4j_rolled_the_log_over(tmp_path: Path) -> None:
    server = KafkaServer(port=40000, controller_port=40001, work_dir=tmp_path)
    server.log_file.write_text("x" * 1000 + "\n")
    mark = server._log_mark()
    server.log_file.rename(server.log_file.with_name("server.log.1"))  # log4j's rollover at 50 MB
    server.log_file.write_text("Socket server failed to bind to 127.0.0.1:40000: Address already in use.\n")
    assert server._port_was_taken(mark)
    server.log_file.write_text("started\n")
    assert not server._port_was_taken(server._log_mark())
