"""Service identity: every internal HTTP call carries a short-lived signed token, and the receiver verifies it.

Tokens are EdDSA (Ed25519) JWTs (PyJWT, ``Authorization: Bearer <token>``). Every service has a key pair of its own:
its private key (``<PREFIX>IDENTITY_KEY_FILE``, PEM) signs what it sends, and every service trusts the public keys in
one directory (``IDENTITY_TRUSTED_KEYS_DIR``): ``<issuer>.pem``, or ``<issuer>.<label>.pem`` for a second key of the
same issuer during a rotation. A key only ever speaks for the issuer its file is named after.

Two kinds of token, both with the claims ``iss`` (the signing service), ``sub`` (the actor), ``aud`` (the receiving
service), ``iat``, ``exp`` and ``use: "call"``:

- **on behalf of a user**: only an issuer in ``DELEGATING_ISSUERS`` (the gateway, which checked the user's API key)
  may name a user as ``sub`` and give ``roles`` (the key's roles);
- **the service's own**: any other issuer; ``sub`` must be ``service:<issuer>``, and the receiver grants it
  ``SERVICE_ROLES`` (read only), whatever the token claims.

A token lives ``ttl_s`` (default 60 s) and is reused by its signer for the first half of that (``Signer.token``); the
receiver remembers a token it verified until it expires (``Verifier``). Signing (~0.1 ms) and verifying (~0.4 ms) an
Ed25519 JWT on our machines cost as much as a whole list request of a service, so neither happens per request; the
request id travels beside the token (``X-Request-Id``). Key files are re-read when they change (checked at most every
``reload_interval_s``), so keys rotate without a restart: add the new public key, switch the private key, remove the
old public key (docs/security.md).

Publish approvals (``sign_approval`` / ``verify_approval``) are the same kind of JWS with ``use: "publish-approval"``:
the definition service signs the approved version's content hash into ``publish.requested``, and the publisher deploys
only a snapshot whose hash that signature names.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import re
import threading
import time
from collections.abc import Awaitable, Callable, Generator, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from starlette.requests import Request

from common.errors import Forbidden
from common.roles import Role, grants

log = logging.getLogger(__name__)

ALGORITHM = "EdDSA"
#: issuers whose tokens may act for a user (they authenticated the user themselves)
DELEGATING_ISSUERS = frozenset({"gateway"})
#: what a service's own identity may do at another service
SERVICE_ROLES: tuple[str, ...] = (Role.VIEWER.value,)
SERVICE_SUBJECT_PREFIX = "service:"
CALL = "call"
PUBLISH_APPROVAL = "publish-approval"
_ISSUER = re.compile(r"^[a-z][a-z0-9-]{0,62}$")
_MAX_ACTOR = 128


class InvalidToken(Exception):
    """A token that is missing, malformed, expired, not for us, or signed by a key we do not trust. The message says
    why and never contains the token."""


class IdentityNotConfigured(RuntimeError):
    """The service has no key to sign with, or no trusted keys to verify with."""


@dataclass(frozen=True, slots=True)
class Identity:
    """Who a verified call acts as."""

    actor: str
    roles: tuple[str, ...]
    #: the service that signed the token
    issuer: str

    def grants(self, role: Role) -> bool:
        return grants(self.roles, role)

    @property
    def on_behalf_of_user(self) -> bool:
        return not self.actor.startswith(SERVICE_SUBJECT_PREFIX)


def key_id(public_key: Ed25519PublicKey) -> str:
    """The ``kid`` of a key: derived from the key itself, so nothing has to be configured beside it."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.urlsafe_b64encode(hashlib.sha256(raw).digest()).decode()[:16]


# ------------------------------------------------------------------------------------------------------------- keys


def generate_identity_keys(directory: Path, names: Iterable[str]) -> None:
    """For each service name: ``<directory>/<name>.key`` (its private key, mode 0600) and
    ``<directory>/trusted/<name>.pem`` (its public key, for every service's ``IDENTITY_TRUSTED_KEYS_DIR``). An existing
    private key is kept (its public key is written again)."""
    directory.mkdir(parents=True, exist_ok=True)
    trusted = directory / "trusted"
    trusted.mkdir(exist_ok=True)
    for name in names:
        if not _ISSUER.match(name):
            raise ValueError(f"bad service name {name!r}")
        private_file = directory / f"{name}.key"
        if private_file.exists():
            private = load_private_key(private_file)
        else:
            private = Ed25519PrivateKey.generate()
            pem = private.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
            fd = os.open(private_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(pem)
        public_pem = private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        (trusted / f"{name}.pem").write_bytes(public_pem)


def load_private_key(path: Path) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError) as exc:
        raise IdentityNotConfigured(f"cannot read the identity key {path}: {type(exc).__name__}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise IdentityNotConfigured(f"the identity key {path} is not an Ed25519 private key")
    return key


def _stamp(paths: Iterable[Path]) -> tuple[tuple[str, int, int], ...]:
    out = []
    for p in paths:
        try:
            st = p.stat()
        except OSError:
            continue
        out.append((p.name, st.st_mtime_ns, st.st_size))
    return tuple(sorted(out))


class TrustedKeys:
    """The public keys in a directory, by ``kid``: ``<issuer>.pem`` and ``<issuer>.<label>.pem`` (any other file is
    ignored). Re-read when the directory's files change, checked at most every ``reload_interval_s``."""

    def __init__(
        self, directory: Path, *, reload_interval_s: float = 30.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.directory = directory
        self.reload_interval_s = reload_interval_s
        self._clock = clock
        self._lock = threading.Lock()
        self._keys: dict[str, tuple[str, Ed25519PublicKey]] = {}
        self._stamp: tuple[tuple[str, int, int], ...] | None = None
        self._checked = 0.0
        #: bumped on every reload that changed something (a verifier forgets what it verified with the old set)
        self.generation = 0
        self._load()
        if not self._keys:
            raise IdentityNotConfigured(f"no trusted identity keys (<issuer>.pem) in {directory}")

    def issuers(self) -> set[str]:
        return {issuer for issuer, _ in self._keys.values()}

    def key(self, kid: str) -> tuple[str, Ed25519PublicKey] | None:
        self.refresh()
        return self._keys.get(kid)

    def refresh(self) -> None:
        now = self._clock()
        if now - self._checked < self.reload_interval_s:
            return
        with self._lock:
            if now - self._checked < self.reload_interval_s:
                return
            self._checked = now
            try:
                self._load()
            except Exception:  # keep the keys we have: a half-written update is read again next time
                log.warning("trusted identity keys in %s could not be re-read", self.directory, exc_info=True)

    def _load(self) -> None:
        files = sorted(self.directory.glob("*.pem"))
        stamp = _stamp(files)
        if stamp == self._stamp:
            return
        keys: dict[str, tuple[str, Ed25519PublicKey]] = {}
        for f in files:
            issuer = f.name.split(".", 1)[0]
            if not _ISSUER.match(issuer):
                continue
            key = serialization.load_pem_public_key(f.read_bytes())
            if not isinstance(key, Ed25519PublicKey):
                log.warning("%s is not an Ed25519 public key; ignored", f)
                continue
            keys[key_id(key)] = (issuer, key)
        if self._stamp is not None:
            log.info("trusted identity keys reloaded from %s (%d keys)", self.directory, len(keys))
        self._keys, self._stamp = keys, stamp
        self.generation += 1


class _SigningKey:
    """A private key file, re-read when it changes (checked at most every ``reload_interval_s``)."""

    def __init__(self, path: Path, *, reload_interval_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.path = path
        self.reload_interval_s = reload_interval_s
        self._clock = clock
        self._lock = threading.Lock()
        self._stamp = _stamp([path])
        self.key = load_private_key(path)
        self.kid = key_id(self.key.public_key())
        self._checked = clock()

    def current(self) -> tuple[Ed25519PrivateKey, str]:
        now = self._clock()
        if now - self._checked >= self.reload_interval_s:
            with self._lock:
                self._checked = now
                stamp = _stamp([self.path])
                if stamp and stamp != self._stamp:
                    try:
                        key = load_private_key(self.path)
                    except IdentityNotConfigured:
                        log.warning("the identity key %s could not be re-read; signing with the old one", self.path)
                    else:
                        self.key, self.kid, self._stamp = key, key_id(key.public_key()), stamp
                        log.info("identity key %s reloaded (kid %s)", self.path, self.kid)
        return self.key, self.kid


# ---------------------------------------------------------------------------------------------------------- signing


class Signer:
    """Issues this service's tokens. ``token`` reuses a token for the first half of its life (one per audience, actor
    and roles), so a request costs a dictionary look-up, not a signature."""

    def __init__(
        self,
        issuer: str,
        key_file: Path,
        *,
        ttl_s: float = 60.0,
        reload_interval_s: float = 30.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not _ISSUER.match(issuer):
            raise ValueError(f"bad issuer name {issuer!r}")
        self.issuer = issuer
        self.ttl_s = ttl_s
        self._clock = clock
        self._key = _SigningKey(key_file, reload_interval_s=reload_interval_s)
        self._cache: dict[tuple[str, str, tuple[str, ...]], tuple[str, float, str]] = {}

    @property
    def kid(self) -> str:
        return self._key.current()[1]

    def token(self, audience: str, actor: str | None = None, roles: Sequence[str] = ()) -> str:
        """A call token for ``audience``: on behalf of ``actor`` with ``roles`` (a delegating issuer only), or this
        service's own identity when ``actor`` is None."""
        subject = actor if actor is not None else SERVICE_SUBJECT_PREFIX + self.issuer
        cache_key = (audience, subject, tuple(roles))
        now = self._clock()
        key, kid = self._key.current()
        hit = self._cache.get(cache_key)
        if hit is not None and now < hit[1] and hit[2] == kid:
            return hit[0]
        iat = int(now)
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": subject,
            "aud": audience,
            "iat": iat,
            "exp": iat + int(self.ttl_s),
            "use": CALL,
        }
        if actor is not None:
            claims["roles"] = list(roles)
        token = jwt.encode(claims, key, algorithm=ALGORITHM, headers={"kid": kid})
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[cache_key] = (token, now + self.ttl_s / 2, kid)
        return token

    def sign(self, claims: Mapping[str, Any], *, use: str) -> str:
        """A one-off signed statement (not cached): ``claims`` plus ``iss``, ``iat`` and ``use``."""
        key, kid = self._key.current()
        body = {**claims, "iss": self.issuer, "iat": int(self._clock()), "use": use}
        return jwt.encode(body, key, algorithm=ALGORITHM, headers={"kid": kid})

    def auth(self, audience: str) -> ServiceAuth:
        """An ``httpx`` auth that sends this service's own identity to ``audience``."""
        return ServiceAuth(self, audience)


class ServiceAuth(httpx.Auth):
    """``Authorization: Bearer <this service's token for the audience>`` on every request of an ``httpx`` client."""

    def __init__(self, signer: Signer, audience: str) -> None:
        self.signer = signer
        self.audience = audience

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self.signer.token(self.audience)}"
        yield request


# -------------------------------------------------------------------------------------------------------- verifying


class Verifier:
    """Verifies the tokens sent to ``audience``. A verified token is remembered until it expires (a reload of the
    trusted keys forgets them all)."""

    def __init__(
        self,
        audience: str,
        trusted: TrustedKeys,
        *,
        leeway_s: float = 10.0,
        max_ttl_s: float = 600.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.audience = audience
        self.trusted = trusted
        self.leeway_s = leeway_s
        self.max_ttl_s = max_ttl_s
        self._clock = clock
        self._verified: dict[str, tuple[Identity, float]] = {}
        self._generation = trusted.generation

    def verify(self, token: str) -> Identity:
        self.trusted.refresh()
        if self.trusted.generation != self._generation:
            self._verified.clear()
            self._generation = self.trusted.generation
        now = self._clock()
        hit = self._verified.get(token)
        if hit is not None:
            if now < hit[1]:
                return hit[0]
            del self._verified[token]
        claims, issuer = _decode(self.trusted, token, use=CALL, audience=self.audience, leeway_s=self.leeway_s)
        exp = float(claims["exp"])
        if exp - float(claims["iat"]) > self.max_ttl_s:
            raise InvalidToken(f"the token lives longer than {self.max_ttl_s:g} s")
        identity = _identity(claims, issuer)
        if len(self._verified) > 10_000:
            self._verified = {t: v for t, v in self._verified.items() if v[1] > now}
            if len(self._verified) > 10_000:
                self._verified.clear()
        self._verified[token] = (identity, exp + self.leeway_s)
        return identity


def _decode(
    trusted: TrustedKeys, token: str, *, use: str, audience: str | None, leeway_s: float
) -> tuple[dict[str, Any], str]:
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise InvalidToken("the token is not a JWT") from None
    if header.get("alg") != ALGORITHM:
        raise InvalidToken(f"the token is not signed with {ALGORITHM}")
    kid = header.get("kid")
    found = trusted.key(kid) if isinstance(kid, str) else None
    if found is None:
        raise InvalidToken("the token is signed by a key that is not trusted")
    issuer, key = found
    required = ["iss", "sub", "iat", "exp"] if use == CALL else ["iss", "iat"]
    if audience is not None:
        required.append("aud")
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            audience=audience,
            issuer=issuer,
            leeway=leeway_s,
            options={"require": required, "verify_aud": audience is not None},
        )
    except jwt.ExpiredSignatureError:
        raise InvalidToken("the token has expired") from None
    except jwt.InvalidAudienceError:
        raise InvalidToken("the token is for another service") from None
    except jwt.InvalidIssuerError:
        raise InvalidToken("the token's issuer is not the owner of its key") from None
    except jwt.ImmatureSignatureError:
        raise InvalidToken("the token is not valid yet (clock skew?)") from None
    except jwt.PyJWTError as exc:
        raise InvalidToken(f"the token is invalid ({type(exc).__name__})") from None
    if claims.get("use") != use:
        raise InvalidToken(f"the token is not a {use} token")
    return claims, issuer


def _identity(claims: Mapping[str, Any], issuer: str) -> Identity:
    subject = claims["sub"]
    if not isinstance(subject, str) or not subject or len(subject) > _MAX_ACTOR:
        raise InvalidToken("the token's subject is not a valid actor")
    if issuer in DELEGATING_ISSUERS and not subject.startswith(SERVICE_SUBJECT_PREFIX):
        roles = claims.get("roles")
        if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
            raise InvalidToken("the token's roles are not a list of role names")
        known = {r.value for r in Role}
        return Identity(actor=subject, roles=tuple(r for r in roles if r in known), issuer=issuer)
    if subject != SERVICE_SUBJECT_PREFIX + issuer:
        raise InvalidToken(f"a {issuer} key may only speak for {SERVICE_SUBJECT_PREFIX}{issuer}")
    return Identity(actor=subject, roles=SERVICE_ROLES, issuer=issuer)


# ------------------------------------------------------------------------------------------------ publish approvals


def sign_approval(signer: Signer, claims: Mapping[str, Any]) -> str:
    """The definition service's signature over an approved publish (``workflow_id``, ``version_id``, ``operation``,
    ``request_id``, ``content_hash``)."""
    return signer.sign({**claims, "aud": "publisher"}, use=PUBLISH_APPROVAL)


def verify_approval(trusted: TrustedKeys, token: str, *, issuer: str = "definition") -> dict[str, Any]:
    """The claims of a publish approval signed by ``issuer``; ``InvalidToken`` otherwise. Approvals do not expire: a
    request is accepted once (its ``request_id``), and a failed one may be retried days later."""
    claims, signed_by = _decode(trusted, token, use=PUBLISH_APPROVAL, audience="publisher", leeway_s=0)
    if signed_by != issuer:
        raise InvalidToken(f"the approval is signed by {signed_by}, not by the {issuer} service")
    return claims


# -------------------------------------------------------------------------------------------------- FastAPI helpers

MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def identity_of(request: Request) -> Identity:
    """The verified identity of a request (set by ``common.guard.ServiceGuard``)."""
    identity = request.scope.get("state", {}).get("identity")
    if not isinstance(identity, Identity):
        raise InvalidToken("no verified identity")  # the guard refused such a request already
    return identity


def acting(role: Role) -> Callable[..., Awaitable[str]]:
    """A FastAPI dependency: the verified actor of a request whose identity holds ``role`` (403 otherwise)."""

    async def _actor(request: Request) -> str:
        identity = identity_of(request)
        if not identity.grants(role):
            held = ", ".join(identity.roles) or "none"
            raise Forbidden(f"this call needs the role '{role.value}' ({identity.actor} has: {held})")
        return identity.actor

    _actor.required_role = role  # type: ignore[attr-defined]
    return _actor


def unguarded_mutations(app: Any) -> list[str]:
    """Routes of ``app`` that change something (POST/PUT/PATCH/DELETE) without an ``acting(role)`` dependency."""
    from fastapi.routing import APIRoute

    def has_role(dependant: Any) -> bool:
        return any(getattr(d.call, "required_role", None) is not None or has_role(d) for d in dependant.dependencies)

    out = []
    for route in app.routes:
        if isinstance(route, APIRoute):
            methods = set(route.methods or ()) & MUTATING
            if methods and not has_role(route.dependant):
                out.append(f"{sorted(methods)} {route.path}")
    return out


# --------------------------------------------------------------------------------------------------- from settings


def signer_from(settings: Any) -> Signer:
    """The service's signer from its settings (``<PREFIX>IDENTITY_KEY_FILE``)."""
    path = getattr(settings, "identity_key_file", None)
    if path is None:
        prefix = str(settings.model_config.get("env_prefix", ""))
        raise IdentityNotConfigured(
            f"{settings.service_name}: no identity key: set {prefix}IDENTITY_KEY_FILE to this service's Ed25519 "
            "private key (PEM); `platform-provision identity-keys --out DIR` makes them"
        )
    return Signer(settings.service_name, Path(path), ttl_s=settings.identity_token_ttl_s)


def trusted_keys_from(settings: Any) -> TrustedKeys:
    directory = getattr(settings, "identity_trusted_keys_dir", None)
    if directory is None:
        raise IdentityNotConfigured(
            f"{settings.service_name}: no trusted identity keys: set IDENTITY_TRUSTED_KEYS_DIR to the directory of "
            "the services' public keys (<service>.pem)"
        )
    return TrustedKeys(Path(directory))


def verifier_from(settings: Any, trusted: TrustedKeys | None = None) -> Verifier:
    return Verifier(settings.service_name, trusted if trusted is not None else trusted_keys_from(settings))
