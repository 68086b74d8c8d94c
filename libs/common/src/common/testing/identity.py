"""Service identities for the test session (a pytest plugin, loaded by the root ``conftest.py``).

At start-up it makes a key pair per service in a temporary directory (``common.identity.generate_identity_keys``) and
sets the environment every service reads, unless it is set already: ``IDENTITY_TRUSTED_KEYS_DIR`` and
``<PREFIX>IDENTITY_KEY_FILE`` per service. So a service's ``Settings`` built by a test, or a service process a test
starts, signs and verifies exactly as in production. Tests call a service as a user with :func:`auth_headers` (a
token the gateway's key signs, as the gateway does) or through :class:`UserAuth`.
"""

from __future__ import annotations

import functools
import os
import shutil
import tempfile
from collections.abc import Generator, Sequence
from pathlib import Path

import httpx
import pytest

from common.approvals import approve
from common.events.models import PublishRequested
from common.identity import Signer, generate_identity_keys

#: service name -> env prefix of its settings
SERVICE_PREFIXES: dict[str, str] = {
    "definition": "DEFINITION_",
    "publisher": "PUBLISHER_",
    "history-sync": "HISTORY_",
    "lineage-resolver": "LINEAGE_",
    "alerting": "ALERTING_",
    "gateway": "GATEWAY_",
}
TRUSTED_ENV = "IDENTITY_TRUSTED_KEYS_DIR"
_made: list[Path] = []


def identity_env(directory: Path) -> dict[str, str]:
    """The environment of services whose keys ``generate_identity_keys(directory, …)`` made."""
    env = {TRUSTED_ENV: str(directory / "trusted")}
    for name, prefix in SERVICE_PREFIXES.items():
        env[f"{prefix}IDENTITY_KEY_FILE"] = str(directory / f"{name}.key")
    return env


def pytest_configure(config: pytest.Config) -> None:
    if os.environ.get(TRUSTED_ENV):
        return
    directory = Path(tempfile.mkdtemp(prefix="platform-identity-"))
    generate_identity_keys(directory, SERVICE_PREFIXES)
    _made.append(directory)
    for key, value in identity_env(directory).items():
        os.environ.setdefault(key, value)


def pytest_unconfigure(config: pytest.Config) -> None:
    for directory in _made:
        shutil.rmtree(directory, ignore_errors=True)


@functools.cache
def signer(issuer: str = "gateway") -> Signer:
    """The signer of ``issuer``'s key from the environment."""
    prefix = SERVICE_PREFIXES[issuer]
    return Signer(issuer, Path(os.environ[f"{prefix}IDENTITY_KEY_FILE"]))


def user_token(audience: str, actor: str = "tester", roles: Sequence[str] = ("admin",)) -> str:
    """A token the gateway would send to ``audience`` for ``actor`` holding ``roles``."""
    return signer("gateway").token(audience, actor, tuple(roles))


def auth_headers(audience: str, actor: str = "tester", roles: Sequence[str] = ("admin",)) -> dict[str, str]:
    return {"Authorization": f"Bearer {user_token(audience, actor, roles)}"}


class UserAuth(httpx.Auth):
    """Every request as ``actor`` with ``roles`` (a request that has an ``Authorization`` header keeps it)."""

    def __init__(self, audience: str, actor: str = "tester", roles: Sequence[str] = ("admin",)) -> None:
        self.audience, self.actor, self.roles = audience, actor, tuple(roles)

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if "authorization" not in request.headers:
            request.headers["Authorization"] = f"Bearer {user_token(self.audience, self.actor, self.roles)}"
        yield request


def approved(event: PublishRequested) -> PublishRequested:
    """``event`` with the approval the definition service would sign for it (its snapshot's content hash)."""
    approval = approve(
        signer("definition"),
        request_id=event.request_id,
        workflow_id=event.workflow_id,
        version_id=event.version_id,
        version_no=event.version_no,
        operation=event.operation.value,
        content_hash=event.snapshot.content_hash(),
    )
    return event.model_copy(update={"approval": approval})
