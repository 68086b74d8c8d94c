"""Who may do what on Kafka: one principal per service and one for the platform's external lineage producers, each
allowed exactly the topics of DESIGN.md §3 (``GRANTS``), as exact (LITERAL) ACLs on the prefixed topic names.

- a producer may WRITE its topics;
- a consumer may READ its topics and its consumer group, and WRITE each such topic's ``.dlq`` (where it parks what it
  can never process);
- alerting also reads every ``.dlq`` (it counts and alerts on dead letters);
- ``lineage-producer`` (other platform systems) may WRITE ``lineage.changed``, nothing else.

Everything else is denied: the broker runs with ``allow.everyone.if.no.acl.found=false``, and only its administrator
principal (provisioning, the broker itself) is a super user. ``platform-provision all`` (or ``acls``) creates the ACLs
with the administrator's credentials; creating an ACL that exists already changes nothing.

aiokafka's admin client has no ACL calls, so this module sends Kafka's CreateAcls (v1) and DescribeAcls (v1) requests
through the client's connection, with aiokafka's own protocol structs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import IntEnum

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import for_code
from aiokafka.protocol.admin import CreateAclsRequest, DescribeAclsRequest

from common.events.models import Topics
from common.kafka_access import KafkaAccess, client_options

LINEAGE_PRODUCER = "lineage-producer"


class ResourceType(IntEnum):
    ANY = 1
    TOPIC = 2
    GROUP = 3
    CLUSTER = 4


class PatternType(IntEnum):
    ANY = 1
    LITERAL = 3
    PREFIXED = 4


class Operation(IntEnum):
    ANY = 1
    READ = 3
    WRITE = 4
    DESCRIBE = 8


ALLOW = 3
ANY_PERMISSION = 1


@dataclass(frozen=True)
class Grants:
    """What one principal does on Kafka (topic names without the prefix)."""

    writes: tuple[str, ...] = ()
    reads: tuple[str, ...] = ()
    #: its consumer group (without the prefix); None: it does not consume
    group: str | None = None
    #: topics it reads without writing their dead letters (alerting's view of the ``.dlq`` topics)
    observes: tuple[str, ...] = field(default=())

    @property
    def topics(self) -> tuple[str, ...]:
        """The topics it needs (each comes with its ``.dlq``): what it writes and reads, and the topics whose dead
        letters it observes. A service creates them at start when its ``ensure_topics`` is on."""
        observed = (t.removesuffix(".dlq") for t in self.observes)
        return tuple(dict.fromkeys((*self.writes, *self.reads, *observed)))


#: DESIGN.md §3, as the services' subscribers and outboxes use it (``common.events.models.Topics``)
GRANTS: Mapping[str, Grants] = {
    "definition": Grants(
        writes=(
            Topics.WORKFLOW_VERSION_CREATED,
            Topics.PUBLISH_REQUESTED,
            Topics.LINEAGE_CHANGED,
            Topics.TASK_OPENLINEAGE_JOB_SET,
        ),
        reads=(Topics.PUBLISH_COMPLETED, Topics.EXECUTION_SYNCED, Topics.TASK_DEPENDENCY_CHANGED),
        group="definition",
    ),
    "publisher": Grants(
        writes=(Topics.PUBLISH_COMPLETED, Topics.WORKFLOW_RUN_STARTED),
        reads=(Topics.PUBLISH_REQUESTED,),
        group="publisher",
    ),
    "history-sync": Grants(
        writes=(Topics.EXECUTION_SYNCED, Topics.WORKFLOW_EXECUTION_FAILED),
        reads=(Topics.PUBLISH_COMPLETED, Topics.WORKFLOW_RUN_STARTED),
        group="history-sync",
    ),
    "lineage-resolver": Grants(
        writes=(Topics.TASK_DEPENDENCY_CHANGED,),
        reads=(Topics.LINEAGE_CHANGED, Topics.TASK_OPENLINEAGE_JOB_SET),
        group="lineage-resolver",
    ),
    "alerting": Grants(
        reads=(Topics.PUBLISH_COMPLETED, Topics.WORKFLOW_EXECUTION_FAILED),
        observes=tuple(Topics.dlq(t) for t in Topics.ALL),
        group="alerting",
    ),
    LINEAGE_PRODUCER: Grants(writes=(Topics.LINEAGE_CHANGED,)),
}


@dataclass(frozen=True, order=True)
class AclBinding:
    """One ALLOW rule: ``principal`` may ``operation`` on the resource (host ``*``)."""

    principal: str
    resource_type: ResourceType
    resource_name: str
    operation: Operation
    pattern: PatternType = PatternType.LITERAL

    def __str__(self) -> str:
        return (
            f"{self.principal} {self.operation.name} {self.resource_type.name.lower()} "
            f"{self.resource_name} ({self.pattern.name.lower()})"
        )


def acl_bindings(
    prefix: str = "", principals: Mapping[str, str] | None = None, grants: Mapping[str, Grants] = GRANTS
) -> list[AclBinding]:
    """The ALLOW rules of every principal of ``grants`` for the topics and groups under ``prefix``.
    ``principals`` renames principals (service name → Kafka user name; default: the same)."""
    out: set[AclBinding] = set()
    for name, grant in grants.items():
        user = f"User:{(principals or {}).get(name, name)}"
        for t in grant.writes:
            out.add(AclBinding(user, ResourceType.TOPIC, prefix + t, Operation.WRITE))
        for t in grant.reads:
            out.add(AclBinding(user, ResourceType.TOPIC, prefix + t, Operation.READ))
            out.add(AclBinding(user, ResourceType.TOPIC, prefix + Topics.dlq(t), Operation.WRITE))
        for t in grant.observes:
            out.add(AclBinding(user, ResourceType.TOPIC, prefix + t, Operation.READ))
        if grant.group is not None:
            out.add(AclBinding(user, ResourceType.GROUP, prefix + grant.group, Operation.READ))
    return sorted(out)


async def create_acls(admin_access: KafkaAccess | str, bindings: Iterable[AclBinding]) -> int:
    """Create ``bindings`` (idempotent: the broker keeps one copy of an ACL). Returns how many were sent."""
    admin = AIOKafkaAdminClient(**client_options(admin_access))
    await admin.start()
    sent = 0
    try:
        node = admin._client.get_random_node()
        for b in bindings:
            request = CreateAclsRequest(
                int(b.resource_type), b.resource_name, int(b.pattern), b.principal, "*", int(b.operation), ALLOW
            )
            response = await admin._client.send(node, request)
            for code, message in response.creation_responses:
                if code != 0:
                    raise for_code(code)(f"creating the ACL '{b}' failed: {message}")
            sent += 1
    finally:
        await admin.close()
    return sent


async def describe_acls(admin_access: KafkaAccess | str, principal: str | None = None) -> list[AclBinding]:
    """The ALLOW rules the broker holds (of ``principal``, ``User:<name>``, or everyone's)."""
    admin = AIOKafkaAdminClient(**client_options(admin_access))
    await admin.start()
    try:
        node = admin._client.get_random_node()
        request = DescribeAclsRequest(
            int(ResourceType.ANY), None, int(PatternType.ANY), principal, None, int(Operation.ANY), ANY_PERMISSION
        )
        response = await admin._client.send(node, request)
        if response.error_code != 0:
            raise for_code(response.error_code)(response.error_message)
        out = []
        for resource_type, name, pattern, acls in response.resources:
            for who, _host, operation, permission in acls:
                try:
                    binding = AclBinding(
                        who, ResourceType(resource_type), name, Operation(operation), PatternType(pattern)
                    )
                except ValueError:  # an operation or resource this module does not grant (ALL, CREATE, …)
                    continue
                if permission == ALLOW:
                    out.append(binding)
        return sorted(out)
    finally:
        await admin.close()
