"""The emulator's state and its set-up: ids and codes, users, tokens, tenants and projects."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable

from ds_emulator.errors import DsError
from ds_emulator.model import (
    MAX_GEN_TASK_CODES,
    Instance,
    Json,
    Project,
    Schedule,
    ScriptRule,
    TaskRun,
    Timing,
    User,
    Workflow,
    fmt,
    parse_date,
)


class Accounts:
    """Set-up of the emulated DolphinScheduler, its users, tokens, tenants and projects."""

    def __init__(
        self,
        *,
        access_token: str,
        ds_version: str = "3.4.1",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._seed_token = access_token
        self.ds_version = ds_version
        self.clock = clock
        self.reset()

    def reset(self) -> None:
        self.timing = Timing()
        self.rules: list[ScriptRule] = []
        self._ids = itertools.count(1)
        self._codes = itertools.count(int(self.clock() * 1000) * 10 % 10**13 + 10**12)
        self.tenants: dict[int, Json] = {
            -1: {"id": -1, "tenantCode": "default", "description": "default tenant", "queueId": 1,
                 "queueName": "default", "queue": "default"},
        }  # fmt: skip
        admin = User(1, "admin", "dolphinscheduler123", -1, "default", user_type="ADMIN_USER")
        self.users: dict[int, User] = {1: admin}
        self._user_ids = itertools.count(2)
        self.tokens: dict[str, tuple[int, float]] = {self._seed_token: (1, parse_date("2099-12-31 23:59:59"))}
        self.access_tokens: list[Json] = []
        self.sessions: dict[str, int] = {}
        self.projects: dict[int, Project] = {}
        self.workflows: dict[int, Workflow] = {}
        self.schedules: dict[int, Schedule] = {}
        self.instances: dict[int, Instance] = {}
        #: workflow code -> its instances (the instance list filtered by workflow reads only these)
        self.instances_by_workflow: dict[int, list[Instance]] = {}
        #: instances whose task runs are not all materialised yet (``advance`` looks only at these)
        self._pending: dict[int, Instance] = {}
        self.task_runs: dict[int, TaskRun] = {}
        self.datasources: list[Json] = []

    def next_id(self) -> int:
        return next(self._ids)

    def next_code(self) -> int:
        return next(self._codes)

    def gen_task_codes(self, count: int | None) -> list[int]:
        """DS 3.4.2 ``TaskDefinitionService.genTaskCodeList``: 1 to 100 codes, else ``DATA_IS_NOT_VALID`` with the
        number (an Integer: MessageFormat renders 1000 as "1,000")."""
        if count is None or count < 1 or count > MAX_GEN_TASK_CODES:
            raise DsError("DATA_IS_NOT_VALID", count)
        return [self.next_code() for _ in range(count)]

    def add_user(self, user_name: str, password: str, tenant_code: str | None) -> User:
        tenant_id = None
        if tenant_code is not None:
            tenant = self.tenant_by_code(tenant_code)
            if tenant is None:
                tenant = self.create_tenant(tenant_code, "")
            tenant_id = int(tenant["id"])
        existing = self.user_by_name(user_name)
        user_id = existing.id if existing else next(self._user_ids)
        user = User(user_id, user_name, password, tenant_id, tenant_code)
        self.users[user_id] = user
        return user

    def add_datasource(self, name: str, ds_type: str, connection_params: str = "{}") -> Json:
        ds = {"id": self.next_id(), "name": name, "type": ds_type.upper(), "connectionParams": connection_params}
        self.datasources.append(ds)
        return ds

    def add_rule(self, rule: ScriptRule) -> None:
        self.rules.insert(0, rule)

    def user_by_name(self, name: str) -> User | None:
        return next((u for u in self.users.values() if u.user_name == name), None)

    def authenticate(self, token: str | None, session_id: str | None) -> User | None:
        now = self.clock()
        if token:
            entry = self.tokens.get(token)
            if entry is None or entry[1] < now:
                return None
            user = self.users.get(entry[0])
        elif session_id:
            user = self.users.get(self.sessions.get(session_id, -1))
        else:
            return None
        if user is None or user.state != 1:
            return None
        return user

    def login(self, user_name: str, password: str) -> str:
        user = self.user_by_name(user_name)
        if user is None or user.password != password:
            raise DsError("USER_NAME_PASSWD_ERROR")
        if user.state != 1:
            raise DsError("USER_DISABLED")
        session = f"{self.next_code():x}{int(self.clock() * 1e6):x}"
        self.sessions[session] = user.id
        return session

    def create_access_token(self, user_id: int, expire_time: str, token: str | None) -> Json:
        if user_id not in self.users:
            raise DsError("REQUEST_PARAMS_NOT_VALID_ERROR", "userId")
        expire = parse_date(expire_time)
        value = token or f"{self.next_code():032x}"[-32:]
        now = self.clock()
        record = {
            "id": self.next_id(),
            "userId": user_id,
            "token": value,
            "expireTime": fmt(expire),
            "createTime": fmt(now),
            "updateTime": fmt(now),
            "userName": self.users[user_id].user_name,
        }
        self.tokens[value] = (user_id, expire)
        self.access_tokens.append(record)
        return record

    def tenant_by_code(self, code: str) -> Json | None:
        return next((t for t in self.tenants.values() if t["tenantCode"] == code), None)

    def create_tenant(self, code: str, description: str) -> Json:
        tenant_id = self.next_id()
        tenant: Json = {
            "id": tenant_id,
            "tenantCode": code,
            "description": description,
            "queueId": 1,
            "queueName": "default",
            "queue": "default",
        }
        self.tenants[tenant_id] = tenant
        return tenant

    def project(self, code: int) -> Project:
        project = self.projects.get(code)
        if project is None:
            raise DsError("PROJECT_NOT_FOUND", str(code))
        return project

    def project_by_name(self, name: str) -> Project | None:
        return next((p for p in self.projects.values() if p.name == name), None)

    def create_project(self, user: User, name: str, description: str) -> Project:
        if not name or len(name) > 64:
            raise DsError("REQUEST_PARAMS_NOT_VALID_ERROR", "projectName")
        if self.project_by_name(name) is not None:
            raise DsError("PROJECT_ALREADY_EXISTS", name)
        now = self.clock()
        project = Project(self.next_id(), self.next_code(), name, description, user.id, user.user_name, now, now)
        self.projects[project.code] = project
        return project

    def project_json(self, project: Project) -> Json:
        count = sum(1 for w in self.workflows.values() if w.project_code == project.code)
        return project.to_json(count)
