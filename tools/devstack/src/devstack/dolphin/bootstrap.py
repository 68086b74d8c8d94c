"""Bootstrap of the platform's DolphinScheduler objects (tenant, user, token, project) on a fresh server."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from devstack.dolphin.config_files import ADMIN_PASSWORD, ADMIN_USER
from devstack.dolphin.rest import DolphinRest
from devstack.dolphin.server import DolphinStandalone


@dataclass(frozen=True)
class PlatformBootstrap:
    """What :func:`bootstrap_platform` created (or found)."""

    tenant_code: str
    tenant_id: int
    user_name: str
    user_id: int
    user_password: str
    project_name: str
    project_code: int
    access_token: str


def _page(rest: DolphinRest, path: str, **params: Any) -> list[dict[str, Any]]:
    data = rest.call("GET", path, params={"pageNo": 1, "pageSize": 1000, **params})
    return list(data.get("totalList") or [])


def bootstrap_platform(
    server: DolphinStandalone | str,
    *,
    tenant_code: str = "platform",
    user_name: str = "platform",
    user_password: str = "Platform123",  # noqa: S107 - local test server only
    project_name: str = "platform",
    email: str = "platform@example.com",
    token_days: int = 3650,
    admin_user: str = ADMIN_USER,
    admin_password: str = ADMIN_PASSWORD,
) -> PlatformBootstrap:
    """Idempotently create a tenant, a user bound to it, a project owned by it, and a token.

    Tenant and user are created by ``admin``; the project and the access token belong to the
    platform user (a token is reused if the user already has a valid one).
    """
    base = server.rest_url if isinstance(server, DolphinStandalone) else server
    with DolphinRest(base) as admin:
        admin.login(admin_user, admin_password)
        tenants = {t["tenantCode"]: t for t in admin.call("GET", "/tenants/list")}
        if tenant_code not in tenants:
            queues = admin.call("GET", "/queues/list")
            queue_id = int(queues[0]["id"]) if queues else 1
            admin.call(
                "POST",
                "/tenants",
                data={"tenantCode": tenant_code, "queueId": queue_id, "description": "devstack platform"},
            )
            tenants = {t["tenantCode"]: t for t in admin.call("GET", "/tenants/list")}
        tenant_id = int(tenants[tenant_code]["id"])

        users = {u["userName"]: u for u in _page(admin, "/users/list-paging", searchVal=user_name)}
        if user_name not in users:
            admin.call(
                "POST",
                "/users/create",
                data={
                    "userName": user_name,
                    "userPassword": user_password,
                    "tenantId": tenant_id,
                    "email": email,
                    "queue": "",
                    "state": 1,
                },
            )
            users = {u["userName"]: u for u in _page(admin, "/users/list-paging", searchVal=user_name)}
        user_id = int(users[user_name]["id"])

    with DolphinRest(base) as rest:
        rest.login(user_name, user_password)
        projects = [p for p in _page(rest, "/projects", searchVal=project_name) if p["name"] == project_name]
        if projects:
            project_code = int(projects[0]["code"])
        else:
            created = rest.call(
                "POST", "/projects", data={"projectName": project_name, "description": "devstack platform"}
            )
            project_code = int(created["code"])

        now = dt.datetime.now(dt.UTC)
        token = ""
        for item in rest.call("GET", f"/access-tokens/user/{user_id}") or []:
            expire = dt.datetime.strptime(str(item["expireTime"]), "%Y-%m-%d %H:%M:%S").replace(tzinfo=dt.UTC)
            if expire > now + dt.timedelta(days=1):
                token = str(item["token"])
                break
        if not token:
            expire_at = (now + dt.timedelta(days=token_days)).strftime("%Y-%m-%d %H:%M:%S")
            created_token = rest.call("POST", "/access-tokens", data={"userId": user_id, "expireTime": expire_at})
            token = str(created_token["token"])

    return PlatformBootstrap(
        tenant_code=tenant_code,
        tenant_id=tenant_id,
        user_name=user_name,
        user_id=user_id,
        user_password=user_password,
        project_name=project_name,
        project_code=project_code,
        access_token=token,
    )
