"""What history-sync calls outside itself."""

from __future__ import annotations

from typing import Protocol

from common.dolphin.models import InstanceTasks, LogChunk, Page, WorkflowInstance
from common.dolphin.rest import Digested


class DolphinHistory(Protocol):
    """The DS REST reads history-sync needs (implemented by ``common.dolphin.rest.DolphinRestClient``)."""

    async def list_workflow_instances(
        self, project_code: int, *, page_no: int = 1, page_size: int = 10, workflow_code: int | None = None
    ) -> Page[WorkflowInstance]: ...

    async def list_workflow_instances_digested(
        self, project_code: int, workflow_code: int, *, page_size: int = 10, known_digest: bytes | None = None
    ) -> Digested[Page[WorkflowInstance]]: ...

    async def get_workflow_instance(self, project_code: int, instance_id: int) -> WorkflowInstance: ...

    async def get_instance_tasks(self, project_code: int, instance_id: int) -> InstanceTasks: ...

    async def get_task_log(self, task_instance_id: int, *, skip_line_num: int = 0, limit: int = 1000) -> LogChunk: ...
