"""DS REST calls of users and tokens, projects, worker groups, tenants and workflow definitions."""

from __future__ import annotations

from datetime import datetime

from pydantic import SecretStr, TypeAdapter

from common.dolphin.models import (
    AccessToken,
    DagData,
    Page,
    Project,
    ReleaseState,
    Tenant,
    UserInfo,
    WorkflowDefinition,
    WorkflowDefinitionLog,
    WorkflowExecutionType,
    format_ds_datetime,
)
from common.dolphin.rest_session import DolphinRestSession
from common.transport import HttpTransport


class DolphinDefinitionsApi(DolphinRestSession):
    """What the publisher deploys: projects and workflow definitions (and the users and tokens of the set-up)."""

    # ----------------------------------------------------------------------------------------------------
    # Users and tokens

    @classmethod
    async def bootstrap_access_token(
        cls,
        http: HttpTransport,
        user_name: str,
        password: SecretStr,
        *,
        expire_time: datetime,
        token: SecretStr | None = None,
    ) -> AccessToken:
        """Log in with a password and create an access token for that user (for test and dev set-up)."""
        anon = cls(http, SecretStr(""), read_attempts=1)
        data = await anon._call(
            "POST",
            "/login",
            form={"userName": user_name, "userPassword": password.get_secret_value()},
            headers={},
        )
        session = SecretStr(str((data or {}).get("sessionId", "")))
        session_headers = {"sessionId": session.get_secret_value()}
        user = cls._parse(
            UserInfo,
            await anon._call("GET", "/users/get-user-info", headers=session_headers),
            "get-user-info",
        )
        created = await anon._call(
            "POST",
            "/access-tokens",
            form={
                "userId": user.id,
                "expireTime": format_ds_datetime(expire_time),
                "token": token.get_secret_value() if token else None,
            },
            headers=session_headers,
        )
        return cls._parse(AccessToken, created, "POST /access-tokens")

    async def get_current_user(self) -> UserInfo:
        return self._parse(UserInfo, await self._get("/users/get-user-info"), "GET /users/get-user-info")

    async def list_access_tokens_of_user(self, user_id: int) -> list[AccessToken]:
        data = await self._get("/access-tokens/user/{user_id}", path={"user_id": user_id})
        items = data.get("totalList", []) if isinstance(data, dict) else data
        return list(self._parse_as(TypeAdapter(list[AccessToken]), items or [], "GET /access-tokens/user/{id}"))

    # ----------------------------------------------------------------------------------------------------
    # Projects, worker groups, tenants

    async def list_projects(
        self, *, page_no: int = 1, page_size: int = 10, search_val: str | None = None
    ) -> Page[Project]:
        data = await self._get("/projects", params={"pageNo": page_no, "pageSize": page_size, "searchVal": search_val})
        return self._parse(Page[Project], data, "GET /projects")

    async def list_all_projects(self) -> list[Project]:
        data = await self._get("/projects/list")
        return list(self._parse_as(TypeAdapter(list[Project]), data or [], "GET /projects/list"))

    async def get_project(self, project_code: int) -> Project:
        return self._parse(Project, await self._get("/projects/{p}", path={"p": project_code}), "GET /projects/{p}")

    async def find_project_by_name(self, name: str) -> Project | None:
        """v1 has no exact by-name lookup: fuzzy-search, then match the name exactly."""
        page_no = 1
        while True:
            page = await self.list_projects(page_no=page_no, page_size=100, search_val=name)
            for project in page.total_list:
                if project.name == name:
                    return project
            if page_no >= page.page_count:
                return None
            page_no += 1

    async def create_project(self, name: str, description: str = "") -> Project:
        data = await self._post("/projects", form={"projectName": name, "description": description})
        return self._parse(Project, data, "POST /projects")

    async def list_worker_groups(self) -> list[str]:
        data = await self._get("/worker-groups/all")
        return [str(x) for x in (data or [])]

    async def list_tenants(self) -> list[Tenant]:
        data = await self._get("/tenants/list")
        return list(self._parse_as(TypeAdapter(list[Tenant]), data or [], "GET /tenants/list"))

    # ----------------------------------------------------------------------------------------------------
    # Workflow definitions

    async def gen_task_codes(self, project_code: int, count: int) -> list[int]:
        """``count`` fresh task codes: 1 to 100 per call (DS 3.4 refuses more with 50017 "data N not valid")."""
        data = await self._get(
            "/projects/{p}/task-definition/gen-task-codes", path={"p": project_code}, params={"genNum": count}
        )
        return [int(x) for x in (data or [])]

    async def get_workflow_definition(self, project_code: int, workflow_code: int) -> DagData:
        template = "/projects/{p}/workflow-definition/{code}"
        data = await self._get(template, path={"p": project_code, "code": workflow_code})
        return self._parse(DagData, data, f"GET {template}")

    async def get_workflow_definition_by_name(self, project_code: int, name: str) -> DagData:
        template = "/projects/{p}/workflow-definition/query-by-name"
        data = await self._get(template, path={"p": project_code}, params={"name": name})
        return self._parse(DagData, data, f"GET {template}")

    async def list_workflow_definitions(
        self, project_code: int, *, search_val: str | None = None, page_no: int = 1, page_size: int = 100
    ) -> Page[WorkflowDefinition]:
        """A page of the project's workflows (``search_val``: name contains), newest update first."""
        template = "/projects/{p}/workflow-definition"
        data = await self._get(
            template,
            path={"p": project_code},
            params={"searchVal": search_val, "pageNo": page_no, "pageSize": page_size},
        )
        return self._parse(Page[WorkflowDefinition], data, f"GET {template}")

    async def create_workflow_definition(
        self,
        project_code: int,
        *,
        name: str,
        task_definition_json: str,
        task_relation_json: str,
        description: str = "",
        global_params: str = "[]",
        locations: str | None = None,
        timeout_minutes: int = 0,
        execution_type: WorkflowExecutionType = WorkflowExecutionType.PARALLEL,
        other_params_json: str | None = None,
    ) -> WorkflowDefinition:
        """Create over REST (created OFFLINE; the returned ``version`` may be 0, re-read by code)."""
        template = "/projects/{p}/workflow-definition"
        data = await self._post(
            template,
            path={"p": project_code},
            form={
                "name": name,
                "description": description,
                "globalParams": global_params,
                "locations": locations,
                "timeout": timeout_minutes,
                "taskRelationJson": task_relation_json,
                "taskDefinitionJson": task_definition_json,
                "otherParamsJson": other_params_json,
                "executionType": execution_type.value,
            },
        )
        return self._parse(WorkflowDefinition, data, f"POST {template}")

    async def update_workflow_definition(
        self,
        project_code: int,
        workflow_code: int,
        *,
        name: str,
        task_definition_json: str,
        task_relation_json: str,
        description: str = "",
        global_params: str = "[]",
        locations: str | None = None,
        timeout_minutes: int = 0,
        execution_type: WorkflowExecutionType = WorkflowExecutionType.PARALLEL,
        release_state: ReleaseState = ReleaseState.OFFLINE,
    ) -> WorkflowDefinition:
        """Update over REST; DS refuses it (50008) while the workflow is ONLINE. (Unlike the create, DS 3.4's update
        has no ``otherParamsJson`` parameter.)"""
        template = "/projects/{p}/workflow-definition/{code}"
        data = await self._put(
            template,
            path={"p": project_code, "code": workflow_code},
            form={
                "name": name,
                "description": description,
                "globalParams": global_params,
                "locations": locations,
                "timeout": timeout_minutes,
                "taskRelationJson": task_relation_json,
                "taskDefinitionJson": task_definition_json,
                "executionType": execution_type.value,
                "releaseState": release_state.value,
            },
        )
        return self._parse(WorkflowDefinition, data, f"PUT {template}")

    async def release_workflow(self, project_code: int, workflow_code: int, state: ReleaseState) -> None:
        """ONLINE fails with 50035 on an empty DAG; OFFLINE also takes the schedule offline."""
        await self._post(
            "/projects/{p}/workflow-definition/{code}/release",
            path={"p": project_code, "code": workflow_code},
            form={"releaseState": state.value},
        )

    async def online_workflow(self, project_code: int, workflow_code: int) -> None:
        await self.release_workflow(project_code, workflow_code, ReleaseState.ONLINE)

    async def offline_workflow(self, project_code: int, workflow_code: int) -> None:
        await self.release_workflow(project_code, workflow_code, ReleaseState.OFFLINE)

    async def list_workflow_versions(
        self, project_code: int, workflow_code: int, *, page_no: int = 1, page_size: int = 10
    ) -> Page[WorkflowDefinitionLog]:
        template = "/projects/{p}/workflow-definition/{code}/versions"
        data = await self._get(
            template,
            path={"p": project_code, "code": workflow_code},
            params={"pageNo": page_no, "pageSize": page_size},
        )
        return self._parse(Page[WorkflowDefinitionLog], data, f"GET {template}")
