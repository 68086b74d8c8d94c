"""Domain logic of the publisher: plain Python, no framework imports."""

from publisher.domain.codes import MAX_CODES_PER_CALL, assign_codes, code_batches, codes_needed
from publisher.domain.convert import (
    CreateOrUpdateWorkflowArgs,
    DolphinWorkflowDefinition,
    ReleaseState,
    convert,
    gateway_args,
)
from publisher.domain.errors import InvalidDag, InvalidSchedule, MissingDatasources, MissingTaskCodes

__all__ = [
    "MAX_CODES_PER_CALL",
    "CreateOrUpdateWorkflowArgs",
    "DolphinWorkflowDefinition",
    "InvalidDag",
    "InvalidSchedule",
    "MissingDatasources",
    "MissingTaskCodes",
    "ReleaseState",
    "assign_codes",
    "code_batches",
    "codes_needed",
    "convert",
    "gateway_args",
]
