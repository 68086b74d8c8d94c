"""What should be true: the model the lifecycle state machine keeps, with the platform's documented rules as plain
functions (no I/O). The machine (``machine.py``) applies each API action to the platform and to this model and then
compares the two.

The rules come from the design (seed §4–§6, DESIGN §4) and the services' documented decisions:

* platform state (``definition.domain.status`` docstring): ``draft`` → approve → ``ready`` → online → ``online`` ⇄
  offline; any new version voids the approval (``ready`` falls back to ``draft``; ``online``/``offline`` keep their
  status and need approval again);
* publish (``check_publish``): deploy/online need the current version approved and a status other than ``draft``;
  online is refused while the platform is ``offline``; offline (DS release OFFLINE) needs a deployed workflow;
* the publisher (services/publisher/README.md "Decisions"): a deploy of unchanged content is skipped, a deploy keeps
  DS's release state, online releases ONLINE, an empty DAG fails;
* migration (``definition.domain.migration`` docstring): which tasks move per mode, which edges move, drop or bridge;
* lineage (DESIGN §4.6 and ``definition.service.projections.apply_dependency_change``): A writes a table B reads ⇒
  A → B; the edges inside one workflow of one lineage change become ONE new version (``lineage_change``), one across
  workflows or closing a cycle flags the workflows for a human (and the change is not applied to them in part).

The model is written independently of the services' code: it is the oracle, not a copy.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Edge = tuple[int, int]
Status = Literal["draft", "ready", "online", "offline", "archived"]
Operation = Literal["deploy", "online", "offline"]
Mode = Literal["only_current", "cascade_downstream", "cascade_up_and_downstream"]
RecordStatus = Literal["success", "failed", "skipped_unchanged"]

MODES: tuple[Mode, ...] = ("only_current", "cascade_downstream", "cascade_up_and_downstream")
OPERATIONS: tuple[Operation, ...] = ("deploy", "online", "offline")


@dataclass(frozen=True)
class TaskContent:
    """What a version's snapshot holds of a task (besides its id): it is copied into every version."""

    name: str
    task_type: Literal["SHELL", "SQL", "PYTHON"]
    #: the SHELL/PYTHON script or the SQL statement
    body: str


@dataclass(frozen=True)
class Version:
    no: int
    trigger: str
    name: str
    tasks: tuple[tuple[int, TaskContent], ...]
    edges: frozenset[Edge]

    @property
    def task_ids(self) -> frozenset[int]:
        return frozenset(t for t, _ in self.tasks)

    def content(self) -> tuple[str, tuple[tuple[int, TaskContent], ...], frozenset[Edge]]:
        """What decides whether two versions differ (a new version is written only when this changes)."""
        return (self.name, self.tasks, self.edges)


@dataclass
class Task:
    alias: str
    id: int
    content: TaskContent
    revision: int = 1
    owner: str | None = None
    reads: frozenset[str] = frozenset()
    writes: frozenset[str] = frozenset()


@dataclass
class PublishAttempt:
    """One publish record: a publish request (202) or a retry (201)."""

    request_id: str
    operation: Operation
    version_no: int
    status: RecordStatus
    record_id: int | None = None
    retry_of: int | None = None
    #: a failed record is retried once (by a person or by the publisher's restore)
    retried: bool = False


@dataclass
class Workflow:
    alias: str
    id: int
    versions: list[Version]
    status: Status = "draft"
    approved_no: int | None = None
    #: ``last_published_version_no``: the version DS holds (deploy/online success)
    deployed_no: int | None = None
    #: the content the publisher deployed last (its unchanged check)
    deployed_content: tuple[object, ...] | None = None
    #: the DS workflow code, set by the first successful deploy/online and never changed after
    ds_code: int | None = None
    #: DS release state as the publish operations left it (None: never deployed)
    ds_release: Literal["ONLINE", "OFFLINE"] | None = None
    publish_status: Literal["never_published", "pending", "published", "failed"] = "never_published"
    needs_attention: bool = False
    attempts: list[PublishAttempt] = field(default_factory=list)
    #: DS instances started by run now
    instances: list[int] = field(default_factory=list)
    #: versions whose snapshot and change summary were compared with the platform's
    versions_verified: int = 0

    @property
    def current(self) -> Version:
        return self.versions[-1]

    @property
    def pending_approval(self) -> bool:
        return self.approved_no != self.current.no


# --- platform state (approve / online / offline) ---------------------------------------------------------------


def allowed_actions(wf: Workflow) -> list[str]:
    """The platform actions the workflow accepts now, in the API's order (approve, online, offline, archive); an
    empty workflow cannot be approved; an archived one accepts nothing."""
    if wf.status == "archived":
        return []
    out = []
    if wf.pending_approval and wf.status != "ready" and wf.current.tasks:
        out.append("approve")
    if wf.status == "ready" or (wf.status == "offline" and wf.approved_no is not None):
        out.append("online")
    if wf.status == "online":
        out.append("offline")
    out.append("archive")
    return out


def apply_action(wf: Workflow, action: str) -> None:
    if action == "approve":
        wf.approved_no = wf.current.no
        if wf.status == "draft":
            wf.status = "ready"
    elif action == "online":
        wf.status = "online"
    elif action == "offline":
        wf.status = "offline"
    elif action == "archive":
        wf.status = "archived"
    else:  # pragma: no cover - the machine only sends the three
        raise ValueError(action)


def add_version(wf: Workflow, version: Version) -> None:
    """A new version became current: it needs approval; ``ready`` falls back to ``draft``."""
    assert version.no == wf.current.no + 1, (wf.alias, version.no, wf.current.no)
    wf.versions.append(version)
    if wf.status == "ready":
        wf.status = "draft"


# --- publish ---------------------------------------------------------------------------------------------------


def allowed_publish_operations(wf: Workflow) -> list[Operation]:
    out: list[Operation] = []
    approved = not wf.pending_approval
    if approved and wf.status not in ("draft", "archived"):
        out.append("deploy")
        if wf.status != "offline":
            out.append("online")
    if wf.ds_code is not None and wf.deployed_no is not None:
        out.append("offline")
    return out


def pinned_version(wf: Workflow, operation: Operation) -> int:
    """The version a permitted publish pins: the current one, or for offline the deployed one."""
    if operation == "offline":
        assert wf.deployed_no is not None
        return wf.deployed_no
    return wf.current.no


def deployed_content(version: Version) -> tuple[object, ...]:
    return ("deployed", *version.content())


def expected_record_status(
    wf: Workflow, operation: Operation, version: Version, *, ds_outage: bool, name_taken: bool = False
) -> RecordStatus:
    """How the publisher ends a publish of ``version`` (README "Decisions"). ``name_taken``: another platform
    workflow's DS workflow has the version's name (DS refuses a second workflow of that name, docs/lifecycle.md)."""
    if operation == "offline":
        return "failed" if ds_outage else "success"
    if not version.tasks:
        return "failed"  # DS rejects an empty task graph (caught before any DS call)
    if name_taken:
        return "failed"
    unchanged = wf.deployed_content == deployed_content(version)
    if operation == "deploy" and unchanged:
        return "skipped_unchanged"  # nothing is sent to DS
    return "failed" if ds_outage else "success"


def intended_release(wf: Workflow, operation: Operation) -> Literal["ONLINE", "OFFLINE"]:
    """The release state a publish means DS to hold at its end: a deploy keeps the one DS has."""
    if operation == "offline":
        return "OFFLINE"
    if operation == "online":
        return "ONLINE"
    return "ONLINE" if wf.ds_release == "ONLINE" else "OFFLINE"


def diverges_on_failure(wf: Workflow, operation: Operation) -> bool:
    """A failed publish that leaves DS other than intended: the publisher restores it by itself (its reconciler
    re-runs the publish). The machine's DS faults refuse every write, so DS holds what it held before."""
    return wf.ds_code is not None and wf.ds_release is not None and intended_release(wf, operation) != wf.ds_release


def apply_publish_outcome(wf: Workflow, operation: Operation, version: Version, status: RecordStatus) -> None:
    if status == "failed":
        wf.publish_status = "failed"
        return
    wf.publish_status = "published"
    if operation == "offline":
        wf.ds_release = "OFFLINE"
        return
    wf.deployed_no = version.no
    wf.deployed_content = deployed_content(version)
    if operation == "online":
        wf.ds_release = "ONLINE"
    elif wf.ds_release is None:
        wf.ds_release = "OFFLINE"  # a first deploy creates the DS workflow offline; later deploys keep the state


# --- DAGs ------------------------------------------------------------------------------------------------------


def has_cycle(nodes: Iterable[int], edges: Iterable[Edge]) -> bool:
    succ: dict[int, list[int]] = {}
    indeg = dict.fromkeys(nodes, 0)
    for u, v in edges:
        succ.setdefault(u, []).append(v)
        indeg[v] = indeg.get(v, 0) + 1
        indeg.setdefault(u, 0)
    ready = [n for n, d in indeg.items() if d == 0]
    seen = 0
    while ready:
        n = ready.pop()
        seen += 1
        for m in succ.get(n, ()):
            indeg[m] -= 1
            if indeg[m] == 0:
                ready.append(m)
    return seen != len(indeg)


def entry_exit(task_ids: Iterable[int], edges: Iterable[Edge]) -> tuple[list[int], list[int]]:
    ids = sorted(task_ids)
    es = list(edges)
    has_up = {v for _, v in es}
    has_down = {u for u, _ in es}
    return [t for t in ids if t not in has_up], [t for t in ids if t not in has_down]


def _reach(starts: Iterable[int], adj: Mapping[int, list[int]]) -> set[int]:
    seen = set(starts)
    stack = list(seen)
    while stack:
        for w in adj.get(stack.pop(), ()):
            if w not in seen:
                seen.add(w)
                stack.append(w)
    return seen


# --- migration -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MigrationPlan:
    moved: frozenset[int]
    source_tasks: frozenset[int]
    source_edges: frozenset[Edge]
    target_tasks: frozenset[int]
    target_edges: frozenset[Edge]
    bridged: frozenset[Edge]
    dropped: frozenset[Edge]
    #: lineage dependencies between a moved task and a task staying in the target (seed §4.6: they should become
    #: edges of the target, issue 15 #9)
    lineage_edges: frozenset[Edge]

    @property
    def source_emptied(self) -> bool:
        return not self.source_tasks


def plan_migration(source: Version, target: Version, task_id: int, mode: Mode, lineage: set[Edge]) -> MigrationPlan:
    """Which tasks move and what both DAGs become (``definition.domain.migration`` docstring)."""
    succ: dict[int, list[int]] = {}
    pred: dict[int, list[int]] = {}
    for u, v in source.edges:
        succ.setdefault(u, []).append(v)
        pred.setdefault(v, []).append(u)
    if mode == "only_current":
        moved = {task_id}
    elif mode == "cascade_downstream":
        moved = _reach([task_id], succ)
    else:
        ancestors, descendants = _reach([task_id], pred), _reach([task_id], succ)
        moved = ancestors | descendants | (_reach(ancestors, succ) & _reach(descendants, pred))
    kept = {(u, v) for u, v in source.edges if u not in moved and v not in moved}
    moved_edges = {(u, v) for u, v in source.edges if u in moved and v in moved}
    dropped = set(source.edges) - kept - moved_edges
    # bridging: staying A ⇝ staying B through moved tasks only becomes A → B
    bridged: set[Edge] = set()
    for a, y in sorted(e for e in dropped if e[1] in moved):
        inner = _reach([y], {k: [w for w in vs if w in moved] for k, vs in succ.items()})
        for x in inner:
            for b in succ.get(x, ()):
                if b not in moved and b != a and (a, b) not in kept:
                    bridged.add((a, b))
    target_tasks = target.task_ids | moved
    staying_in_target = target.task_ids
    lineage_edges = {
        (u, v) for u, v in lineage if (u in moved and v in staying_in_target) or (v in moved and u in staying_in_target)
    }
    return MigrationPlan(
        moved=frozenset(moved),
        source_tasks=source.task_ids - moved,
        source_edges=frozenset(kept | bridged),
        target_tasks=frozenset(target_tasks),
        target_edges=frozenset(set(target.edges) | moved_edges),
        bridged=frozenset(bridged),
        dropped=frozenset(dropped),
        lineage_edges=frozenset(lineage_edges),
    )


# --- lineage ---------------------------------------------------------------------------------------------------


def lineage_dependencies(tasks: Iterable[Task]) -> set[Edge]:
    """Task A writes a table task B reads ⇒ A → B (a task reading what it writes is no dependency of itself)."""
    ts = list(tasks)
    return {(a.id, b.id) for a in ts for b in ts if a.id != b.id and a.writes & b.reads}


def table_impact(tasks: Iterable[Task], table: str) -> tuple[dict[str, int], dict[int, int]]:
    """What a change to ``table`` reaches downstream, each at its shortest distance (lineage-resolver's steps: table
    → a task reading it 1, task → a table it writes 1; the model has no table-to-table lineage)."""
    ts = list(tasks)
    tables: dict[str, int] = {table: 0}
    reached: dict[int, int] = {}
    frontier = [table]
    step = 0
    while frontier:
        step += 1
        readers = [t for t in ts if t.reads & set(frontier) and t.id not in reached]
        for t in readers:
            reached[t.id] = step
        step += 1
        frontier = sorted({w for t in readers for w in t.writes if w not in tables})
        for w in frontier:
            tables[w] = step
    return tables, reached


def upstream_of(deps: set[Edge], task_id: int) -> set[int]:
    return {u for u, v in deps if v == task_id}


def downstream_of(deps: set[Edge], task_id: int) -> set[int]:
    return {v for u, v in deps if u == task_id}


# --- task-level metrics ------------------------------------------------------------------------------------------


def task_metrics_problems(row: Mapping[str, Any]) -> list[str]:
    """What is inconsistent in a task list row's ``metrics`` (history-sync's task-level metrics): a task in no
    workflow has none; otherwise at most 10 runs with distinct instances, succeeded <= finished <= runs with a task
    state, the success rate their ratio, p50 <= p90 and both only with a success."""
    m = row.get("metrics")
    if m is None:
        return []
    problems: list[str] = []
    if row.get("workflow_id") is None:
        problems.append("a task in no workflow has metrics")
    runs = m["runs"]
    ids = [c["instance_id"] for c in runs]
    if len(runs) > 10 or len(set(ids)) != len(ids):
        problems.append(f"runs must be at most 10 distinct instances: {ids}")
    with_state = sum(1 for c in runs if c["state"] is not None)
    if not m["succeeded"] <= m["finished"] <= with_state:
        problems.append(f"succeeded {m['succeeded']} <= finished {m['finished']} <= read runs {with_state} fails")
    rate = m["success_rate"]
    want = m["succeeded"] / m["finished"] if m["finished"] else None
    if (rate is None) != (want is None) or (rate is not None and want is not None and abs(rate - want) > 1e-9):
        problems.append(f"success rate {rate} is not {m['succeeded']}/{m['finished']}")
    p50, p90 = m["p50_seconds"], m["p90_seconds"]
    if (p50 is None) != (p90 is None) or (p50 is not None and p90 is not None and p50 > p90):
        problems.append(f"p50 {p50} / p90 {p90}")
    if p90 is not None and m["succeeded"] == 0:
        problems.append("durations without a successful run")
    return problems
