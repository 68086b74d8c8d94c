"""Publish approvals: the publisher deploys only a snapshot whose content hash the definition service approved.

The definition service emits ``publish.requested`` only for an approved, pinned version (``domain.status``) and signs
into it (``PublishRequested.approval``) what it approved: the request id, workflow, version, operation and the
version's ``content_hash`` (sha256 of its canonical snapshot JSON), with its own identity key (``common.identity``,
``use: "publish-approval"``). Before any DolphinScheduler call the publisher checks that signature with the definition
service's public key and that the snapshot it is about to deploy hashes to the signed hash (:func:`check_approval`).
A message forged by anything else that can write the topic, or a snapshot altered on the way (in Kafka, in the
publisher's table), is refused.

Why a signature rather than asking the definition service at deploy time: it costs one Ed25519 verification
(~0.4 ms here) instead of a call (a round trip, a database read, and a publish that stalls while the definition
service is down), and the approval travels with the request, so a retry days later checks the same statement
(BENCHMARKS.md, "Zero trust").
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from common.errors import DomainError
from common.identity import InvalidToken, Signer, TrustedKeys, sign_approval, verify_approval
from common.workflow import StructureSnapshot


class PublishNotApproved(DomainError):
    """The snapshot to deploy is not the one the definition service approved (or no valid approval came with it)."""

    status = 422
    code = "publish-not-approved"
    title = "Not the approved snapshot"

    def __init__(self, detail: str, *, reason: str, **extras: Any) -> None:
        super().__init__(detail, **extras)
        #: ``missing``, ``signature`` or ``mismatch`` (the metric's label)
        self.reason = reason


def approve(
    signer: Signer,
    *,
    request_id: uuid.UUID,
    workflow_id: int,
    version_id: int,
    version_no: int,
    operation: str,
    content_hash: str,
) -> str:
    """The definition service's signed approval of one publish request."""
    return sign_approval(
        signer,
        {
            "rid": str(request_id),
            "wid": workflow_id,
            "vid": version_id,
            "vno": version_no,
            "op": operation,
            "hash": content_hash,
        },
    )


def check_approval(
    trusted: TrustedKeys | None,
    approval: str | None,
    *,
    request_ids: Iterable[uuid.UUID],
    workflow_id: int,
    version_id: int,
    operation: str,
    snapshot: StructureSnapshot,
) -> str:
    """Raise :class:`PublishNotApproved` unless ``approval`` is the definition service's valid signature over this
    workflow, version, operation and one of ``request_ids`` (the request, or the one a retry retries), and
    ``snapshot`` hashes to the hash it names; returns that hash."""
    if approval is None:
        raise PublishNotApproved("the publish request carries no approval of the definition service", reason="missing")
    if trusted is None:
        raise PublishNotApproved("this publisher trusts no approval keys (IDENTITY_TRUSTED_KEYS_DIR)", reason="missing")
    try:
        claims = verify_approval(trusted, approval)
    except InvalidToken as exc:
        raise PublishNotApproved(f"the approval is not valid: {exc}", reason="signature") from None
    expected: dict[str, set[Any]] = {
        "rid": {str(r) for r in request_ids},
        "wid": {workflow_id},
        "vid": {version_id},
        "op": {operation},
    }
    wrong = [name for name, allowed in expected.items() if claims.get(name) not in allowed]
    if wrong:
        raise PublishNotApproved(
            f"the approval is for another request ({', '.join(wrong)} differ)", reason="mismatch", fields=wrong
        )
    actual = snapshot.content_hash()
    if claims.get("hash") != actual:
        raise PublishNotApproved(
            f"the snapshot to deploy (content hash {actual[:12]}) is not the approved version "
            f"{claims.get('vno')} (content hash {str(claims.get('hash'))[:12]}): refused",
            reason="mismatch",
            approved_hash=claims.get("hash"),
            actual_hash=actual,
        )
    return actual
