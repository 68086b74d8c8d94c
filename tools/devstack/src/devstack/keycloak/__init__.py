"""A local identity provider (Keycloak) with the platform's realm, for ``./platform up`` and the tests.

Keycloak's server distribution comes from Maven Central and runs on Java 25 (``runtime``); the server keeps its
data in the state directory and imports the realm kept in this package, ``platform-realm.json`` (``server``): realm
``platform``, the confidential client ``platform-portal`` (Authorization Code + PKCE S256, callback
``/auth/callback`` on any loopback port, RP-initiated and front-channel logout, a ``groups`` claim in the ID and
access tokens), one group per platform role and one demo person in each (dev-only passwords).

Environment variables (all optional): ``DEVSTACK_KEYCLOAK_PORT`` (default 18180),
``DEVSTACK_KEYCLOAK_MANAGEMENT_PORT`` (default the next port), ``DEVSTACK_KEYCLOAK_JAVA_HOME`` (a Java 21+ home).
"""

from devstack.keycloak.runtime import KEYCLOAK_VERSION
from devstack.keycloak.server import (
    CALLBACK_PATH,
    CLIENT_ID,
    GROUP_ROLES,
    REALM,
    DemoPerson,
    KeycloakAdmin,
    KeycloakServer,
    demo_people,
)

__all__ = [
    "CALLBACK_PATH",
    "CLIENT_ID",
    "GROUP_ROLES",
    "KEYCLOAK_VERSION",
    "REALM",
    "DemoPerson",
    "KeycloakAdmin",
    "KeycloakServer",
    "demo_people",
]
