"""The one "open in DolphinScheduler" link builder: DS UI routes per supported DS version (issue 21 item 6)."""

from __future__ import annotations

import pytest

from common.dolphin.links import SUPPORTED_DS_VERSIONS, DsLinks, ds_version_of

UI = "http://ds:12345/dolphinscheduler/ui"


@pytest.mark.parametrize("version", SUPPORTED_DS_VERSIONS)
def test_routes_of_each_supported_version(version: str) -> None:
    # routes of dolphinscheduler-ui/src/router/modules/projects.ts (dev 7e0095dc): the same in 3.3 and 3.4
    links = DsLinks(UI, version)
    assert links.workflow_definition(11, 22) == f"{UI}/projects/11/workflow/definitions/22"
    assert links.workflow_instance(11, 901) == f"{UI}/projects/11/workflow/instances/901"
    assert links.task_node(11, 33) == f"{UI}/projects/11/task/instances?taskCode=33"
    # the task's link carries its code; while DS has not given it one, the workflow's definition
    assert links.task(11, 22, 33) == f"{UI}/projects/11/task/instances?taskCode=33"
    assert links.task(11, 22, None) == f"{UI}/projects/11/workflow/definitions/22"


def test_no_link_without_a_base_or_a_code() -> None:
    assert DsLinks("").workflow_definition(11, 22) is None
    assert DsLinks("").task(11, 22, 33) is None
    links = DsLinks(UI + "/")
    assert links.workflow_definition(11, 22) == f"{UI}/projects/11/workflow/definitions/22"  # trailing slash dropped
    assert links.workflow_definition(None, 22) is None
    assert links.workflow_definition(11, 0) is None
    assert links.workflow_definition(True, 22) is None  # a bool is not a code
    assert links.workflow_instance(11, None) is None
    assert links.task(11, None, 33) == f"{UI}/projects/11/task/instances?taskCode=33"
    assert links.task(None, 22, 33) is None


@pytest.mark.parametrize(("given", "minor"), [("3.4", "3.4"), ("3.4.2", "3.4"), ("v3.3.1", "3.3"), (" 3.3 ", "3.3")])
def test_versions_are_read_to_their_minor(given: str, minor: str) -> None:
    assert ds_version_of(given) == minor
    assert DsLinks(UI, given).version == minor


@pytest.mark.parametrize("bad", ["3.2", "3.2.2", "4.0", "", "latest"])
def test_an_unknown_version_is_refused_naming_the_supported_ones(bad: str) -> None:
    with pytest.raises(ValueError, match=r"3\.3, 3\.4"):
        DsLinks(UI, bad)
