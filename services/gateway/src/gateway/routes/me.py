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
    return me_of(principal)


def me_of(principal: Principal) -> Me:
    return Me(
        name=principal.name,
        roles=list(principal.roles),
        via="session" if principal.session_id is not None else "api-key",
        key_id=principal.key_id,
        key_prefix=principal.key_prefix,
        display_name=principal.display_name,
        email=principal.email,
        csrf_token=principal.csrf_token,
    )
