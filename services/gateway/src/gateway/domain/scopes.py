"""Scopes of an API key: what a machine's key may be used for, besides (never beyond) what its roles allow.

A key without scopes (``None``) may do whatever its roles allow: the keys of people and every key made before scopes
existed. A key with scopes may call only the routes whose scope it holds. A route's scope follows from the role it
needs (one check in ``gateway.auth``, where the role is checked):

=================== ================================ ==========================================================
scope               routes (role they need)           for
=================== ================================ ==========================================================
``workflows:read``  every read (viewer)               dashboards, reports, a CI job that checks a workflow
``workflows:write`` changes to tasks, workflows,      CI that keeps workflows in a repository in sync
                    migrations, proposals, lineage
                    mappings; approvals (editor,
                    approver)
``publish``         publish, retry, online/offline,   a release pipeline
                    run, restore (publisher)
``lineage:write``   ``POST /api/v1/lineage`` only     a Spark, Airflow, dbt or Flink OpenLineage integration
                    (lineage)
``admin``           API keys, audit log, proposal     automation of the platform's administration
                    rebuild (admin)
=================== ================================ ==========================================================

Scopes are independent: ``publish`` does not include ``workflows:read`` (give both to a pipeline that reads first).
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from common.roles import parse_names
from gateway.domain.roles import Role, grants


class Scope(StrEnum):
    WORKFLOWS_READ = "workflows:read"
    WORKFLOWS_WRITE = "workflows:write"
    PUBLISH = "publish"
    LINEAGE_WRITE = "lineage:write"
    ADMIN = "admin"


ALL_SCOPES: tuple[Scope, ...] = tuple(Scope)

#: the scope a route needs, from the role it needs
SCOPE_OF_ROLE: dict[Role, Scope] = {
    Role.VIEWER: Scope.WORKFLOWS_READ,
    Role.EDITOR: Scope.WORKFLOWS_WRITE,
    Role.APPROVER: Scope.WORKFLOWS_WRITE,
    Role.PUBLISHER: Scope.PUBLISH,
    Role.LINEAGE: Scope.LINEAGE_WRITE,
    Role.ADMIN: Scope.ADMIN,
}
assert set(SCOPE_OF_ROLE) == set(Role), "every role needs its scope"


def scope_for(role: Role) -> Scope:
    return SCOPE_OF_ROLE[role]


def permits(scopes: frozenset[str] | None, needed: Scope) -> bool:
    """Whether a key limited to ``scopes`` (``None``: not limited) may call a route that needs ``needed``."""
    return scopes is None or needed.value in scopes


def parse_scopes(raw: Iterable[str]) -> list[Scope]:
    """Validate and normalise scope names (order kept, duplicates dropped); ``ValueError`` names the bad one. An
    empty list is refused: a key limited to nothing could do nothing (leave the scopes out for no limit)."""
    return parse_names(
        Scope, raw, kind="scope", empty="give at least one scope, or none at all for a key limited only by its roles"
    )


def unusable(roles: Iterable[str], scopes: Iterable[Scope]) -> list[Scope]:
    """The scopes that no route open to ``roles`` needs (a ``publish`` scope on a viewer's key): a mistake."""
    held = list(roles)
    return [s for s in scopes if not any(grants(held, r) for r, rs in SCOPE_OF_ROLE.items() if rs is s)]
