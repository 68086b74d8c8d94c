"""API keys' expiry (parsing, the verified-key memory capped at it) and scopes (parsing, the check next to roles)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from common.errors import Forbidden
from gateway.auth import KeyExpired, ScopeMissing, _check_role
from gateway.domain.keys import MAX_LIFETIME, check_expiry, expired, expiry_of
from gateway.domain.roles import ALL_ROLES, Role
from gateway.domain.scopes import ALL_SCOPES, SCOPE_OF_ROLE, Scope, parse_scopes, permits, scope_for, unusable
from gateway.principals import Principal, VerifiedKeys

NOW = datetime(2026, 12, 8, 10, 0, tzinfo=UTC)


# ------------------------------------------------------------------------------------------------------------- expiry


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("never", None),
        (" NEVER ", None),
        ("12h", NOW + timedelta(hours=12)),
        ("30d", NOW + timedelta(days=30)),
        ("8w", NOW + timedelta(weeks=8)),
        ("2027-03-01", datetime(2027, 3, 1, tzinfo=UTC)),
        ("2027-03-01T12:30:00+02:00", datetime(2027, 3, 1, 10, 30, tzinfo=UTC)),
        ("2027-03-01T12:30:00Z", datetime(2027, 3, 1, 12, 30, tzinfo=UTC)),
    ],
)
def test_expiry_of_what_a_person_types(text: str, expected: datetime | None) -> None:
    assert expiry_of(text, NOW) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("soon", "is not 'never', a duration"),
        ("30", "is not 'never', a duration"),
        ("-3d", "is not 'never', a duration"),
        ("0d", "is not in the future"),
        ("2026-12-08", "is not in the future"),
        ("2026-12-07T23:00:00+00:00", "is not in the future"),
        ("2027-03-01T12:30:00", "has no UTC offset"),
        ("99999d", "more than 3660 days away"),
        ("2040-01-01", "more than 3660 days away"),
    ],
)
def test_bad_expiries_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        expiry_of(text, NOW)


def test_check_expiry_bounds() -> None:
    assert check_expiry(NOW + MAX_LIFETIME, NOW) == NOW + MAX_LIFETIME
    with pytest.raises(ValueError, match="more than 3660 days away"):
        check_expiry(NOW + MAX_LIFETIME + timedelta(seconds=1), NOW)
    with pytest.raises(ValueError, match="is not in the future"):
        check_expiry(NOW, NOW)


def test_expired_is_from_the_instant_on() -> None:
    assert not expired(None, NOW)
    assert not expired(NOW + timedelta(microseconds=1), NOW)
    assert expired(NOW, NOW)
    assert expired(NOW - timedelta(days=1), NOW)


def test_expired_key_problem_code() -> None:
    assert (KeyExpired.status, KeyExpired.code) == (401, "api-key-expired")
    assert (ScopeMissing.status, ScopeMissing.code) == (403, "insufficient-scope")


class Clocks:
    """A monotonic and a wall clock that move together."""

    def __init__(self) -> None:
        self.mono = 100.0

    def monotonic(self) -> float:
        return self.mono

    def wall(self) -> datetime:
        return NOW + timedelta(seconds=self.mono - 100.0)


def _key(expires_at: datetime | None, scopes: frozenset[str] | None = None) -> Principal:
    return Principal(
        key_id=7, name="ci", roles=("publisher",), key_prefix="abcdefgh", scopes=scopes, expires_at=expires_at
    )


def test_verified_keys_never_outlive_the_key() -> None:
    clocks = Clocks()
    keys = VerifiedKeys(60.0, clock=clocks.monotonic, wall=clocks.wall)
    soon = _key(NOW + timedelta(seconds=2))
    keys.put("h", soon)
    clocks.mono += 1.99
    assert keys.get("h") == soon
    clocks.mono += 0.01
    assert keys.get("h") is None  # the TTL (60 s) is capped at the expiry: the next request finds it expired


def test_verified_keys_ttl_still_bounds_a_long_lived_key() -> None:
    clocks = Clocks()
    keys = VerifiedKeys(5.0, clock=clocks.monotonic, wall=clocks.wall)
    for digest, key in (("later", _key(NOW + timedelta(days=30))), ("never", _key(None))):
        keys.put(digest, key)
    clocks.mono += 5.0
    assert keys.get("later") is None
    assert keys.get("never") is None


def test_an_expired_key_is_not_remembered_at_all() -> None:
    clocks = Clocks()
    keys = VerifiedKeys(60.0, clock=clocks.monotonic, wall=clocks.wall)
    keys.put("h", _key(NOW))
    keys.put("h2", _key(NOW - timedelta(days=1)))
    assert keys.get("h") is None
    assert keys.get("h2") is None


# ------------------------------------------------------------------------------------------------------------- scopes


def test_every_role_has_a_scope_and_every_scope_a_role() -> None:
    assert set(SCOPE_OF_ROLE) == set(ALL_ROLES)
    assert set(SCOPE_OF_ROLE.values()) == set(ALL_SCOPES)
    assert scope_for(Role.VIEWER) is Scope.WORKFLOWS_READ
    assert scope_for(Role.EDITOR) is scope_for(Role.APPROVER) is Scope.WORKFLOWS_WRITE
    assert scope_for(Role.PUBLISHER) is Scope.PUBLISH
    assert scope_for(Role.LINEAGE) is Scope.LINEAGE_WRITE
    assert scope_for(Role.ADMIN) is Scope.ADMIN


def test_parse_scopes() -> None:
    assert parse_scopes([" Publish", "workflows:read", "publish", ""]) == [Scope.PUBLISH, Scope.WORKFLOWS_READ]
    with pytest.raises(ValueError, match="unknown scope 'deploy' \\(allowed: workflows:read, "):
        parse_scopes(["deploy"])
    with pytest.raises(ValueError, match="at least one scope"):
        parse_scopes([])


def test_permits() -> None:
    assert permits(None, Scope.ADMIN)  # not limited: the roles decide
    assert permits(frozenset({"publish"}), Scope.PUBLISH)
    assert not permits(frozenset({"publish"}), Scope.WORKFLOWS_READ)  # independent: publish does not include read
    assert not permits(frozenset({"workflows:write"}), Scope.WORKFLOWS_READ)


def test_unusable_scopes_are_those_no_role_of_the_key_reaches() -> None:
    assert unusable(["viewer"], [Scope.WORKFLOWS_READ]) == []
    assert unusable(["viewer"], [Scope.PUBLISH, Scope.WORKFLOWS_READ, Scope.ADMIN]) == [Scope.PUBLISH, Scope.ADMIN]
    assert unusable(["approver"], [Scope.WORKFLOWS_WRITE, Scope.WORKFLOWS_READ]) == []
    assert unusable(["lineage"], [Scope.WORKFLOWS_READ]) == [Scope.WORKFLOWS_READ]
    assert unusable(["admin"], list(ALL_SCOPES)) == []


def test_the_role_check_checks_the_scope_too() -> None:
    key = _key(None, scopes=frozenset({"publish"}))
    assert _check_role(key, Role.PUBLISHER) is key
    with pytest.raises(ScopeMissing) as caught:
        _check_role(key, Role.VIEWER)
    assert caught.value.detail == "this call needs the scope 'workflows:read' (the key of ci is limited to: publish)"
    assert caught.value.extras == {"scope": "workflows:read"}
    # the role is checked first: a call the roles refuse is refused as before, whatever the scopes
    with pytest.raises(Forbidden) as refused:
        _check_role(key, Role.EDITOR)
    assert not isinstance(refused.value, ScopeMissing)
    assert "needs the role 'editor'" in refused.value.detail


def test_an_unlimited_key_is_checked_by_its_roles_only() -> None:
    key = _key(None)
    assert _check_role(key, Role.VIEWER) is key
    assert _check_role(key, Role.PUBLISHER) is key
