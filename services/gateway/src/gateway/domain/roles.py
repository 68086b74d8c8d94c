"""Roles of the public API: the platform's roles (``common.roles``), which every service checks too."""

from __future__ import annotations

from common.roles import ALL_ROLES, Role, grants, parse_roles

__all__ = ["ALL_ROLES", "Role", "grants", "parse_roles"]
