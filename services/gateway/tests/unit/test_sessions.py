"""People's sessions, the plain parts: group→role mapping, the person an ID token names, expiry, the session id and
its CSRF token, the CSRF check, the encrypted tokens, the settings' validation, and the session cache's TTL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr, ValidationError

from common.errors import Forbidden
from gateway.config import Settings
from gateway.domain.sessions import (
    SessionTimes,
    SignInRefused,
    csrf_matches,
    csrf_token_of,
    hash_session_id,
    new_session_id,
    parse_group_roles,
    person_of,
    plausible_session_id,
    require_roles,
    roles_for_groups,
)
from gateway.guard import check_csrf
from gateway.principals import Principal, VerifiedKeys
from gateway.sessions import CsrfTokenInvalid, CsrfTokenMissing, Tokens, token_box

MAPPING = parse_group_roles(
    {
        "platform-viewers": ["viewer"],
        "platform-editors": ["editor"],
        "platform-approvers": ["approver"],
        "platform-publishers": ["publisher", "viewer"],
        "/platform-admins": ["admin"],
    }
)

# ----------------------------------------------------------------------------------------------- group → role mapping


def test_roles_follow_the_groups_in_role_order_each_once() -> None:
    assert roles_for_groups(["platform-publishers", "platform-editors", "platform-viewers"], MAPPING) == (
        "viewer",
        "editor",
        "publisher",
    )


def test_full_group_paths_and_unmapped_groups() -> None:
    # Keycloak's "full group path" form matches; groups outside the mapping give nothing
    assert roles_for_groups(["/platform-admins", "/staff/others"], MAPPING) == ("admin",)
    assert roles_for_groups(["finance"], MAPPING) == ()


@pytest.mark.parametrize("claim", [None, 7, {"platform-editors": True}, [None, 3]])
def test_a_malformed_groups_claim_gives_no_role(claim: object) -> None:
    assert roles_for_groups(claim, MAPPING) == ()


def test_a_single_group_string_counts() -> None:
    assert roles_for_groups("platform-editors", MAPPING) == ("editor",)


def test_no_role_refuses_the_sign_in() -> None:
    with pytest.raises(SignInRefused, match="ask an administrator"):
        require_roles(())


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"g": ["wizard"]}, "unknown role 'wizard'"),
        ({"g": []}, "at least one role"),
        ({" ": ["viewer"]}, "empty"),
        ({"g": ["lineage"]}, "for API keys of machines"),
    ],
)
def test_a_bad_mapping_is_refused(raw: dict[str, list[str]], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_group_roles(raw)


# ---------------------------------------------------------------------------------------------------------- person


def test_the_person_is_named_by_preferred_username_with_name_and_email_kept() -> None:
    person = person_of(
        {"sub": "f1-2", "preferred_username": "eddie.editor", "name": "Eddie Editor", "email": "eddie@example.com"}
    )
    assert (person.subject, person.name, person.display_name, person.email) == (
        "f1-2",
        "eddie.editor",
        "Eddie Editor",
        "eddie@example.com",
    )


def test_without_a_user_name_the_email_then_the_subject_name_the_person() -> None:
    assert person_of({"sub": "s", "email": "a@example.com"}).name == "a@example.com"
    assert person_of({"sub": "s-only"}).name == "s-only"


@pytest.mark.parametrize(
    "claims",
    [
        {},
        {"sub": " "},
        {"sub": "s", "preferred_username": "service:publisher"},
        {"sub": "s", "preferred_username": "a b"},
    ],
    ids=["no-sub", "blank-sub", "service-name", "space"],
)
def test_unusable_names_are_refused(claims: dict[str, str]) -> None:
    with pytest.raises(SignInRefused):
        person_of(claims)


# ---------------------------------------------------------------------------------------------------------- expiry

T0 = datetime(2026, 12, 8, 9, 0, tzinfo=UTC)
TIMES = SessionTimes(idle=timedelta(minutes=30), max_age=timedelta(hours=8))


def test_an_idle_session_ends() -> None:
    assert not TIMES.ended(created_at=T0, last_seen_at=T0, now=T0 + timedelta(minutes=29, seconds=59))
    assert TIMES.ended(created_at=T0, last_seen_at=T0, now=T0 + timedelta(minutes=30))


def test_a_busy_session_still_ends_at_its_absolute_age() -> None:
    seen = T0 + timedelta(hours=7, minutes=59)
    assert not TIMES.ended(created_at=T0, last_seen_at=seen, now=T0 + timedelta(hours=7, minutes=59, seconds=59))
    assert TIMES.ended(created_at=T0, last_seen_at=seen, now=T0 + timedelta(hours=8))
    assert TIMES.ends_at(created_at=T0, last_seen_at=seen) == T0 + timedelta(hours=8)


# ----------------------------------------------------------------------------------------------- ids and CSRF tokens


def test_session_ids_are_random_and_only_their_hash_is_kept() -> None:
    a, b = new_session_id(), new_session_id()
    assert a != b
    assert plausible_session_id(a)
    assert plausible_session_id(b)
    assert len(hash_session_id(a)) == 64
    assert a not in hash_session_id(a)
    assert not plausible_session_id("short")
    assert not plausible_session_id(a[:-1] + "!")


def test_the_csrf_token_is_bound_to_its_session() -> None:
    a, b = new_session_id(), new_session_id()
    assert csrf_token_of(a) == csrf_token_of(a) != csrf_token_of(b)
    assert csrf_token_of(a) != hash_session_id(a)  # neither reveals the other
    assert csrf_matches(csrf_token_of(a), csrf_token_of(a))
    assert not csrf_matches(csrf_token_of(a), csrf_token_of(b))
    assert not csrf_matches(csrf_token_of(a), None)


def _person(csrf: str) -> Principal:
    return Principal(key_id=None, name="eddie", roles=("editor",), key_prefix=None, session_id=1, csrf_token=csrf)


def test_check_csrf_refuses_a_missing_or_wrong_token() -> None:
    sid = new_session_id()
    person = _person(csrf_token_of(sid))
    check_csrf(person, csrf_token_of(sid))
    with pytest.raises(CsrfTokenMissing) as missing:
        check_csrf(person, None)
    assert isinstance(missing.value, Forbidden)
    assert missing.value.code == "csrf-token-missing"
    with pytest.raises(CsrfTokenInvalid) as wrong:
        check_csrf(person, csrf_token_of(new_session_id()))
    assert wrong.value.code == "csrf-token-invalid"


# ------------------------------------------------------------------------------------------------ encrypted tokens


def test_tokens_are_stored_encrypted_and_another_secret_cannot_read_them() -> None:
    box = token_box(SecretStr("client-secret-one"))
    stored = Tokens("refresh-RT", "id-IT", "access-AT").encrypt(box)
    for secret in (b"refresh-RT", b"id-IT", b"access-AT"):
        assert secret not in stored
    assert Tokens.decrypt(box, stored) == Tokens("refresh-RT", "id-IT", "access-AT")
    assert Tokens.decrypt(token_box(SecretStr("client-secret-two")), stored) == Tokens(None, None, None)


# ------------------------------------------------------------------------------------------------------- cache TTL


def test_a_session_is_cached_no_longer_than_asked_and_forgotten_at_once() -> None:
    now = [100.0]
    cache = VerifiedKeys(5.0, clock=lambda: now[0])
    cache.put("d1", _person("x"), ttl_s=2.0)  # e.g. the access token expires in 2 s
    cache.put("d2", _person("y"), ttl_s=60.0)  # never beyond the cache's own TTL
    now[0] += 2.0
    assert cache.get("d1") is None
    assert cache.get("d2") is not None
    cache.forget_digest("d2")
    assert cache.get("d2") is None
    cache.put("d3", _person("z"), ttl_s=-1.0)  # already due: not remembered
    assert cache.get("d3") is None


# -------------------------------------------------------------------------------------------------------- settings

OIDC = {
    "oidc_issuer": "http://127.0.0.1:18180/realms/platform/",
    "oidc_client_id": "platform-portal",
    "oidc_client_secret": SecretStr("s3cret"),
    "oidc_group_roles": {"platform-editors": ["Editor"]},
}


def test_settings_normalise_the_oidc_configuration() -> None:
    s = Settings(**OIDC)
    assert s.oidc_enabled
    assert s.oidc_issuer == "http://127.0.0.1:18180/realms/platform"
    assert s.oidc_group_roles == {"platform-editors": ["editor"]}
    assert not Settings().oidc_enabled


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"oidc_client_secret": None}, "needs oidc_client_id and oidc_client_secret"),
        ({"oidc_client_id": ""}, "needs oidc_client_id and oidc_client_secret"),
        ({"oidc_group_roles": {}}, "needs oidc_group_roles"),
        ({"oidc_group_roles": {"g": ["root"]}}, "unknown role"),
        ({"oidc_issuer": "sso.example.com"}, "http"),
    ],
)
def test_incomplete_oidc_settings_fail_at_start(change: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message) as exc:
        Settings(**{**OIDC, **change})
    assert "s3cret" not in str(exc.value)


def test_the_group_mapping_is_read_from_json_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_OIDC_GROUP_ROLES", '{"platform-approvers": ["approver", "viewer"]}')
    s = Settings(oidc_issuer="https://sso.example.com/realms/p", oidc_client_id="c", oidc_client_secret=SecretStr("x"))
    assert s.oidc_group_roles == {"platform-approvers": ["approver", "viewer"]}
