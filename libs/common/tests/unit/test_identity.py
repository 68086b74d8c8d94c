"""Service identity tokens: who may say what, lifetimes, and key rotation with two keys accepted."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import jwt
import pytest

from common.identity import (
    Identity,
    InvalidToken,
    Signer,
    TrustedKeys,
    Verifier,
    generate_identity_keys,
    sign_approval,
    verify_approval,
)


@pytest.fixture
def keys(tmp_path: Path) -> Path:
    generate_identity_keys(tmp_path, ["gateway", "definition", "alerting"])
    return tmp_path


def _verifier(keys: Path, audience: str = "definition", **kw: float) -> Verifier:
    return Verifier(audience, TrustedKeys(keys / "trusted", reload_interval_s=0), **kw)


def test_the_gateway_speaks_for_a_user_another_service_only_for_itself(keys: Path) -> None:
    verifier = _verifier(keys)
    gateway = Signer("gateway", keys / "gateway.key")
    assert verifier.verify(gateway.token("definition", "ann", ("editor", "no-such-role"))) == Identity(
        "ann", ("editor",), "gateway"
    )
    alerting = Signer("alerting", keys / "alerting.key")
    assert verifier.verify(alerting.token("definition")) == Identity("service:alerting", ("viewer",), "alerting")
    # alerting's key naming a user (with admin) is refused
    with pytest.raises(InvalidToken, match="may only speak for service:alerting"):
        verifier.verify(alerting.token("definition", "ann", ("admin",)))
    # another service's token, and a key claiming another issuer's name
    with pytest.raises(InvalidToken, match="another service"):
        verifier.verify(gateway.token("publisher", "ann", ("editor",)))
    forged = jwt.encode(
        {"iss": "gateway", "sub": "ann", "aud": "definition", "iat": int(time.time()), "exp": int(time.time()) + 60,
         "use": "call", "roles": ["admin"]},
        alerting._key.current()[0], algorithm="EdDSA", headers={"kid": alerting.kid},
    )  # fmt: skip
    with pytest.raises(InvalidToken, match="not the owner of its key"):
        verifier.verify(forged)


def test_tokens_are_reused_and_expire(keys: Path) -> None:
    now = [time.time()]
    signer = Signer("gateway", keys / "gateway.key", ttl_s=60, clock=lambda: now[0])
    first = signer.token("definition", "ann", ("viewer",))
    now[0] += 29
    assert signer.token("definition", "ann", ("viewer",)) == first  # the first half of its life
    now[0] += 2
    assert signer.token("definition", "ann", ("viewer",)) != first
    verifier = Verifier("definition", TrustedKeys(keys / "trusted"), leeway_s=0)
    assert verifier.verify(first).actor == "ann"
    # a token signed 70 s ago has expired, whoever signed it
    old = Signer("gateway", keys / "gateway.key", ttl_s=60, clock=lambda: time.time() - 70)
    with pytest.raises(InvalidToken, match="expired"):
        verifier.verify(old.token("definition", "bob", ("viewer",)))
    long_lived = Signer("gateway", keys / "gateway.key", ttl_s=3600)
    with pytest.raises(InvalidToken, match="lives longer"):
        Verifier("definition", TrustedKeys(keys / "trusted")).verify(long_lived.token("definition", "x", ()))


def test_a_key_rotates_with_both_keys_accepted_between(keys: Path, tmp_path: Path) -> None:
    verifier = _verifier(keys)
    old = Signer("gateway", keys / "gateway.key", reload_interval_s=0)
    old_token = old.token("definition", "ann", ("viewer",))
    assert verifier.verify(old_token).actor == "ann"
    # 1. the new key pair; its public key is trusted beside the old one
    fresh = tmp_path / "fresh"
    generate_identity_keys(fresh, ["gateway"])
    shutil.copy(fresh / "trusted" / "gateway.pem", keys / "trusted" / "gateway.next.pem")
    # 2. the gateway signs with the new key (the file is re-read): both kinds of token are accepted
    shutil.copy(fresh / "gateway.key", keys / "gateway.key")
    new_token = old.token("definition", "ann", ("viewer",))
    assert new_token != old_token
    assert jwt.get_unverified_header(new_token)["kid"] != jwt.get_unverified_header(old_token)["kid"]
    assert verifier.verify(new_token).actor == "ann"
    assert verifier.verify(old_token).actor == "ann"
    # 3. the old public key goes: its tokens are refused at once, even one verified before
    (keys / "trusted" / "gateway.pem").unlink()
    (keys / "trusted" / "gateway.next.pem").rename(keys / "trusted" / "gateway.pem")
    with pytest.raises(InvalidToken, match="not trusted"):
        verifier.verify(old_token)
    assert verifier.verify(new_token).actor == "ann"


def test_publish_approvals_are_the_definition_services_only(keys: Path) -> None:
    trusted = TrustedKeys(keys / "trusted")
    claims = {"rid": "r-1", "wid": 1, "vid": 2, "op": "deploy", "hash": "abc"}
    approval = sign_approval(Signer("definition", keys / "definition.key"), claims)
    assert verify_approval(trusted, approval)["hash"] == "abc"
    with pytest.raises(InvalidToken, match="not by the definition service"):
        verify_approval(trusted, sign_approval(Signer("gateway", keys / "gateway.key"), claims))
    # an approval is no call token, and a call token no approval
    with pytest.raises(InvalidToken):
        Verifier("publisher", trusted).verify(approval)
    with pytest.raises(InvalidToken):
        verify_approval(trusted, Signer("definition", keys / "definition.key").token("publisher"))
