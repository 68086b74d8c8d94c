""" "Open in DolphinScheduler" links: the one place that knows the DS web UI's routes (issue 21 item 6).

The gateway and the publisher both build their links here. The routes are those of DS's Vue router
(``dolphinscheduler-ui/src/router/modules/projects.ts``), read at ``apache/dolphinscheduler`` ``dev`` 7e0095dc
(2024-10-18, after the process→workflow rename, before the 3.3 branch; the router file's last change there is
a7c8d4d5 of 2024-08-01, which removed the task-definition page). No 3.3.x/3.4.x tag could be read, so 3.3 and 3.4 share
that table; a version whose routes are found to differ gets its own row in ``_ROUTES``.

- workflow definition: ``/projects/{project}/workflow/definitions/{code}`` (route ``workflow-definition-detail``; the
  list is ``…/workflow-definition``, which takes no code)
- workflow instance: ``/projects/{project}/workflow/instances/{id}`` (``workflow-instance-detail``)
- task node: ``/projects/{project}/task/instances?taskCode={code}`` (``task-instance``): the page DS's own DAG opens
  for a node's "view history" (``task/components/node/detail-modal.tsx``); the definition page reads no query, so a
  ``taskCode`` added there would be ignored by DS.

The base is DS's UI root, e.g. ``http://ds:12345/dolphinscheduler/ui`` (vite ``base`` ``/dolphinscheduler/ui/``,
history mode, not a hash router). Every builder returns ``None`` when links are not configured (empty base) or a code
is missing (a workflow never deployed), so callers show no link rather than a broken one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: DS versions whose UI routes this module knows
SUPPORTED_DS_VERSIONS: tuple[str, ...] = ("3.3", "3.4")
DEFAULT_DS_VERSION = "3.4"


@dataclass(frozen=True)
class _Routes:
    workflow_definition: str
    workflow_instance: str
    task_node: str


_DEV_2024 = _Routes(
    workflow_definition="/projects/{project}/workflow/definitions/{code}",
    workflow_instance="/projects/{project}/workflow/instances/{id}",
    task_node="/projects/{project}/task/instances?taskCode={code}",
)
_ROUTES: dict[str, _Routes] = {"3.3": _DEV_2024, "3.4": _DEV_2024}


def ds_version_of(value: str) -> str:
    """``"3.4"`` for ``3.4``, ``3.4.2``, ``v3.4.1``; ``ValueError`` naming the supported ones otherwise (for settings
    validators: bad config fails at start)."""
    text = value.strip().removeprefix("v")
    minor = ".".join(text.split(".")[:2])
    if minor not in _ROUTES:
        raise ValueError(
            f"DolphinScheduler version {value!r} is not supported: one of {', '.join(SUPPORTED_DS_VERSIONS)}"
        )
    return minor


@dataclass(frozen=True)
class DsLinks:
    """Links into the DS UI at ``base_url`` (no trailing slash; empty: no links) for DS ``version``."""

    base_url: str
    version: str = DEFAULT_DS_VERSION

    def __post_init__(self) -> None:
        object.__setattr__(self, "base_url", self.base_url.strip().rstrip("/"))
        object.__setattr__(self, "version", ds_version_of(self.version))

    @property
    def _routes(self) -> _Routes:
        return _ROUTES[self.version]

    def workflow_definition(self, project_code: Any, workflow_code: Any) -> str | None:
        if not self.base_url or not _code(project_code) or not _code(workflow_code):
            return None
        return self.base_url + self._routes.workflow_definition.format(project=project_code, code=workflow_code)

    def workflow_instance(self, project_code: Any, instance_id: Any) -> str | None:
        if not self.base_url or not _code(project_code) or not _code(instance_id):
            return None
        return self.base_url + self._routes.workflow_instance.format(project=project_code, id=instance_id)

    def task_node(self, project_code: Any, task_code: Any) -> str | None:
        if not self.base_url or not _code(project_code) or not _code(task_code):
            return None
        return self.base_url + self._routes.task_node.format(project=project_code, code=task_code)

    def task(self, project_code: Any, workflow_code: Any, task_code: Any) -> str | None:
        """The task node's link; its workflow definition's while the task's DS code is not known yet."""
        return self.task_node(project_code, task_code) or self.workflow_definition(project_code, workflow_code)


def _code(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0
