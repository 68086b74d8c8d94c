"""Plain rules: roles, key material, links, audit resources, request ids."""

from __future__ import annotations

import hashlib

import pytest
from pydantic import ValidationError
from starlette.datastructures import Headers

from gateway.audit import request_id_from
from gateway.config import Settings
from gateway.domain.keys import from_secret, hash_key, new_key, plausible
from gateway.domain.links import (
    audit_resource,
    trace_link,
    with_run_trace_links,
    with_trace_links,
    workflow_link,
)
from gateway.domain.roles import ALL_ROLES, Role, grants, parse_roles


@pytest.mark.parametrize("needed", ALL_ROLES)
def test_admin_implies_every_role(needed: Role) -> None:
    assert grants(["admin"], needed)


@pytest.mark.parametrize(
    ("held", "needed", "ok"),
    [
        (["viewer"], Role.VIEWER, True),
        (["viewer"], Role.EDITOR, False),
        (["editor"], Role.VIEWER, True),  # every role reads
        (["editor"], Role.APPROVER, False),
        (["approver"], Role.PUBLISHER, False),
        (["publisher"], Role.PUBLISHER, True),
        (["publisher"], Role.ADMIN, False),
        (["editor", "publisher"], Role.PUBLISHER, True),
        ([], Role.VIEWER, False),
        (["unknown"], Role.VIEWER, False),
    ],
)
def test_grants(held: list[str], needed: Role, ok: bool) -> None:
    assert grants(held, needed) is ok


def test_parse_roles() -> None:
    assert parse_roles([" Editor", "approver", "editor", ""]) == [Role.EDITOR, Role.APPROVER]
    with pytest.raises(ValueError, match="unknown role 'root'"):
        parse_roles(["root"])
    with pytest.raises(ValueError, match="at least one role"):
        parse_roles(["", " "])


def test_key_material() -> None:
    a, b = new_key(), new_key()
    assert a.secret != b.secret
    assert len(a.secret) >= 40
    assert a.prefix == a.secret[:8]
    assert a.digest == hashlib.sha256(a.secret.encode()).hexdigest() == hash_key(a.secret)
    assert from_secret(a.secret) == a
    assert plausible(a.secret)
    assert not plausible("")
    assert not plausible("a b")
    assert not plausible("x" * 257)
    assert not plausible("tab\there")


def test_links() -> None:
    assert workflow_link(7) == "/workflows/7"
    assert workflow_link(None) is None


def test_ds_links_follow_the_configured_ds_version() -> None:
    settings = Settings(ds_ui_url="http://ds/ui/", ds_version="3.3.2")
    assert settings.ds_version == "3.3"
    assert settings.ds_links.task(11, 22, 33) == "http://ds/ui/projects/11/task/instances?taskCode=33"
    assert Settings().ds_links.workflow_definition(11, 22) is None  # no DS UI configured: no links
    with pytest.raises(ValidationError, match="ds_version"):
        Settings(ds_version="3.2")


def test_trace_links_of_publish_records() -> None:
    tid = "4bf92f3577b34da6a3ce929d0e0e4736"
    zipkin = "http://127.0.0.1:9411/zipkin/traces/{trace_id}"
    assert trace_link(zipkin, tid) == f"http://127.0.0.1:9411/zipkin/traces/{tid}"
    assert trace_link("http://jaeger:16686/trace/{trace_id}", tid) == f"http://jaeger:16686/trace/{tid}"
    assert trace_link("", tid) is None
    assert trace_link(zipkin, None) is None
    assert trace_link(zipkin, "not-a-trace-id") is None
    assert trace_link(zipkin, tid.upper()) is None
    page = with_trace_links(zipkin, {"items": [{"id": 1, "trace_id": tid}, {"id": 2, "trace_id": None}], "total": 2})
    assert [r["trace_link"] for r in page["items"]] == [f"http://127.0.0.1:9411/zipkin/traces/{tid}", None]


def test_trace_links_of_runs_started_by_the_platform() -> None:
    tid = "4bf92f3577b34da6a3ce929d0e0e4736"
    zipkin = "http://127.0.0.1:9411/zipkin/traces/{trace_id}"
    runs = {
        "items": [
            {"run_id": 2, "instance_ids": [501, 502], "trace_id": tid},  # a backfill: two instances, one request
            {"run_id": 1, "instance_ids": [400], "trace_id": None},  # its trace was not recorded
        ]
    }
    part = {"tracked": True, "executions": [{"instance_id": i} for i in (502, 501, 450, 400)]}
    linked = with_run_trace_links(zipkin, part, runs)
    link = f"http://127.0.0.1:9411/zipkin/traces/{tid}"
    assert [e["trace_link"] for e in linked["executions"]] == [link] * 2 + [None, None]
    # 450: started by DS's schedule; without a trace UI no links at all
    assert [e["trace_link"] for e in with_run_trace_links("", part, runs)["executions"]] == [None] * 4
    assert with_run_trace_links(zipkin, {"tracked": False, "executions": []}, {})["executions"] == []


@pytest.mark.parametrize(
    ("path", "resource"),
    [
        ("/api/v1/workflows/12/publish", "workflows/12"),
        ("/api/v1/workflows", "workflows"),
        ("/api/v1/workflows/batch-run", "workflows"),
        ("/api/v1/publish-records/5/retry", "publish-records/5"),
        ("/api/v1/migrations/preview", "migrations"),
        ("/api/v1/", None),
        ("/healthz", None),
    ],
)
def test_audit_resource(path: str, resource: str | None) -> None:
    assert audit_resource(path) == resource


def test_request_id() -> None:
    assert request_id_from(Headers({"x-request-id": "abc-123.X:y_z"})) == "abc-123.X:y_z"
    generated = request_id_from(Headers({}))
    assert len(generated) == 32
    assert request_id_from(Headers({"x-request-id": "bad id\nwith newline"})) != "bad id\nwith newline"
    assert len(request_id_from(Headers({"x-request-id": "x" * 129}))) == 32


@pytest.mark.parametrize(
    ("template", "ok"),
    [
        ("", True),
        ("http://127.0.0.1:9411/zipkin/traces/{trace_id}", True),
        ("https://jaeger.example.com/trace/{trace_id}", True),
        ("http://127.0.0.1:9411/zipkin", False),  # no place for the id
        ("javascript:alert({trace_id})", False),
    ],
)
def test_the_trace_url_template_is_checked_at_start(template: str, ok: bool) -> None:
    if ok:
        assert Settings(trace_url_template=template).trace_url_template == template
    else:
        with pytest.raises(ValidationError, match="trace_url_template"):
            Settings(trace_url_template=template)
