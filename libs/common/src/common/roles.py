"""Roles of the platform: the public API (gateway) grants them to API keys, and every service checks them on the
identity a call carries (``common.identity``).

``viewer`` reads; ``editor`` changes tasks, workflows and migrations; ``approver`` approves; ``publisher`` publishes,
retries publishes and runs workflows; ``admin`` does everything and manages API keys and reads the audit log.
Every one of these can read (a key that may change something may also see it), and ``admin`` implies every role.

``lineage`` is a scope for machines, not a person's role: it allows sending lineage (``POST /api/v1/lineage``:
OpenLineage RunEvents and native lineage commands) and nothing else, not even reading — the key a Spark, Airflow,
dbt or Flink integration is configured with.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import TypeVar

E = TypeVar("E", bound=StrEnum)


class Role(StrEnum):
    VIEWER = "viewer"
    EDITOR = "editor"
    APPROVER = "approver"
    PUBLISHER = "publisher"
    ADMIN = "admin"
    LINEAGE = "lineage"


ALL_ROLES: tuple[Role, ...] = tuple(Role)
#: the roles that may read (every role but the machine scopes)
READING_ROLES = frozenset(r.value for r in ALL_ROLES if r is not Role.LINEAGE)


def grants(held: Iterable[str], needed: Role) -> bool:
    """Whether a key holding ``held`` may do what needs ``needed``."""
    roles = set(held)
    if Role.ADMIN in roles or needed in roles:
        return True
    return needed is Role.VIEWER and bool(roles & READING_ROLES)


def parse_roles(raw: Iterable[str]) -> list[Role]:
    """Validate and normalise role names (order kept, duplicates dropped); ``ValueError`` names the bad one."""
    return parse_names(Role, raw, kind="role", empty="give at least one role")


def parse_names(kind_of: type[E], raw: Iterable[str], *, kind: str, empty: str) -> list[E]:
    """Members of ``kind_of`` named in ``raw`` (trimmed, lower-cased, blanks skipped, order kept, duplicates dropped);
    ``ValueError`` names the bad one (``unknown {kind} …``), or says ``empty`` when none is named."""
    out: list[E] = []
    for name in raw:
        name = name.strip().lower()
        if not name:
            continue
        try:
            member = kind_of(name)
        except ValueError:
            allowed = ", ".join(m.value for m in kind_of)
            raise ValueError(f"unknown {kind} {name!r} (allowed: {allowed})") from None
        if member not in out:
            out.append(member)
    if not out:
        raise ValueError(empty)
    return out
