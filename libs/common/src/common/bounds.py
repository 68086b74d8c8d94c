"""Input types with the bounds of what we store: the largest numbers PostgreSQL keeps in our columns, names.

A number larger than its column reaches PostgreSQL only to fail there (``value out of int32 range``), which without
these bounds answered 500. Ids are ``bigint``; version numbers, revisions, counts and DolphinScheduler's instance ids
(Java ``Integer``) are ``integer``. Edges of the platform (the gateway's parameters and bodies, the services' own
routes) declare these bounds, so a bad number is a 422 naming the field; ``common.db.invalid_input`` is the backstop
for anything that still slips through.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field

INT4_MAX = 2**31 - 1
INT8_MAX = 2**63 - 1

#: a platform id (``bigint`` primary keys)
Id = Annotated[int, Field(ge=1, le=INT8_MAX)]
#: a 1-based number stored as ``integer`` (a version number, a revision, a page)
Number = Annotated[int, Field(ge=1, le=INT4_MAX)]
#: the version an edit is based on (0: a workflow that has none yet)
ExpectedNumber = Annotated[int, Field(ge=0, le=INT4_MAX)]
#: an id DolphinScheduler keeps as a Java ``Integer`` (workflow and task instances)
DsInstanceId = Annotated[int, Field(ge=1, le=INT4_MAX)]


def _not_blank(value: str) -> str:
    stripped = value.strip()
    if not stripped:
        raise ValueError("must not be blank")
    return stripped


#: a name shown to people (a task's, a workflow's): trimmed, and not only whitespace
Name = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_not_blank)]
