"""Who am I: the caller's user name and roles."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from gateway.auth import Principal, require
from gateway.domain.roles import Role
from gateway.routes.params import PROBLEM_RESPONSES
from gateway.schemas import Me

router = APIRouter(tags=["me"], responses=PROBLEM_RESPONSES)


@router.get("/me", response_model=Me)
async def get_me(principal: Annotated[Principal, Depends(require(Role.VIEWER))]) -> Me:
    return Me(
        name=principal.name, roles=list(principal.roles), key_id=principal.key_id, key_prefix=principal.key_prefix
    )
