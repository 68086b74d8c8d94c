"""The lifecycle state machine: hypothesis drives the running platform through the gateway's public API with many
workflows alive at once, keeps a model of what should be true (``model.py``) and checks it after every step.

Layout (to add a rule for a new API action: one ``@rule`` that calls the API, states the expected answer from the
model, waits for the action's specific effect where Kafka is in between, updates the model and marks what it touched
dirty; an invariant is one ``@invariant`` method):

* rules, one per API action: register/edit task, lineage change (lineage-resolver's ``POST /internal/lineage``, its
  documented input: the gateway has no lineage endpoint), create/edit/rename workflow, migrate (preview, then
  execute; three modes), rollback, approve, platform online/offline, publish deploy/online/offline (optionally
  during a DS outage), retry a failed publish, run now, batch run and backfill, read an instance and its log,
  out-of-range reads;
* invariants, after every step: no 5xx (every call), list rows and task owners equal the model, one task in at
  most one workflow, detail equals the model, list rows agree with detail, versions contiguous (1..n, each with its
  trigger, summary and exact snapshot and change summary), a publish record for every publish attempt, DS holds
  exactly the last deployed version of every deployed workflow and one DS workflow per platform workflow, the task
  list's DS task codes are those DS holds, and no DS instance that the model did not start (none while the platform
  is offline).

Isolation: one example's names (workflows, tasks, lineage tables) share a unique prefix, and every check reads only
what carries it, so examples (and shrinking's replays) run one after another on the same stack.
Aliases (``W1``, ``T3``) name workflows and tasks in the step log and in hypothesis' draws; they do not depend on
database ids, so a shrunk repro reads the same on every run.
"""

from __future__ import annotations

import itertools
import os
import secrets
import time
import uuid
from typing import Any, ClassVar

from hypothesis import note
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from .checks import enforced
from .driver import Dolphin, Http, LifecycleStack, PlatformAnswerError, dag_view, problem_type, until
from .model import (
    MODES,
    OPERATIONS,
    Edge,
    Mode,
    Operation,
    PublishAttempt,
    RecordStatus,
    Task,
    TaskContent,
    Version,
    Workflow,
    add_version,
    allowed_actions,
    allowed_publish_operations,
    apply_action,
    apply_publish_outcome,
    diverges_on_failure,
    downstream_of,
    entry_exit,
    expected_record_status,
    has_cycle,
    lineage_dependencies,
    pinned_version,
    plan_migration,
    table_impact,
    task_metrics_problems,
    upstream_of,
)

#: SQL tasks use this DS datasource (the fixture registers it in the emulator)
DATASOURCE = "warehouse"
DATASOURCE_TYPE = "POSTGRESQL"
TASK_TYPES = ("SHELL", "SQL", "PYTHON")
#: how long one specific effect may take to cross Kafka (publish, lineage) before the step fails
EFFECT_TIMEOUT_S = 30.0
#: run now → the run in the workflow's executions (seed §6.4: a stale cache is refreshed live)
EXECUTIONS_TIMEOUT_S = 10.0
FINAL_RECORD = ("success", "failed", "skipped_unchanged")
#: enough to keep many workflows alive at once without letting registrations crowd out the other rules
MAX_TASKS = 8
MAX_WORKFLOWS = 6
#: reads whose numbers or text would reach PostgreSQL out of range
OUT_OF_RANGE = (
    "/api/v1/workflows/99999999999999999999",
    "/api/v1/workflows/9223372036854775808/versions",
    "/api/v1/workflows?page=2147483648",
    "/api/v1/tasks?page_size=201",
    "/api/v1/tasks/99999999999999999999",
    "/api/v1/workflows?name=%00",
)
#: actions a role may not take (common.roles): the key gets a 403 and nothing changes
ROLE_REFUSALS = (("viewer", "edit"), ("viewer", "archive"), ("viewer", "run"), ("viewer", "delete"),
                 ("editor", "approve"), ("editor", "publish"), ("editor", "run"), ("approver", "publish"),
                 ("approver", "edit"), ("publisher", "approve"),
                 # the machine scope of OpenLineage integrations (issue 21): sends lineage, changes nothing else
                 ("lineage", "edit"), ("lineage", "run"), ("lineage", "archive"))  # fmt: skip
#: the list row's fields the model knows, in the order ``list_rows_match_model`` compares them
_LIST_FIELDS = ("name", "status", "current_version_no", "approved", "last_published_version_no", "needs_attention",
                "task_count", "publish_status")  # fmt: skip

#: the step log also says what each step cost (``STATEFUL_VERBOSE=1``)
VERBOSE = bool(os.environ.get("STATEFUL_VERBOSE"))

_session_token = secrets.token_hex(3)
_examples = itertools.count(1)


def _edges_json(edges: set[Edge] | frozenset[Edge]) -> list[dict[str, int]]:
    return [{"upstream_task_id": u, "downstream_task_id": v} for u, v in sorted(edges)]


def _edges_of(body: dict[str, Any]) -> set[Edge]:
    return {(int(e["upstream_task_id"]), int(e["downstream_task_id"])) for e in body["edges"]}


def _pairs(raw: list[list[int]]) -> set[Edge]:
    return {(int(u), int(v)) for u, v in raw}


def _pieces(nodes: set[int], edges: set[Edge]) -> dict[int, int]:
    """The weakly connected piece of each node, by the edges between ``nodes`` (a union-find)."""
    parent = {n: n for n in nodes}

    def root(n: int) -> int:
        while parent[n] != n:
            parent[n] = parent[parent[n]]
            n = parent[n]
        return n

    for u, v in edges:
        if u in parent and v in parent:
            parent[root(u)] = root(v)
    return {n: root(n) for n in nodes}


class LifecycleMachine(RuleBasedStateMachine):
    """Bound to a running stack by :func:`machine_for`."""

    stack: ClassVar[LifecycleStack]

    def __init__(self) -> None:
        super().__init__()
        n = next(_examples)
        self.prefix = f"sm{_session_token}x{n}-"
        self.api = Http(self.stack.gateway())
        self.lineage_api = Http(self.stack.service("lineage-resolver"))
        em = self.stack.emulator
        self.ds = Dolphin(em.rest_url, em.access_token, em.base_url, self.stack.ds_project)
        self.tasks: dict[str, Task] = {}
        self.workflows: dict[str, Workflow] = {}
        self.names = itertools.count(1)
        #: aliases are never reused (a deleted workflow's or task's alias stays its own)
        self.task_aliases = itertools.count(1)
        self.task_alias_of: dict[int, str] = {}
        self.workflow_aliases_made = itertools.count(1)
        self.step_no = 0
        #: workflows the last step touched (their deep checks run after it)
        self.dirty: set[str] = set()
        #: DS version of each deployed workflow's DS code when its DAG was last compared (a clean workflow's DS
        #: definition must not change)
        self.ds_versions: dict[int, int] = {}
        #: task aliases whose lineage view changed in the last step
        self.lineage_dirty: set[str] = set()
        self.outage = False
        self.out_of_range_read = False
        #: the public API with keys of one role each (``without_the_role``)
        self.role_apis: dict[str, Http] = {}
        self.unknown_datasource_checked = False
        self.step_started, self.step_calls = time.monotonic(), 0
        self.log(f"example {n}: prefix {self.prefix}")

    # -- bookkeeping ------------------------------------------------------------------------------------------------

    def log(self, line: str) -> None:
        note(line)

    def begin(self, what: str) -> None:
        if VERBOSE and self.step_no:
            calls = self.api.calls - self.step_calls
            self.log(f"   ({calls} gateway calls, {time.monotonic() - self.step_started:.2f}s with the checks)")
        self.step_started, self.step_calls = time.monotonic(), self.api.calls
        self.step_no += 1
        self.dirty = set()
        self.lineage_dirty = set()
        self.log(f"#{self.step_no} {what}")

    def fresh_name(self, kind: str) -> str:
        return f"{self.prefix}{kind}{next(self.names)}"

    def task_by_id(self, task_id: int) -> Task:
        return next(t for t in self.tasks.values() if t.id == task_id)

    def alias_of_task(self, task_id: int) -> str:
        return self.task_alias_of[task_id]  # deleted tasks too (old versions name them)

    def task_list(self, ids: set[int] | frozenset[int]) -> str:
        return "{" + ", ".join(sorted((self.alias_of_task(i) for i in ids), key=lambda a: int(a[1:]))) + "}"

    def edge_list(self, edges: set[Edge] | frozenset[Edge]) -> str:
        return "{" + ", ".join(f"{self.alias_of_task(u)}→{self.alias_of_task(v)}" for u, v in sorted(edges)) + "}"

    def unassigned(self) -> list[str]:
        return sorted((a for a, t in self.tasks.items() if t.owner is None), key=lambda a: int(a[1:]))

    def owned(self) -> list[str]:
        return sorted((a for a, t in self.tasks.items() if t.owner is not None), key=lambda a: int(a[1:]))

    def workflow_aliases(self) -> list[str]:
        return sorted(self.workflows, key=lambda a: int(a[1:]))

    def pick(self, data: st.DataObject, label: str, allowed: list[str]) -> str:
        """A workflow: mostly one where the action is allowed (when there is one), sometimes any, so the refusals
        are checked too. Shrinks towards the first allowed one."""
        everyone = self.workflow_aliases()
        if allowed and data.draw(st.integers(0, 4), label=f"{label}: 0-3 where allowed, 4 any") < 4:
            return data.draw(st.sampled_from(allowed), label=label)
        return data.draw(st.sampled_from(everyone), label=label)

    def snapshot_of(self, task_ids: set[int] | frozenset[int]) -> tuple[tuple[int, TaskContent], ...]:
        """Task contents as a manual edit takes them: from the catalog."""
        return tuple(sorted((t, self.task_by_id(t).content) for t in task_ids))

    def set_owners(self, wf: Workflow, before: frozenset[int], after: frozenset[int]) -> None:
        for t in before - after:
            if self.task_by_id(t).owner == wf.alias:
                self.task_by_id(t).owner = None
        for t in after:
            self.task_by_id(t).owner = wf.alias

    def new_version(
        self, wf: Workflow, trigger: str, name: str, tasks: Any, edges: set[Edge] | frozenset[Edge]
    ) -> None:
        before = wf.current.task_ids
        version = Version(wf.current.no + 1, trigger, name, tuple(tasks), frozenset(edges))
        add_version(wf, version)
        self.set_owners(wf, before, version.task_ids)
        self.dirty.add(wf.alias)

    def draw_edges(self, data: st.DataObject, task_ids: list[int], keep: set[Edge]) -> set[Edge]:
        """``keep`` plus drawn edges between the tasks, each from an earlier to a later one in id order unless that
        closes a cycle with ``keep``."""
        ids = sorted(task_ids)
        edges = set(keep)
        if len(ids) < 2:
            return edges
        pairs = data.draw(
            st.lists(
                st.tuples(st.integers(0, len(ids) - 1), st.integers(0, len(ids) - 1)).filter(lambda p: p[0] < p[1]),
                max_size=len(ids),
                unique=True,
            ),
            label="edges (index pairs)",
        )
        for i, j in pairs:
            e = (ids[i], ids[j])
            if e not in edges and not has_cycle(ids, edges | {e}):
                edges.add(e)
        return edges

    def workflow_body(self, name: str, task_ids: set[int] | frozenset[int], edges: set[Edge]) -> dict[str, Any]:
        return {"name": name, "tasks": [{"task_id": t} for t in sorted(task_ids)], "edges": _edges_json(edges)}

    def detail(self, wf: Workflow) -> dict[str, Any]:
        body: dict[str, Any] = self.api.get(f"/api/v1/workflows/{wf.id}")
        return body

    # -- tasks ------------------------------------------------------------------------------------------------------

    def _task_params(self, task_type: str, body: str) -> dict[str, Any]:
        if task_type == "SQL":
            return {"datasource_name": DATASOURCE, "sql": body}
        return {"script": body}

    def _task_body(self, task_type: str, n: str) -> str:
        return {"SHELL": f"echo {n}", "PYTHON": f"print('{n}')", "SQL": f"insert into t select '{n}'"}[task_type]

    def _register(self, task_type: str) -> Task:
        name = self.fresh_name("t")
        content = TaskContent(name, task_type, self._task_body(task_type, name))  # type: ignore[arg-type]
        r = self.api.call(
            "POST",
            "/api/v1/tasks",
            expect=201,
            json_body={"name": name, "task_type": task_type, "params": self._task_params(task_type, content.body)},
        )
        body = r.json()
        assert (body["name"], body["task_type"], body["revision"], body["workflow_id"]) == (name, task_type, 1, None)
        alias = f"T{next(self.task_aliases)}"
        task = Task(alias, int(body["id"]), content)
        self.tasks[alias] = task
        self.task_alias_of[task.id] = alias
        return task

    @initialize()
    def two_workflows(self) -> None:
        """Start with something alive (every example pays a publish, but none needs its first ten steps to get a
        workflow into production): tasks T1 SHELL, T2 SQL, T3 PYTHON, T4 SHELL; W1 = T1 → T2 approved, online on
        the platform and published online; W2 = {T3, T4} a draft."""
        self.begin(
            "register T1 SHELL, T2 SQL, T3 PYTHON, T4 SHELL; W1 = T1 → T2 online (platform and DS), W2 = {T3, T4}"
        )
        t1, t2, _, _ = (self._register(task_type) for task_type in ("SHELL", "SQL", "PYTHON", "SHELL"))
        w1 = self._create(["T1", "T2"], {(t1.id, t2.id)})
        self._create(["T3", "T4"], set())
        self._act(w1, "approve", 1)
        self._act(w1, "online", 1)
        self._publish(w1, "online", ds_outage=False)

    @precondition(lambda self: len(self.tasks) < MAX_TASKS)
    @rule(task_type=st.sampled_from(TASK_TYPES))
    def register_task(self, task_type: str) -> None:
        self.begin(f"register a {task_type} task")
        task = self._register(task_type)
        self.log(f"   → {task.alias} (id {task.id})")

    @precondition(lambda self: not self.unknown_datasource_checked)
    @rule()
    def register_sql_task_with_unknown_datasource(self) -> None:
        """A SQL task whose datasource DS lacks is saved with a warning (issue 15 #12), and deleted again (it could
        never be published; a task in no workflow can be deleted)."""
        self.begin("register a SQL task on a datasource DS does not have, then delete it")
        self.unknown_datasource_checked = True
        name = self.fresh_name("t")
        body = {"name": name, "task_type": "SQL", "params": {"datasource_name": f"{name}-nowhere", "sql": "select 1"}}
        created = self.api.call("POST", "/api/v1/tasks", expect=201, json_body=body).json()
        assert [w["code"] for w in created["warnings"]] == ["unknown_datasource"], created["warnings"]
        self.api.call("DELETE", f"/api/v1/tasks/{created['id']}", expect=204)
        self.api.call("GET", f"/api/v1/tasks/{created['id']}", expect=404)
        self.log("   → 201 with the warning unknown_datasource; deleted (204)")

    @precondition(lambda self: self.tasks)
    @rule(data=st.data())
    def delete_task(self, data: st.DataObject) -> None:
        free = self.unassigned()
        if free and data.draw(st.integers(0, 4), label="task: 0-3 in no workflow, 4 any") < 4:
            alias = data.draw(st.sampled_from(free), label="task")
        else:
            alias = data.draw(st.sampled_from(sorted(self.tasks, key=lambda a: int(a[1:]))), label="task")
        task = self.tasks[alias]
        self.begin(f"delete task {alias} ({'in ' + task.owner if task.owner else 'in no workflow'})")
        if task.owner is not None:
            r = self.api.call("DELETE", f"/api/v1/tasks/{task.id}", expect=409)
            assert problem_type(r).endswith("task-in-use"), r.text
            self.log(f"   → 409 {problem_type(r)}")
            return
        before = lineage_dependencies(self.tasks.values())
        self.api.call("DELETE", f"/api/v1/tasks/{task.id}", expect=204)
        del self.tasks[alias]
        after = lineage_dependencies(self.tasks.values())
        # lineage forgets its reads and writes (lineage.changed task_removed): its neighbours lose it
        changes = [
            {"task_id": t.id, "new_upstream": sorted(upstream_of(after, t.id)),
             "new_downstream": sorted(downstream_of(after, t.id))}
            for t in self.tasks.values()
            if (upstream_of(before, t.id), downstream_of(before, t.id))
            != (upstream_of(after, t.id), downstream_of(after, t.id))
        ]  # fmt: skip
        self.lineage_dirty.update(self.alias_of_task(int(str(c["task_id"]))) for c in changes)
        self._wait_for_dependency_projection(changes)
        self.log(f"   → 204; dependencies now {self.edge_list(after)}")

    @precondition(lambda self: self.tasks)
    @rule(data=st.data())
    def edit_task(self, data: st.DataObject) -> None:
        alias = data.draw(st.sampled_from(sorted(self.tasks, key=lambda a: int(a[1:]))), label="task")
        stale = data.draw(st.integers(0, 4), label="revision: 0-3 current, 4 stale") == 4
        task = self.tasks[alias]
        self.begin(f"edit task {alias}{' (stale revision)' if stale else ''}")
        body = self._task_body(task.content.task_type, self.fresh_name("edit"))
        payload = {
            "name": task.content.name,
            "task_type": task.content.task_type,
            "params": self._task_params(task.content.task_type, body),
            "expected_revision": task.revision - 1 if stale else task.revision,
        }
        if stale:
            if task.revision == 1:
                payload["expected_revision"] = 2  # ahead is as stale as behind
            r = self.api.call("PUT", f"/api/v1/tasks/{task.id}", expect=409, json_body=payload)
            self.log(f"   → 409 {problem_type(r)}")
            return
        r = self.api.call("PUT", f"/api/v1/tasks/{task.id}", expect=200, json_body=payload)
        assert r.json()["revision"] == task.revision + 1, r.json()
        task.revision += 1
        task.content = TaskContent(task.content.name, task.content.task_type, body)
        self.log(f"   → revision {task.revision}")
        if task.owner is not None:
            wf = self.workflows[task.owner]
            tasks = tuple((t, task.content if t == task.id else c) for t, c in wf.current.tasks)
            self.new_version(wf, "task_change", wf.current.name, tasks, wf.current.edges)
            self.log(f"   → {wf.alias} v{wf.current.no} (task_change)")

    # -- lineage ----------------------------------------------------------------------------------------------------

    @precondition(lambda self: len(self.tasks) >= 2)
    @rule(data=st.data())
    def change_lineage(self, data: st.DataObject) -> None:
        alias = data.draw(st.sampled_from(sorted(self.tasks, key=lambda a: int(a[1:]))), label="task")
        side = data.draw(st.sampled_from(("write_tables", "read_tables")), label="side")
        tables = data.draw(st.lists(st.sampled_from(("a", "b", "c")), unique=True, max_size=2), label="tables")
        task = self.tasks[alias]
        full = sorted(f"{self.prefix}lineage.{t}" for t in tables)
        self.begin(f"lineage: {alias} {side.split('_')[0]}s {{{', '.join(sorted(tables))}}}")
        before = lineage_dependencies(self.tasks.values())
        if side == "write_tables":
            task.writes = frozenset(full)
        else:
            task.reads = frozenset(full)
        after = lineage_dependencies(self.tasks.values())
        r = self.lineage_api.call("POST", "/internal/lineage", expect=200, json_body={"task_id": task.id, side: full})
        changes = sorted(r.json()["changes"], key=lambda c: int(c["task_id"]))
        expected = {
            t.id: (upstream_of(before, t.id), upstream_of(after, t.id), downstream_of(before, t.id),
                   downstream_of(after, t.id))
            for t in self.tasks.values()
            if (upstream_of(before, t.id), downstream_of(before, t.id))
            != (upstream_of(after, t.id), downstream_of(after, t.id))
        }  # fmt: skip
        got = {
            int(c["task_id"]): (
                set(c["old_upstream"]),
                set(c["new_upstream"]),
                set(c["old_downstream"]),
                set(c["new_downstream"]),
            )
            for c in changes
        }
        assert got == expected, f"lineage-resolver's dependency changes: got {got}, the model expects {expected}"
        self.log(f"   dependencies now {self.edge_list(after)}")
        self._apply_dependency_changes(changes)
        self._wait_for_dependency_projection(changes)

    @precondition(lambda self: any(t.reads or t.writes for t in self.tasks.values()))
    @rule(data=st.data())
    def read_table_lineage(self, data: st.DataObject) -> None:
        """A table's lineage and its impact through the gateway (issue 21 item 3) equal the model's reads and writes:
        its writers and readers one hop out, every task downstream once at its shortest distance with a path ending
        at it, their workflows once; a table no task touches is 404 ``unknown-table``. Read-only."""
        short = data.draw(st.sampled_from(("a", "b", "c")), label="table")
        table = f"{self.prefix}lineage.{short}"
        self.begin(f"table lineage and impact of {short}")
        tasks = list(self.tasks.values())
        if not any(table in t.reads | t.writes for t in tasks):
            for what in ("table", "impact"):
                r = self.api.call("GET", f"/api/v1/lineage/{what}", expect=404, params={"name": table})
                assert problem_type(r).endswith("unknown-table"), r.text
            self.log("   → 404 unknown-table")
            return
        view = self.api.get("/api/v1/lineage/table", name=table, depth=1)
        writers = {t.id for t in tasks if table in t.writes}
        readers = {t.id for t in tasks if table in t.reads}
        got_up = {x["task_id"] for x in view["tasks"] if x["upstream_distance"] == 1}
        got_down = {x["task_id"] for x in view["tasks"] if x["downstream_distance"] == 1}
        assert (got_up, got_down) == (writers, readers), (
            f"writers/readers {got_up}/{got_down}, model {writers}/{readers}"
        )
        impact = self.api.get("/api/v1/lineage/impact", name=table, depth=20)
        want_tables, want_tasks = table_impact(tasks, table)
        got_tasks = {x["task_id"]: x["distance"] for x in impact["tasks"]}
        assert got_tasks == want_tasks, f"impact tasks {got_tasks}, the model reaches {want_tasks}"
        assert {x["table"]: x["distance"] for x in impact["tables"]} == {
            k: v for k, v in want_tables.items() if k != table
        }
        for x in impact["tasks"]:
            path = x["path"]
            assert (path[0].get("table"), path[-1].get("task_id"), len(path)) == (
                table,
                x["task_id"],
                x["distance"] + 1,
            )
        owners = {self.workflows[t.owner].id for t in tasks if t.id in want_tasks and t.owner is not None}
        assert {w["workflow_id"] for w in impact["workflows"]} == owners
        assert len(impact["workflows"]) == len(owners), "each affected workflow once"
        reached = self.task_list(set(want_tasks))
        self.log(f"   → writers {self.task_list(writers)}, readers {self.task_list(readers)}; impact {reached}")

    def _apply_dependency_changes(self, changes: list[dict[str, Any]]) -> None:
        """What the definition service does with the ``task.dependency.changed`` of one lineage change (DESIGN §4.6;
        the decisions in ``definition.service.projections.apply_dependency_change``): a task with a cycle, or a new
        link across workflows, flags its workflows; the links inside a workflow that the lineage change did not flag
        become ONE version of it (whichever end's event and partition comes first), or flag it when they close a
        cycle."""
        owners = {x.id: x.owner for x in self.tasks.values() if x.owner is not None}
        flagged: dict[str, str] = {}
        inside: dict[str, set[Edge]] = {}
        gone: dict[str, set[Edge]] = {}
        for c in changes:
            t = int(c["task_id"])
            self.lineage_dirty.add(self.alias_of_task(t))
            old_up, new_up = set(c["old_upstream"]), set(c["new_upstream"])
            old_down, new_down = set(c["old_downstream"]), set(c["new_downstream"])
            added = [(u, t) for u in sorted(new_up - old_up)] + [(t, d) for d in sorted(new_down - old_down)]
            removed = [(u, t) for u in sorted(old_up - new_up)] + [(t, d) for d in sorted(old_down - new_down)]
            home = owners.get(t)
            if home is None:
                continue
            if c.get("cycle"):
                for a in {home} | {owners[x] for x in c["cycle"]["task_path"] if x in owners}:
                    flagged.setdefault(a, f"lineage cycle through {self.alias_of_task(t)}")
                continue
            relevant = [e for e in added if e[0] in owners and e[1] in owners]
            cross = [e for e in relevant if owners[e[0]] != owners[e[1]]]
            if cross:
                for a in {home} | {owners[x] for e in cross for x in e}:
                    flagged.setdefault(a, f"cross-workflow {self.edge_list(set(cross))}")
                continue
            inside.setdefault(home, set()).update(relevant)
            gone.setdefault(home, set()).update(
                e for e in removed if owners.get(e[0]) == home and owners.get(e[1]) == home
            )
        for a, why in sorted(flagged.items()):
            self._flag({a}, why)
        for home in sorted(set(inside) | set(gone)):
            if home in flagged:
                continue  # a lineage change that flagged the workflow is not applied to it in part
            wf = self.workflows[home]
            current = set(wf.current.edges)
            edges = (current | inside.get(home, set())) - gone.get(home, set())
            if edges == current:
                continue
            if has_cycle(wf.current.task_ids, edges):
                self._flag({home}, "would close a cycle")
                continue
            self.new_version(wf, "lineage_change", wf.current.name, wf.current.tasks, edges)
            self.log(f"   → {wf.alias} v{wf.current.no} (lineage_change): edges {self.edge_list(edges)}")

    def _flag(self, aliases: set[str], why: str) -> None:
        for a in sorted(aliases):
            self.workflows[a].needs_attention = True
            self.dirty.add(a)
        self.log(f"   → needs attention: {', '.join(sorted(aliases))} ({why})")

    def _wait_for_dependency_projection(self, changes: list[dict[str, Any]]) -> None:
        """Bounded wait until the definition service applied every ``task.dependency.changed`` of the change: its
        projection (the task list's counts and filters) holds each changed task's new sets. It writes the
        projection in the same transaction as any version the event causes."""

        def applied() -> bool:
            rows = {int(t["id"]): t for t in self.api.pages("/api/v1/tasks", name=self.prefix)}
            for c in changes:
                t = int(c["task_id"])
                row = rows[t]
                if (row["upstream_count"], row["downstream_count"]) != (
                    len(c["new_upstream"]),
                    len(c["new_downstream"]),
                ):
                    return False
                for u in c["new_upstream"]:
                    if t not in {int(x["id"]) for x in self.api.pages("/api/v1/tasks", upstreamTaskId=u)}:
                        return False
                for d in c["new_downstream"]:
                    if t not in {int(x["id"]) for x in self.api.pages("/api/v1/tasks", downstreamTaskId=d)}:
                        return False
            return True

        if changes:
            until(
                applied,
                "the definition service's dependency projection after the lineage change",
                timeout_s=EFFECT_TIMEOUT_S,
            )

    # -- workflows: create, edit, rename --------------------------------------------------------------------------

    def _create(self, chosen: list[str], edges: set[Edge], name: str | None = None) -> Workflow:
        ids = {self.tasks[a].id for a in chosen}
        name = name or self.fresh_name("w")
        alias = f"W{next(self.workflow_aliases_made)}"
        self.log(f"   create {alias} with {self.task_list(ids)}, edges {self.edge_list(edges)}")
        r = self.api.call("POST", "/api/v1/workflows", expect=201, json_body=self.workflow_body(name, ids, edges))
        body = r.json()
        assert (body["current_version_no"], body["status"], body["publish_status"]) == (1, "draft", "never_published")
        wf = Workflow(
            alias, int(body["id"]), [Version(1, "manual_edit", name, self.snapshot_of(ids), frozenset(edges))]
        )
        self.workflows[alias] = wf
        self.set_owners(wf, frozenset(), frozenset(ids))
        self.dirty.add(alias)
        self.log(f"   → {alias} (id {wf.id}) v1")
        return wf

    @precondition(lambda self: self.unassigned() and len(self.workflows) < MAX_WORKFLOWS)
    @rule(
        data=st.data(),
        variant=st.sampled_from(("ok", "ok", "ok", "owned task", "taken name", "blank name", "a name given up")),
    )
    def create_workflow(self, data: st.DataObject, variant: str) -> None:
        free = self.unassigned()
        chosen = data.draw(st.lists(st.sampled_from(free), min_size=1, max_size=4, unique=True), label="tasks")
        ids = {self.tasks[a].id for a in chosen}
        edges = self.draw_edges(data, sorted(ids), set())
        name = self.fresh_name("w")
        if variant == "owned task" and self.owned():
            other = data.draw(st.sampled_from(self.owned()), label="owned task")
            self.begin(f"create a workflow with {self.task_list(ids)} and {other}, owned by {self.tasks[other].owner}")
            body = self.workflow_body(name, ids | {self.tasks[other].id}, edges)
            r = self.api.call("POST", "/api/v1/workflows", expect=409, json_body=body)
            assert problem_type(r).endswith("task-owned-by-another-workflow"), r.text
            self.log(f"   → 409 {problem_type(r)}")
            return
        if variant == "taken name" and self.workflows:
            other = data.draw(st.sampled_from(self.workflow_aliases()), label="workflow whose name is taken")
            self.begin(f"create a workflow named like {other} with {self.task_list(ids)}")
            body = self.workflow_body(self.workflows[other].current.name, ids, edges)
            r = self.api.call("POST", "/api/v1/workflows", expect=409, json_body=body)
            self.log(f"   → 409 {problem_type(r)}")
            return
        if variant == "blank name":
            blank = data.draw(st.sampled_from((" ", "   ", "\t")), label="blank name")
            self.begin(f"create a workflow named {blank!r} with {self.task_list(ids)}, and a task named so")
            r = self.api.call("POST", "/api/v1/workflows", expect=422, json_body=self.workflow_body(blank, ids, edges))
            self.log(f"   → 422 {problem_type(r)}")
            task = {"name": blank, "task_type": "SHELL", "params": {"script": "echo"}}
            r = self.api.call("POST", "/api/v1/tasks", expect=422, json_body=task)
            self.log(f"   task → 422 {problem_type(r)}")
            return
        given_up = self._names_given_up()
        if variant == "a name given up" and given_up and enforced("ds_name_reuse_refused"):
            # a name a workflow had before a rename is free on the platform, but its DS workflow may still carry it
            old = data.draw(st.sampled_from(given_up), label="name given up")
            self.begin(f"create a workflow with {self.task_list(ids)} named {old.removeprefix(self.prefix)}, given up")
            self._create(chosen, edges, old)
            return
        self.begin(f"create a workflow with {self.task_list(ids)}")
        self._create(chosen, edges)

    def _names_given_up(self) -> list[str]:
        """Names workflows had in earlier versions and no workflow has now (archived ones keep theirs)."""
        current = {w.current.name for w in self.workflows.values()}
        return sorted({v.name for w in self.workflows.values() for v in w.versions} - current)

    @precondition(lambda self: self.workflows)
    @rule(data=st.data())
    def edit_workflow(self, data: st.DataObject) -> None:
        alias = data.draw(st.sampled_from(self.workflow_aliases()), label="workflow")
        wf = self.workflows[alias]
        if wf.status == "archived":
            self.begin(f"edit {alias}, archived")
            body = self.workflow_body(wf.current.name, wf.current.task_ids, set(wf.current.edges))
            body["expected_version_no"] = wf.current.no
            r = self.api.call("PUT", f"/api/v1/workflows/{wf.id}", expect=409, json_body=body)
            assert problem_type(r).endswith("workflow-archived"), r.text
            self.log(f"   → 409 {problem_type(r)}")
            return
        current = sorted(wf.current.task_ids)
        keep = data.draw(st.sets(st.sampled_from(current)) if current else st.just(set()), label="keep tasks")
        free = self.unassigned()
        add = data.draw(st.lists(st.sampled_from(free), unique=True, max_size=3) if free else st.just([]), label="add")
        variant = data.draw(st.sampled_from(("ok", "ok", "ok", "stale", "owned task")), label="variant")
        ids = set(keep) | {self.tasks[a].id for a in add}
        if not ids:
            ids = {current[0]} if current else set()
        if not ids:
            return  # an emptied workflow and no free task: nothing to edit it into
        kept_edges = {e for e in wf.current.edges if e[0] in ids and e[1] in ids}
        edges = self.draw_edges(data, sorted(ids), kept_edges)
        body = self.workflow_body(wf.current.name, ids, edges) | {"expected_version_no": wf.current.no}
        if variant == "stale":
            self.begin(f"edit {alias} based on v{wf.current.no - 1} (stale)")
            body["expected_version_no"] = wf.current.no - 1
            r = self.api.call("PUT", f"/api/v1/workflows/{wf.id}", expect=409, json_body=body)
            assert problem_type(r).endswith("stale-version"), r.text
            self.log(f"   → 409 {problem_type(r)}")
            return
        others = [a for a in self.owned() if self.tasks[a].owner != alias]
        if variant == "owned task" and others:
            other = data.draw(st.sampled_from(others), label="owned task")
            self.begin(f"edit {alias} to take {other} of {self.tasks[other].owner}")
            body["tasks"].append({"task_id": self.tasks[other].id})
            r = self.api.call("PUT", f"/api/v1/workflows/{wf.id}", expect=409, json_body=body)
            assert problem_type(r).endswith("task-owned-by-another-workflow"), r.text
            self.log(f"   → 409 {problem_type(r)}")
            return
        self.begin(f"edit {alias}: tasks {self.task_list(ids)}, edges {self.edge_list(edges)}")
        self._put_workflow(wf, wf.current.name, ids, edges)

    def _put_workflow(self, wf: Workflow, name: str, ids: set[int], edges: set[Edge]) -> None:
        body = self.workflow_body(name, ids, edges) | {"expected_version_no": wf.current.no}
        r = self.api.call("PUT", f"/api/v1/workflows/{wf.id}", expect=200, json_body=body)
        candidate = Version(wf.current.no + 1, "manual_edit", name, self.snapshot_of(ids), frozenset(edges))
        if candidate.content() == wf.current.content():
            self.log(f"   → unchanged: still v{wf.current.no}")
        else:
            self.new_version(wf, "manual_edit", name, candidate.tasks, edges)
            wf.needs_attention = False
            self.log(f"   → {wf.alias} v{wf.current.no}")
        self.dirty.add(wf.alias)
        assert r.json()["current_version_no"] == wf.current.no, r.json()

    @precondition(lambda self: any(w.current.tasks and w.status != "archived" for w in self.workflows.values()))
    @rule(data=st.data())
    def rename_workflow(self, data: st.DataObject) -> None:
        with_tasks = [
            a
            for a in self.workflow_aliases()
            if self.workflows[a].current.tasks and self.workflows[a].status != "archived"
        ]
        deployed = [a for a in with_tasks if self.workflows[a].ds_code is not None]
        if deployed and data.draw(st.integers(0, 4), label="workflow: 0-3 one in DS, 4 any") < 4:
            with_tasks = deployed
        alias = data.draw(st.sampled_from(with_tasks), label="workflow")
        wf = self.workflows[alias]
        name = self.fresh_name("w")
        self.begin(f"rename {alias} to {name.removeprefix(self.prefix)}")
        self._put_workflow(wf, name, set(wf.current.task_ids), set(wf.current.edges))

    # -- migration --------------------------------------------------------------------------------------------------

    @precondition(lambda self: self.owned() and len(self.workflows) >= 2)
    @rule(data=st.data(), mode=st.sampled_from(MODES), allow_empty=st.booleans())
    def migrate_task(self, data: st.DataObject, mode: Mode, allow_empty: bool) -> None:
        # mostly the move a lineage link across workflows asks for (needs_attention says: migrate), when there is one
        across = sorted(
            {
                (self.alias_of_task(mover), self.task_by_id(other).owner or "")
                for u, v in lineage_dependencies(self.tasks.values())
                for mover, other in ((u, v), (v, u))
                if self.task_by_id(mover).owner and self.task_by_id(other).owner
                and self.task_by_id(mover).owner != self.task_by_id(other).owner
                and self.workflows[self.task_by_id(other).owner or ""].status != "archived"
            }
        )  # fmt: skip
        if across and data.draw(st.integers(0, 4), label="move: 0-3 next to a lineage link, 4 any") < 4:
            task_alias, target_alias = data.draw(st.sampled_from(across), label="(task, target)")
        else:
            task_alias = data.draw(st.sampled_from(self.owned()), label="task")
            owner = self.tasks[task_alias].owner
            others = [a for a in self.workflow_aliases() if a != owner and self.workflows[a].status != "archived"]
            if not others:
                return  # every other workflow is archived: nowhere to move it
            target_alias = data.draw(st.sampled_from(others), label="target")
        task = self.tasks[task_alias]
        assert task.owner is not None
        source = self.workflows[task.owner]
        target = self.workflows[target_alias]
        self.begin(
            f"migrate {task_alias} from {source.alias} to {target.alias} ({mode}"
            f"{', empty source allowed' if allow_empty else ''}): preview, then execute"
        )
        lineage = lineage_dependencies(self.tasks.values())
        plan = plan_migration(source.current, target.current, task.id, mode, lineage)
        request = {"task_id": task.id, "target_workflow_id": target.id, "mode": mode, "allow_empty_source": allow_empty}
        if plan.source_emptied and not allow_empty:
            r = self.api.call("POST", "/api/v1/migrations/preview", expect=409, json_body=request)
            assert problem_type(r).endswith("migration-empties-workflow"), r.text
            self.log(f"   → preview 409 {problem_type(r)}")
            execute = request | {
                "expected_source_version_no": source.current.no,
                "expected_target_version_no": target.current.no,
            }
            self.api.call("POST", "/api/v1/migrations", expect=409, json_body=execute)
            self.log("   → execute 409")
            return
        preview = self.api.call("POST", "/api/v1/migrations/preview", expect=200, json_body=request).json()
        target_edges = self._check_preview(preview, plan, source, target)
        execute = request | {
            "expected_source_version_no": source.current.no,
            "expected_target_version_no": target.current.no,
        }
        result = self.api.call("POST", "/api/v1/migrations", expect=200, json_body=execute).json()
        assert result["preview"]["moved_task_ids"] == preview["moved_task_ids"], (result["preview"], preview)
        source_contents = dict(source.current.tasks)
        target_tasks = tuple(
            sorted(
                [*target.current.tasks, *((t, source_contents[t]) for t in plan.moved)],
            )
        )
        source_tasks = tuple((t, c) for t, c in source.current.tasks if t not in plan.moved)
        self.new_version(source, "migration", source.current.name, source_tasks, plan.source_edges)
        self.new_version(target, "migration", target.current.name, target_tasks, target_edges)
        for t in plan.moved:
            self.task_by_id(t).owner = target.alias
        source.needs_attention = target.needs_attention = False
        self.log(
            f"   → moved {self.task_list(plan.moved)}; {source.alias} v{source.current.no} "
            f"{self.task_list(source.current.task_ids)} {self.edge_list(source.current.edges)}, {target.alias} "
            f"v{target.current.no} {self.task_list(target.current.task_ids)} {self.edge_list(target.current.edges)}"
        )
        for side, wf in (("source", source), ("target", target)):
            got = result[side]
            assert (got["id"], got["current_version_no"]) == (wf.id, wf.current.no), (side, got["current_version_no"])
            assert _edges_of(got) == set(wf.current.edges), (side, got["edges"], sorted(wf.current.edges))

    def _check_preview(self, preview: dict[str, Any], plan: Any, source: Workflow, target: Workflow) -> set[Edge]:
        """The preview against the model's plan; returns the target's edges (the plan's, plus the lineage-derived
        edges the platform added, see ``migration_applies_lineage``)."""
        assert set(preview["moved_task_ids"]) == set(plan.moved), (preview["moved_task_ids"], sorted(plan.moved))
        assert set(preview["source_after"]["task_ids"]) == set(plan.source_tasks), preview["source_after"]
        assert _pairs(preview["source_after"]["edges"]) == set(plan.source_edges), (
            "source edges after the migration",
            preview["source_after"]["edges"],
            sorted(plan.source_edges),
        )
        assert _pairs(preview["bridged_edges"]) == set(plan.bridged), (preview["bridged_edges"], sorted(plan.bridged))
        assert preview["source_emptied"] == plan.source_emptied, preview
        assert set(preview["target_after"]["task_ids"]) == set(plan.target_tasks), preview["target_after"]
        assert (preview["source_version_no"], preview["target_version_no"]) == (source.current.no, target.current.no)
        got = _pairs(preview["target_after"]["edges"])
        extra = got - set(plan.target_edges)
        missing = set(plan.target_edges) - got
        assert not missing, f"target edges {self.edge_list(missing)} missing after the migration"
        assert extra <= plan.lineage_edges, (
            f"target edges {self.edge_list(extra)} that neither the DAGs nor lineage give"
        )
        assert not has_cycle(plan.target_tasks, got)
        # a migration applies the lineage-derived edges to the target, or names the one it leaves out (issue 15 #9)
        warned = {
            frozenset(w.get("task_ids") or ()) for w in preview["warnings"] if w["code"] not in ("schedule_differs",)
        }
        unexplained = {e for e in plan.lineage_edges - got if not any({e[0], e[1]} <= w for w in warned)}
        assert not unexplained, (
            f"lineage dependencies {self.edge_list(unexplained)} between moved tasks and the target's tasks "
            "neither became edges nor were explained in the preview's warnings"
        )
        return got

    # -- rollback ---------------------------------------------------------------------------------------------------

    @precondition(lambda self: any(len(w.versions) >= 2 for w in self.workflows.values()))
    @rule(data=st.data())
    def rollback(self, data: st.DataObject) -> None:
        alias = data.draw(
            st.sampled_from([a for a in self.workflow_aliases() if len(self.workflows[a].versions) >= 2]),
            label="workflow",
        )
        wf = self.workflows[alias]
        to = data.draw(st.integers(1, wf.current.no - 1), label="to version")
        old = wf.versions[to - 1]
        self.begin(f"roll {alias} back to v{to} ({self.task_list(old.task_ids)} {self.edge_list(old.edges)})")
        body = {"to_version_no": to, "expected_version_no": wf.current.no}
        if wf.status == "archived":
            r = self.api.call("POST", f"/api/v1/workflows/{wf.id}/rollback", expect=409, json_body=body)
            assert problem_type(r).endswith("workflow-archived"), r.text
            self.log(f"   → 409 {problem_type(r)}")
            return
        gone = [t for t in old.task_ids if t not in {x.id for x in self.tasks.values()}]
        if gone:
            r = self.api.call("POST", f"/api/v1/workflows/{wf.id}/rollback", expect={404, 422}, json_body=body)
            self.log(f"   → {r.status_code} {problem_type(r)} (tasks {self.task_list(set(gone))} were deleted)")
            return
        taken = [t for t in old.task_ids if self.task_by_id(t).owner not in (None, alias)]
        name_taken = any(w.current.name == old.name for a, w in self.workflows.items() if a != alias)
        if not old.tasks:
            r = self.api.call("POST", f"/api/v1/workflows/{wf.id}/rollback", expect=422, json_body=body)
            self.log(f"   → 422 {problem_type(r)} (v{to} has no tasks)")
            return
        if taken or name_taken:
            r = self.api.call("POST", f"/api/v1/workflows/{wf.id}/rollback", expect=409, json_body=body)
            why = f"tasks {self.task_list(set(taken))} are in other workflows" if taken else "its name is taken"
            self.log(f"   → 409 {problem_type(r)} ({why})")
            return
        r = self.api.call("POST", f"/api/v1/workflows/{wf.id}/rollback", expect=200, json_body=body)
        left = set(wf.current.task_ids - old.task_ids)
        if old.content() == wf.current.content():
            self.log(f"   → unchanged: still v{wf.current.no}")
            left = set()
        else:
            self.new_version(wf, "rollback", old.name, old.tasks, old.edges)
            wf.needs_attention = False
            self.log(f"   → v{wf.current.no}{f', leaves {self.task_list(left)} in no workflow' if left else ''}")
        # a rollback says which tasks it leaves in no workflow (issue 15 #9)
        assert set(r.json()["unassigned_task_ids"]) == left, (r.json()["unassigned_task_ids"], sorted(left))
        self.dirty.add(alias)
        assert r.json()["current_version_no"] == wf.current.no, r.json()

    # -- platform state ---------------------------------------------------------------------------------------------

    def _platform_action(self, data: st.DataObject, action: str) -> None:
        """approve, platform online/offline, archive: one rule each (below), one way to pick and check them."""
        alias = self.pick(data, "workflow", [a for a, w in self.workflows.items() if action in allowed_actions(w)])
        wf = self.workflows[alias]
        reviewed = wf.current.no
        older = action == "approve" and wf.current.no > 1
        if older and data.draw(st.integers(0, 4), label="reviewed: 0-3 the current version, 4 the one before") == 4:
            reviewed = wf.current.no - 1
        self.begin(
            f"{action} {alias}{f' v{reviewed}' if action == 'approve' else ''} (status {wf.status}, "
            f"v{wf.current.no}, approved v{wf.approved_no}, {len(wf.current.tasks)} tasks)"
        )
        self._act(wf, action, reviewed)

    def _act(self, wf: Workflow, action: str, reviewed: int, *, ds_diverged: bool = False) -> None:
        """``ds_diverged``: a failed publish left DS other than intended and the publisher is restoring it; the
        platform then takes DS offline whatever it held (the offline publish is newer and ends the restore)."""
        self.dirty.add(wf.alias)
        body = {"version_no": reviewed} if action == "approve" else None
        if reviewed != wf.current.no:
            r = self.api.call("POST", f"/api/v1/workflows/{wf.id}/{action}", expect=409, json_body=body)
            assert problem_type(r).endswith("stale-version"), r.text
            self.log(f"   → 409 {problem_type(r)}")
            return
        expect = 200 if action in allowed_actions(wf) else 409
        r = self.api.call("POST", f"/api/v1/workflows/{wf.id}/{action}", expect=expect, json_body=body)
        if r.status_code == 409:
            assert problem_type(r).endswith("invalid-transition"), r.text
            self.log(f"   → 409 {problem_type(r)}")
            return
        # platform offline forbids new instances, archive is for good: a workflow DS runs goes offline there too
        takes_ds_offline = action in ("offline", "archive") and "offline" in allowed_publish_operations(wf)
        takes_ds_offline = takes_ds_offline and (wf.ds_release != "OFFLINE" or ds_diverged)
        apply_action(wf, action)
        answer = r.json()
        assert (answer["status"], answer["approved"]) == (wf.status, not wf.pending_approval), answer
        self.log(f"   → {wf.status}")
        if action == "archive":
            for t in wf.current.task_ids:  # its tasks are free for other workflows; its history stays
                self.task_by_id(t).owner = None
            wf.needs_attention = False
        if takes_ds_offline:
            assert wf.deployed_no is not None
            attempt = PublishAttempt("", "offline", wf.deployed_no, "success")
            wf.attempts.append(attempt)
            wf.publish_status = "pending"
            if not ds_diverged:  # else its record ends the restore: ``_await_restore`` takes it
                self._finish_publish(wf, attempt, wf.versions[wf.deployed_no - 1])

    @precondition(lambda self: any("approve" in allowed_actions(w) for w in self.workflows.values()))
    @rule(data=st.data())
    def approve(self, data: st.DataObject) -> None:
        self._platform_action(data, "approve")

    @precondition(lambda self: any("online" in allowed_actions(w) for w in self.workflows.values()))
    @rule(data=st.data())
    def platform_online(self, data: st.DataObject) -> None:
        self._platform_action(data, "online")

    @precondition(lambda self: any("offline" in allowed_actions(w) for w in self.workflows.values()))
    @rule(data=st.data())
    def platform_offline(self, data: st.DataObject) -> None:
        self._platform_action(data, "offline")

    @precondition(lambda self: any("archive" in allowed_actions(w) for w in self.workflows.values()))
    @rule(data=st.data())
    def archive(self, data: st.DataObject) -> None:
        self._platform_action(data, "archive")

    @precondition(lambda self: self.workflows)
    @rule(data=st.data())
    def delete_workflow(self, data: st.DataObject) -> None:
        deletable = [a for a, w in self.workflows.items() if w.publish_status == "never_published"]
        alias = self.pick(data, "workflow", sorted(deletable, key=lambda a: int(a[1:])))
        stale = data.draw(st.integers(0, 4), label="expected version: 0-3 current, 4 stale") == 4
        wf = self.workflows[alias]
        self.begin(f"delete {alias}{' based on a stale version' if stale else ''} (publish status {wf.publish_status})")
        params = {"expected_version_no": wf.current.no + 1 if stale else wf.current.no}
        self.dirty.add(alias)
        if stale:
            r = self.api.call("DELETE", f"/api/v1/workflows/{wf.id}", expect=409, params=params)
            assert problem_type(r).endswith("stale-version"), r.text
            self.log(f"   → 409 {problem_type(r)}")
            return
        if alias not in deletable:
            r = self.api.call("DELETE", f"/api/v1/workflows/{wf.id}", expect=409, params=params)
            assert problem_type(r).endswith("workflow-published"), r.text
            self.log(f"   → 409 {problem_type(r)}")
            return
        self.api.call("DELETE", f"/api/v1/workflows/{wf.id}", expect=204, params=params)
        for task in self.tasks.values():  # (an archived workflow's tasks were freed, and may be deleted since)
            if task.owner == alias:
                task.owner = None
        del self.workflows[alias]
        self.dirty.discard(alias)
        self.api.call("GET", f"/api/v1/workflows/{wf.id}", expect=404)
        self.log(f"   → 204; {alias} is gone, its tasks and its name are free")

    # -- publish ----------------------------------------------------------------------------------------------------

    @precondition(lambda self: any(allowed_publish_operations(w) for w in self.workflows.values()))
    @rule(data=st.data())
    def publish(self, data: st.DataObject) -> None:
        # mostly an operation the workflow allows (deploy and online first), sometimes any, so refusals are checked
        allowed = [
            (a, op)
            for op in ("deploy", "online", "offline")
            for a in self.workflow_aliases()
            if op in allowed_publish_operations(self.workflows[a])
        ]
        operation: Operation
        if data.draw(st.integers(0, 4), label="publish: 0-3 allowed, 4 any") < 4:
            alias, operation = data.draw(st.sampled_from(allowed), label="(workflow, operation)")
        else:
            alias = data.draw(st.sampled_from(self.workflow_aliases()), label="workflow")
            operation = data.draw(st.sampled_from(OPERATIONS), label="operation")
        ds_outage = data.draw(st.integers(0, 4), label="DS: 0-3 up, 4 down") == 4
        wf = self.workflows[alias]
        self.begin(
            f"publish {operation} {alias}{' while DS is down' if ds_outage else ''} (status {wf.status}, "
            f"v{wf.current.no}, approved v{wf.approved_no}, deployed v{wf.deployed_no}, DS {wf.ds_release})"
        )
        self.dirty.add(alias)
        if operation not in allowed_publish_operations(wf):
            r = self.api.call(
                "POST", f"/api/v1/workflows/{wf.id}/publish", expect=409, json_body={"operation": operation}
            )
            assert problem_type(r).endswith("publish-not-allowed"), r.text
            self.log(f"   → 409 {r.json().get('reason')}")
            return
        restoring = ds_outage and diverges_on_failure(wf, operation)
        # while DS is being restored after the failure, a person may take the workflow offline on the platform
        offline_meanwhile = restoring and wf.status == "online" and data.draw(
            st.integers(0, 2), label="during the restore: 0-1 wait, 2 platform offline"
        ) == 2  # fmt: skip
        self._publish(wf, operation, ds_outage=ds_outage, offline_meanwhile=offline_meanwhile)

    def _name_taken_in_ds(self, wf: Workflow, version: Version) -> bool:
        """Another platform workflow's DS workflow has this version's name (DS holds the last deployed name)."""
        return any(
            o.ds_code is not None and o.deployed_no is not None and o.versions[o.deployed_no - 1].name == version.name
            for o in self.workflows.values()
            if o is not wf
        )

    def _publish(self, wf: Workflow, operation: Operation, *, ds_outage: bool, offline_meanwhile: bool = False) -> None:
        version = wf.versions[pinned_version(wf, operation) - 1]
        name_taken = operation != "offline" and self._name_taken_in_ds(wf, version)
        expected = expected_record_status(wf, operation, version, ds_outage=ds_outage, name_taken=name_taken)
        diverges = expected == "failed" and diverges_on_failure(wf, operation)
        if ds_outage:
            self.ds.start_outage()
            self.outage = True
        try:
            r = self.api.call(
                "POST", f"/api/v1/workflows/{wf.id}/publish", expect=202, json_body={"operation": operation}
            )
            accepted = r.json()
            assert (accepted["operation"], accepted["version_no"]) == (operation, version.no), accepted
            attempt = PublishAttempt(str(accepted["request_id"]), operation, version.no, expected)
            wf.attempts.append(attempt)
            wf.publish_status = "pending"
            self._finish_publish(wf, attempt, version)
        finally:
            if ds_outage:
                self.ds.end_outage()
                self.outage = False
        if diverges:
            if offline_meanwhile:
                self.log("   platform offline while the publisher restores DS")
                self._act(wf, "offline", wf.current.no, ds_diverged=True)
            self._await_restore(wf, attempt, version, superseded=offline_meanwhile)

    def _await_restore(self, wf: Workflow, failed: PublishAttempt, version: Version, *, superseded: bool) -> None:
        """After a failed publish that left DS other than intended, the publisher re-runs it by itself (its records
        have operator ``reconciler``) until DS holds the intended state: wait for that, then take its records.
        ``superseded``: the platform took the workflow offline meanwhile (its offline attempt is the model's last,
        without a record yet); that publish runs after any attempt the reconciler started and ends the restore, so
        DS holds the workflow OFFLINE in the end."""
        known = {a.request_id for a in wf.attempts if a.request_id}

        def settled() -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
            restore = self.api.call("GET", f"/api/v1/workflows/{wf.id}/restore", expect=200).json()
            if restore["status"] == "restoring":
                return None
            records = self.api.pages(f"/api/v1/workflows/{wf.id}/publish-records", page_size=100)
            new = sorted((r for r in records if r["request_id"] not in known), key=lambda r: int(r["id"]))
            if any(r["status"] not in FINAL_RECORD for r in new):
                return None
            if superseded and not any(r["operator"] != "reconciler" for r in new):
                return None  # the platform's offline publish has not reached the publisher yet
            return dict(restore), new

        restore, new = until(settled, f"the restore of {wf.alias} after its failed {failed.operation}", timeout_s=90.0)
        assert restore["status"] == "restored", restore
        assert new, f"{wf.alias} restored without a record"
        offline = wf.attempts[-1] if superseded else None
        for rec in new:
            if rec["operator"] == "reconciler":
                assert (rec["operation"], rec["version_no"]) == (failed.operation, failed.version_no), rec
                attempt = PublishAttempt(str(rec["request_id"]), failed.operation, failed.version_no, rec["status"],
                                         int(rec["id"]), int(rec["retry_of"]) if rec["retry_of"] else None)  # fmt: skip
                wf.attempts.append(attempt)
                apply_publish_outcome(wf, failed.operation, version, rec["status"])
                continue
            assert offline is not None, f"{wf.alias}: a record the model did not expect: {rec}"
            assert offline.operation == "offline", (rec, offline)
            assert (rec["operation"], rec["status"]) == ("offline", "success"), rec
            offline.request_id, offline.record_id = str(rec["request_id"]), int(rec["id"])
            offline.version_no = int(rec["version_no"])
            apply_publish_outcome(wf, "offline", wf.versions[offline.version_no - 1], "success")
            offline = None
        assert offline is None, f"{wf.alias}: no record of the platform's offline publish"
        failed.retried = True
        if not superseded:
            last = wf.attempts[-1]
            assert last.status in ("success", "skipped_unchanged"), f"the restore of {wf.alias} ended with {new[-1]}"
        self._await_definition(wf)
        how = "the platform's offline publish" if superseded else "the publisher"
        self.log(f"   → restore ended by {how} ({len(new)} record(s)): DS {wf.ds_release}")

    def _finish_publish(self, wf: Workflow, attempt: PublishAttempt, version: Version) -> None:
        """Wait for the record to end and the definition service to have applied ``publish.completed``. An attempt
        without a request id is one the platform made itself (platform offline, archive): its record is the one the
        model does not know yet."""
        known = {a.request_id for a in wf.attempts if a.request_id}

        def record() -> dict[str, Any] | None:
            for r in self.api.pages(f"/api/v1/workflows/{wf.id}/publish-records", page_size=100):
                if attempt.request_id:
                    mine = r["request_id"] == attempt.request_id
                else:  # the platform's own publish, never a restore attempt of the publisher's
                    mine = r["request_id"] not in known and r["operator"] != "reconciler"
                if mine and r["status"] in FINAL_RECORD:
                    return dict(r)
            return None

        rec = until(record, f"publish record of {wf.alias} {attempt.operation}", timeout_s=EFFECT_TIMEOUT_S)
        attempt.request_id = str(rec["request_id"])
        attempt.record_id = int(rec["id"])
        assert (rec["operation"], rec["version_no"]) == (attempt.operation, attempt.version_no), rec
        status: RecordStatus = rec["status"]
        if attempt.status == "skipped_unchanged" and status == "success":
            pass  # a deploy of unchanged content may also be sent again: either is right
        else:
            assert status == attempt.status, (
                f"publish {attempt.operation} of {wf.alias} v{version.no} ended {status}, the model expects "
                f"{attempt.status}: {rec['error_message'] or rec['log']}"
            )
        attempt.status = status
        apply_publish_outcome(wf, attempt.operation, version, status)
        d = self._await_definition(wf)
        if status != "failed" and attempt.operation != "offline":
            code = int(d["workflow_code"])
            if wf.ds_code is None:
                wf.ds_code = code
            assert code == wf.ds_code, (
                f"{wf.alias}'s DS workflow changed from {wf.ds_code} to {code} ({attempt.operation} of "
                f"v{version.no}, named {version.name.removeprefix(self.prefix)}): a second DS workflow"
            )
        self.log(f"   → record {status}{': ' + str(rec['error_message']) if status == 'failed' else ''}")

    def _await_definition(self, wf: Workflow) -> dict[str, Any]:
        """Wait until the definition service applied the publish result the model expects."""

        def applied() -> dict[str, Any] | None:
            d = self.detail(wf)
            done = d["publish_status"] == wf.publish_status and d["last_published_version_no"] == wf.deployed_no
            return d if done and d["release_state"] == wf.ds_release else None

        detail: dict[str, Any] = until(
            applied, f"publish.completed of {wf.alias} applied by the definition service", timeout_s=EFFECT_TIMEOUT_S
        )
        return detail

    @precondition(lambda self: any(a.status == "failed" for w in self.workflows.values() for a in w.attempts))
    @rule(data=st.data())
    def retry_publish(self, data: st.DataObject) -> None:
        choices = [
            (w.alias, i)
            for w in (self.workflows[a] for a in self.workflow_aliases())
            for i, a in enumerate(w.attempts)
            if a.status == "failed"
        ]
        alias, index = data.draw(st.sampled_from(choices), label="failed publish (workflow, attempt)")
        again = data.draw(st.integers(0, 4), label="click: 0-3 once, 4 twice (same Idempotency-Key)") == 4
        wf = self.workflows[alias]
        failed = wf.attempts[index]
        self.begin(
            f"retry {alias}'s failed {failed.operation} of v{failed.version_no}{' (clicked twice)' if again else ''} "
            f"(status {wf.status}, DS {wf.ds_release})"
        )
        self.dirty.add(alias)
        assert failed.record_id is not None
        url = f"/api/v1/publish-records/{failed.record_id}/retry"
        headers = {"Idempotency-Key": str(uuid.uuid4())}
        later = [a for a in wf.attempts[index + 1 :] if a.status in ("success", "skipped_unchanged")]
        if failed.retried or later:
            r = self.api.call("POST", url, expect=409, headers=headers)
            why = "retried already" if failed.retried else f"published since: {later[-1].operation}"
            self.log(f"   → 409 ({why})")
            return
        # an online retry while the workflow is offline on the platform would make DS run what the platform stopped
        refuse = failed.operation == "online" and wf.status in ("offline", "archived")
        expect = {201}
        if refuse:
            expect = {409} if enforced("platform_offline_keeps_ds_offline") else {201, 409}
        r = self.api.call("POST", url, expect=expect, headers=headers)
        if r.status_code == 409:
            self.log(f"   → 409 {problem_type(r)}")
            return
        if refuse:
            self.log("   (tolerated, platform_offline_keeps_ds_offline pending: an online retry while offline)")
        body = r.json()
        assert (body["retry_of"], body["operation"], body["version_no"]) == (
            failed.record_id,
            failed.operation,
            failed.version_no,
        ), body
        if again:
            replay = self.api.call("POST", url, expect=201, headers=headers)
            assert replay.headers.get("Idempotent-Replayed") == "true", dict(replay.headers)
            assert replay.json()["id"] == body["id"], (replay.json()["id"], body["id"])
        failed.retried = True
        version = wf.versions[failed.version_no - 1]
        name_taken = failed.operation != "offline" and self._name_taken_in_ds(wf, version)
        expected = expected_record_status(wf, failed.operation, version, ds_outage=False, name_taken=name_taken)
        attempt = PublishAttempt(str(body["request_id"]), failed.operation, failed.version_no, expected)
        attempt.retry_of = failed.record_id
        wf.attempts.append(attempt)
        self._finish_publish(wf, attempt, version)

    # -- runs -------------------------------------------------------------------------------------------------------

    def _run_refusal(self, wf: Workflow) -> str | None:
        """Why run now of the workflow is refused (409), or None: never in DS, offline on the platform (seed §6.3:
        no new instances), archived, or not online in DS."""
        if wf.ds_code is None:
            return "never deployed"
        if wf.status in ("offline", "archived"):
            return f"{wf.status} on the platform"
        if wf.ds_release != "ONLINE":
            return "offline in DS"
        return None

    @precondition(lambda self: self.workflows)
    @rule(data=st.data())
    def run_now(self, data: st.DataObject) -> None:
        alias = self.pick(data, "workflow", [a for a, w in self.workflows.items() if self._run_refusal(w) is None])
        click = data.draw(
            st.sampled_from(("once", "once", "once", "twice, same key", "same key, other request")), label="click"
        )
        wf = self.workflows[alias]
        self.begin(f"run {alias} now, {click} (status {wf.status}, DS {wf.ds_release or 'never deployed'})")
        self.dirty.add(alias)
        url, headers = f"/api/v1/workflows/{wf.id}/run", {"Idempotency-Key": str(uuid.uuid4())}
        refusal = self._run_refusal(wf)
        if refusal is not None:
            r = self.api.call("POST", url, expect=409, json_body={}, headers=headers)
            self.log(f"   → 409 {problem_type(r)} ({refusal})")
            return
        first = self.api.call("POST", url, expect=200, json_body={}, headers=headers).json()
        [instance] = first["instance_ids"]
        assert first["state"] == "started", first
        wf.instances.append(int(instance))
        self.log(f"   → DS instance {instance}")
        if click == "twice, same key":  # the same key: the same answer, one instance (an idempotency key, issue #7)
            again = self.api.call("POST", url, expect=200, json_body={}, headers=headers)
            assert again.headers.get("Idempotent-Replayed") == "true", dict(again.headers)
            assert (again.json()["run_id"], again.json()["instance_ids"]) == (first["run_id"], first["instance_ids"])
        elif click == "same key, other request":
            r = self.api.call("POST", url, expect=422, json_body={"dry_run": True}, headers=headers)
            self.log(f"   same key, another request → 422 {problem_type(r)}")

        def shown() -> bool:
            body = self.api.get(f"/api/v1/workflows/{wf.id}/executions")
            return int(instance) in {int(e["instance_id"]) for e in body["executions"]}

        until(shown, f"instance {instance} in {alias}'s executions after run now", timeout_s=EXECUTIONS_TIMEOUT_S)

    @precondition(lambda self: len(self.workflows) >= 2 and any(w.ds_code for w in self.workflows.values()))
    @rule(data=st.data(), backfill=st.booleans())
    def batch_run(self, data: st.DataObject, backfill: bool) -> None:
        online = [a for a, w in self.workflows.items() if self._run_refusal(w) is None]
        if online and data.draw(st.integers(0, 4), label="workflows: 0-3 runnable, 4 any") < 4:
            pool = sorted(online, key=lambda a: int(a[1:]))
        else:
            pool = self.workflow_aliases()
        chosen = data.draw(st.lists(st.sampled_from(pool), min_size=1, max_size=3, unique=True), label="workflows")
        wfs = [self.workflows[a] for a in chosen]
        self.begin(
            f"batch {'backfill (2 days)' if backfill else 'run'} of "
            + ", ".join(f"{w.alias} ({w.status}, DS {w.ds_release or 'never deployed'})" for w in wfs)
        )
        self.dirty.update(chosen)
        body: dict[str, Any] = {"workflow_ids": [w.id for w in wfs]}
        if backfill:
            body |= {"backfill": {"start": "2026-01-01T00:00:00Z", "end": "2026-01-02T00:00:00Z"}}
        # nothing starts when one was never deployed or is offline on the platform; else each on its own
        if any(w.ds_code is None or w.status == "offline" for w in wfs):
            r = self.api.call("POST", "/api/v1/workflows/batch-run", expect=409, json_body=body)
            self.log(f"   → 409 {problem_type(r)}")
            return
        answer = self.api.call("POST", "/api/v1/workflows/batch-run", expect=200, json_body=body).json()
        results = {int(x["workflow_id"]): x for x in answer["results"]}
        code_of = {int(i["id"]): int(i["workflowDefinitionCode"]) for i in self.ds.instances(self.prefix)}
        for w in wfs:
            got = results[w.id]
            started = self._run_refusal(w) is None
            assert got["status"] == ("started" if started else "failed"), (w.alias, self._run_refusal(w), got)
            ids = [int(i) for i in got["instance_ids"]]
            assert len(ids) == ((2 if backfill else 1) if started else 0), (w.alias, got)
            for i in ids:
                assert code_of.get(i) == w.ds_code, (
                    f"batch run answered instance {i} for {w.alias}; DS has it in {code_of.get(i)}"
                )
                w.instances.append(i)
        everything = sorted(int(i) for i in answer["instance_ids"])
        assert everything == sorted(i for x in results.values() for i in x["instance_ids"]), answer
        self.log(f"   → {[(w.alias, results[w.id]['status'], results[w.id]['instance_ids']) for w in wfs]}")

    @precondition(lambda self: any(w.instances for w in self.workflows.values()))
    @rule(data=st.data())
    def read_instance(self, data: st.DataObject) -> None:
        runs = [(w.alias, i) for w in (self.workflows[a] for a in self.workflow_aliases()) for i in w.instances]
        owner_alias, instance = data.draw(st.sampled_from(runs), label="(workflow, instance)")
        via = data.draw(st.sampled_from(self.workflow_aliases()), label="read through workflow")
        owner, path = self.workflows[owner_alias], self.workflows[via]
        self.begin(f"read {owner_alias}'s instance {instance} and a task log, through {via}")

        def started() -> dict[str, Any] | None:
            # a run's task instances appear once they start (the emulator's runs take a fraction of a second)
            body = self.api.call("GET", f"/api/v1/workflows/{owner.id}/instances/{instance}", expect=200).json()
            return dict(body) if body["tasks"] else None

        got = until(started, f"a task instance of {owner_alias}'s instance {instance}", timeout_s=EFFECT_TIMEOUT_S)
        assert int(got["instance"]["id"]) == instance, got["instance"]
        task = int(got["tasks"][0]["id"])
        log_url = f"/api/v1/workflows/{owner.id}/task-instances/{task}/log"
        self.api.call("GET", log_url, expect=200, params={"instance_id": instance})  # as the portal asks
        # without the instance: the task instance must be part of one of the workflow's last 10 runs (this one is)
        r = self.api.call("GET", log_url, expect={200} if enforced("own_run_log_readable") else {200, 404})
        if r.status_code == 404:
            self.log(
                f"   (tolerated, own_run_log_readable pending: its log without instance_id → 404 {r.json()['detail']})"
            )
        if via == owner_alias:
            self.log(f"   → 200, {len(got['tasks'])} task instances")
            return
        # an instance is read only through its own workflow (issue 15 #3)
        self.api.call("GET", f"/api/v1/workflows/{path.id}/instances/{instance}", expect=404)
        other_log = f"/api/v1/workflows/{path.id}/task-instances/{task}/log"
        self.api.call("GET", other_log, expect=404, params={"instance_id": instance})
        self.api.call("GET", other_log, expect=404)
        self.log(f"   → 200 through {owner_alias}; 404 through {via} (instance, log)")

    @precondition(lambda self: not self.out_of_range_read)
    @rule()
    def read_out_of_range(self) -> None:
        """Numbers and text that would reach PostgreSQL out of range (issue 15 #2): a 4xx problem each, never a 5xx.
        Once per example (the answers do not depend on the state)."""
        self.begin("GET with out-of-range ids, paging and a NUL in a filter")
        self.out_of_range_read = True
        for what in OUT_OF_RANGE:
            r = self.api.call("GET", what, expect={404, 422})
            self.log(f"   {what} → {r.status_code}")

    @precondition(lambda self: self.workflows)
    @rule(data=st.data())
    def without_the_role(self, data: st.DataObject) -> None:
        """A key without the role an action needs (issue 17: roles are checked on every mutating route) gets a 403
        problem and changes nothing: the step's deep checks compare the workflow, DS and the executions with the
        model, which this step leaves as it was."""
        role, action = data.draw(st.sampled_from(ROLE_REFUSALS), label="role, action")
        alias = self.pick(data, "workflow", self.workflow_aliases())
        wf = self.workflows[alias]
        self.begin(f"{action} {alias} with a {role} key")
        self.dirty.add(alias)
        if role not in self.role_apis:
            self.role_apis[role] = Http(self.stack.as_role(role))
        api = self.role_apis[role]
        method, path, body = {
            "edit": ("PUT", f"/api/v1/workflows/{wf.id}", self.workflow_body(self.fresh_name("wf"), set(), set())),
            "archive": ("POST", f"/api/v1/workflows/{wf.id}/archive", None),
            "approve": ("POST", f"/api/v1/workflows/{wf.id}/approve", {"version_no": wf.current.no}),
            "publish": ("POST", f"/api/v1/workflows/{wf.id}/publish", {"operation": "deploy"}),
            "run": ("POST", f"/api/v1/workflows/{wf.id}/run", {}),
            "delete": ("DELETE", f"/api/v1/workflows/{wf.id}", None),
        }[action]
        r = api.call(method, path, expect=403, json_body=body)
        assert problem_type(r).endswith("forbidden"), r.text
        self.log(f"   → 403 {problem_type(r)}")

    # -- auto-orchestration proposals (issue 20) --------------------------------------------------------------------

    def _proposals(self) -> list[dict[str, Any]]:
        """This example's proposals, dismissed ones too (lineage never links two examples' tasks: a proposal holding
        one of this example's tasks holds only this example's; the invariant checks it)."""
        ours = {t.id for t in self.tasks.values()}
        items = self.api.pages("/api/v1/proposals", include_dismissed="true")
        return [p for p in items if set(p["task_ids"]) & ours]

    def _open_proposals(self) -> list[dict[str, Any]]:
        return sorted((p for p in self._proposals() if not p["dismissed"]), key=lambda p: min(p["task_ids"]))

    def _describe(self, p: dict[str, Any]) -> str:
        where = f" to {self._alias_of_workflow(p['workflow_id'])}" if p["kind"] == "add_to_workflow" else ""
        return f"{p['kind']}{where} {self.task_list(set(p['task_ids']))}"

    def _alias_of_workflow(self, workflow_id: int) -> str:
        return next((a for a, w in self.workflows.items() if w.id == workflow_id), f"workflow {workflow_id}")

    @precondition(lambda self: self.unassigned() and len(self.workflows) < MAX_WORKFLOWS)
    @rule(data=st.data())
    def accept_proposal(self, data: st.DataObject) -> None:
        """Accept a proposal as it is listed: a draft workflow of its tasks and lineage edges, or a new version of the
        workflow it adds to (trigger ``auto_orchestration``); a proposal holding a lineage cycle is refused. Without
        DEPENDENT links (the model keeps no DEPENDENT tasks for DS)."""
        listed = self._open_proposals()
        if not listed:
            return
        p = listed[data.draw(st.integers(0, len(listed) - 1), label="proposal (index)")]
        ids = {int(t) for t in p["task_ids"]}
        self.begin(f"accept proposal {self._describe(p)}")
        name = self.fresh_name("w")
        body: dict[str, Any] = {"name": name, "dependent_links": False}
        target = self.workflows.get(self._alias_of_workflow(p["workflow_id"])) if p["workflow_id"] else None
        if target is not None:
            body["expected_version_no"] = target.current.no
        if p["cycle_edges"]:
            r = self.api.call("POST", f"/api/v1/proposals/{p['id']}/accept", expect=409, json_body=body)
            assert problem_type(r).endswith("proposal-not-acceptable"), r.text
            self.log(f"   → 409 {problem_type(r)}")
            return
        r = self.api.call("POST", f"/api/v1/proposals/{p['id']}/accept", expect=201, json_body=body)
        answer = r.json()["workflow"]
        lineage = lineage_dependencies(self.tasks.values())
        edges = _edges_of(answer)
        assert _pairs(p["edges"]) <= edges, (p["edges"], answer["edges"])
        if target is None:
            assert p["kind"] == "new_workflow", p
            assert edges == _pairs(p["edges"]), (p["edges"], answer["edges"])
            alias = f"W{next(self.workflow_aliases_made)}"
            wf = Workflow(
                alias,
                int(answer["id"]),
                [Version(1, "auto_orchestration", name, self.snapshot_of(ids), frozenset(edges))],
            )
            self.workflows[alias] = wf
            self.set_owners(wf, frozenset(), frozenset(ids))
            self.dirty.add(alias)
            self.log(f"   → {alias} (id {wf.id}) v1 with edges {self.edge_list(edges)}")
        else:
            assert target.status != "archived", f"a proposal adds to {target.alias}, archived"
            added = edges - set(target.current.edges)
            assert added <= lineage, f"accepting added edges {self.edge_list(added)} lineage does not have"
            all_ids = target.current.task_ids | ids
            self.new_version(target, "auto_orchestration", target.current.name, self.snapshot_of(all_ids), edges)
            self.log(
                f"   → {target.alias} v{target.current.no}: tasks {self.task_list(all_ids)}, "
                f"edges {self.edge_list(edges)}"
            )
        assert int(answer["current_version_no"]) == (target.current.no if target else 1), answer

    @precondition(lambda self: self.unassigned())
    @rule(data=st.data())
    def dismiss_proposal(self, data: st.DataObject) -> None:
        """Dismiss a proposal: listed no more (unless asked for the dismissed ones); its tasks stay in it."""
        listed = self._open_proposals()
        if not listed:
            return
        p = listed[data.draw(st.integers(0, len(listed) - 1), label="proposal (index)")]
        self.begin(f"dismiss proposal {self._describe(p)}")
        r = self.api.call("POST", f"/api/v1/proposals/{p['id']}/dismiss", expect=200)
        assert r.json()["dismissed"] is True, r.text
        assert p["id"] not in {q["id"] for q in self.api.pages("/api/v1/proposals")}
        self.log("   → dismissed")

    # -- invariants -------------------------------------------------------------------------------------------------

    def _list_rows(self) -> dict[int, dict[str, Any]]:
        rows = {int(w["id"]): w for w in self.api.pages("/api/v1/workflows", name=self.prefix)}
        if not enforced("list_attention_matches_detail"):
            for row in rows.values():  # the list's flag is wrong after any publish result: leave it out
                row.pop("needs_attention", None)
                row.pop("attention_reason", None)
        return rows

    @invariant()
    def proposals_hold_each_unassigned_task_once(self) -> None:
        """Every task in no workflow is in exactly one proposal and no task of a workflow is in any; a proposal lies
        inside one connected piece of the unassigned tasks' lineage and lists exactly the lineage edges among its
        tasks; an addition names a live workflow of this example."""
        ours = {t.id: t for t in self.tasks.values()}
        free = {t.id for t in ours.values() if t.owner is None}
        lineage = lineage_dependencies(self.tasks.values())
        piece = _pieces(free, lineage)
        seen: dict[int, int] = {}
        for p in self._proposals():
            members = {int(t) for t in p["task_ids"]}
            assert members <= set(ours), f"proposal {p['id']} holds tasks of no task of this example: {p}"
            owned = {self.alias_of_task(t): ours[t].owner for t in members - free}
            assert not owned, f"proposal {self._describe(p)} holds tasks of workflows: {owned}"
            twice = {self.alias_of_task(t) for t in members if t in seen}
            assert not twice, f"tasks {twice} are in two proposals"
            seen.update(dict.fromkeys(members, int(p["id"])))
            assert len({piece[t] for t in members}) == 1, (
                f"proposal {self._describe(p)} joins tasks no lineage path links: lineage {self.edge_list(lineage)}"
            )
            if p["kind"] == "add_to_workflow":
                # one task joins the one workflow all its lineage neighbours are in; the edges are those links
                alias = self._alias_of_workflow(p["workflow_id"])
                assert alias in self.workflows, f"proposal {self._describe(p)} adds to a workflow that is gone"
                assert self.workflows[alias].status != "archived", f"proposal {self._describe(p)} adds to {alias}"
                links = {(u, v) for u, v in lineage if (u in members) != (v in members)}
                homes = {ours[t].owner if t in ours else None for e in links for t in e if t not in members}
                assert len(members) == 1, f"proposal {self._describe(p)} adds more than one task to {alias}"
                assert links, f"proposal {self._describe(p)} adds to {alias} a task with no lineage link to it"
                assert homes == {alias}, (
                    f"proposal {self._describe(p)} adds to {alias}, but the lineage links {self.edge_list(links)} "
                    f"lead to the workflows {homes}"
                )
                assert _pairs(p["edges"]) == links, (self._describe(p), p["edges"], self.edge_list(links))
                continue
            inside = {(u, v) for u, v in lineage if u in members and v in members}
            assert _pairs(p["edges"]) == inside, (self._describe(p), p["edges"], self.edge_list(inside))
        missing = free - set(seen)
        assert not missing, f"tasks in no workflow and in no proposal: {self.task_list(missing)}"

    @invariant()
    def list_rows_match_model(self) -> None:
        rows = self._list_rows()
        assert set(rows) == {w.id for w in self.workflows.values()}, (sorted(rows), self.workflow_aliases())
        for wf in self.workflows.values():
            row = rows[wf.id]
            got = tuple(row.get(f, getattr(wf, f, None)) for f in _LIST_FIELDS)
            want = (wf.current.name, wf.status, wf.current.no, not wf.pending_approval, wf.deployed_no,
                    wf.needs_attention, len(wf.current.tasks), wf.publish_status)  # fmt: skip
            assert got == want, f"{wf.alias}'s list row (name, status, version, approved, published version, " \
                f"attention, tasks, publish status) is {got}, the model says {want}"  # fmt: skip
            if wf.ds_code is not None:
                assert row["workflow_code"] == wf.ds_code, (wf.alias, row["workflow_code"], wf.ds_code)

    @invariant()
    def task_owners_match_model(self) -> None:
        rows = {int(t["id"]): t for t in self.api.pages("/api/v1/tasks", name=self.prefix)}
        assert set(rows) == {t.id for t in self.tasks.values()}, sorted(rows)
        for task in self.tasks.values():
            row = rows[task.id]
            owner = self.workflows[task.owner].id if task.owner else None
            assert (row["workflow_id"], row["revision"], row["name"]) == (owner, task.revision, task.content.name), (
                f"task {task.alias}: (workflow, revision, name) {row['workflow_id'], row['revision'], row['name']}, "
                f"the model says {owner, task.revision, task.content.name} ({task.owner})"
            )
            problems = task_metrics_problems(row)  # history-sync's task-level metrics hold together
            assert not problems, f"task {task.alias}'s metrics: {problems}: {row['metrics']}"

    @invariant()
    def detail_matches_model(self) -> None:
        for alias in sorted(self.dirty):
            wf = self.workflows[alias]
            d = self.detail(wf)
            assert d["current_version_no"] == wf.current.no, (alias, d["current_version_no"], wf.current.no)
            got_tasks = {int(t["task_id"]): (t["name"], t["task_type"], self._body_of(t)) for t in d["tasks"]}
            want_tasks = {t: (c.name, c.task_type, c.body) for t, c in wf.current.tasks}
            assert got_tasks == want_tasks, f"{alias}'s tasks {got_tasks}, the model says {want_tasks}"
            assert _edges_of(d) == set(wf.current.edges), (alias, d["edges"], self.edge_list(wf.current.edges))
            entry, exit_ = entry_exit(wf.current.task_ids, wf.current.edges)
            assert (sorted(d["entry_task_ids"]), sorted(d["exit_task_ids"])) == (entry, exit_), (alias, d)
            assert (d["name"], d["status"], d["approved"], d["needs_attention"]) == (
                wf.current.name,
                wf.status,
                not wf.pending_approval,
                wf.needs_attention,
            ), (alias, d["name"], d["status"], d["approved"], d["needs_attention"], d["attention_reason"])
            assert d["allowed_actions"] == allowed_actions(wf), (alias, d["allowed_actions"], allowed_actions(wf))
            assert sorted(d["allowed_publish_operations"]) == sorted(allowed_publish_operations(wf)), (
                alias,
                d["allowed_publish_operations"],
                allowed_publish_operations(wf),
            )
            assert (d["last_published_version_no"], d["publish_status"]) == (wf.deployed_no, wf.publish_status), alias
            if wf.ds_code is not None:
                assert d["workflow_code"] == wf.ds_code, (alias, d["workflow_code"], wf.ds_code)
                state = self.ds.dag(wf.ds_code)["workflowDefinition"]["releaseState"]
                assert d["release_state"] == state, (
                    f"{alias}: the detail shows DS {d['release_state']}, DS says {state}"
                )

    @staticmethod
    def _body_of(task: dict[str, Any]) -> str:
        p = task["params"]
        return str(p.get("sql") if task["task_type"] == "SQL" else p.get("script"))

    @invariant()
    def one_task_one_workflow(self) -> None:
        holders: dict[int, list[str]] = {}
        for alias in self.workflow_aliases():
            wf = self.workflows[alias]
            if wf.status == "archived":
                continue  # its last version lists its tasks, but it holds none: they are free for other workflows
            ids = [int(t["task_id"]) for t in self.detail(wf)["tasks"]] if alias in self.dirty else wf.current.task_ids
            for t in ids:
                holders.setdefault(t, []).append(alias)
        shared = {self.alias_of_task(t): ws for t, ws in holders.items() if len(ws) > 1}
        assert not shared, f"tasks in more than one workflow: {shared}"

    @invariant()
    def list_rows_agree_with_detail(self) -> None:
        if not self.dirty:
            return
        fields = (*_LIST_FIELDS, "workflow_code", "release_state", "last_execution_state")
        first = self._list_rows()
        for alias in sorted(self.dirty):
            wf = self.workflows[alias]
            d = self.detail(wf)
            row = first[wf.id]
            differ = [f for f in fields if f in row and row[f] != d[f]]
            if differ:  # a background effect between the two reads? read the list again
                again = self._list_rows()[wf.id]
                real = [f for f in differ if row[f] == again[f]]
                assert not real, f"{alias}: list row and detail differ in {[(f, row[f], d[f]) for f in real]}"

    @invariant()
    def versions_contiguous(self) -> None:
        for alias in sorted(self.dirty):
            wf = self.workflows[alias]
            items = self.api.pages(f"/api/v1/workflows/{wf.id}/versions", page_size=100)
            nos = [int(v["version_no"]) for v in items]
            assert nos == list(range(wf.current.no, 0, -1)), (
                f"{alias}'s versions {nos}, the model has 1..{wf.current.no}"
            )
            for v in items:
                model = wf.versions[int(v["version_no"]) - 1]
                assert v["trigger_source"] == model.trigger, (
                    alias,
                    v["version_no"],
                    v["trigger_source"],
                    model.trigger,
                )
                assert v["summary"], (alias, v)
                assert v["created_by"], (alias, v)
            for version in wf.versions[wf.versions_verified :]:
                self._check_version(wf, version)
            wf.versions_verified = len(wf.versions)

    def _check_version(self, wf: Workflow, version: Version) -> None:
        got = self.api.get(f"/api/v1/workflows/{wf.id}/versions/{version.no}")
        snap = got["structure_snapshot"]
        tasks = {int(t["task_id"]): (t["name"], t["task_type"], self._body_of(t)) for t in snap["tasks"]}
        assert snap["workflow_name"] == version.name, (wf.alias, version.no, snap["workflow_name"])
        assert tasks == {t: (c.name, c.task_type, c.body) for t, c in version.tasks}, (wf.alias, version.no, tasks)
        assert _edges_of(snap) == set(version.edges), (wf.alias, version.no, snap["edges"])
        summary = got["change_summary"]
        before = wf.versions[version.no - 2] if version.no > 1 else None
        old_tasks = before.task_ids if before else frozenset()
        old_edges = before.edges if before else frozenset()
        assert summary["is_initial"] == (before is None), (wf.alias, version.no, summary)
        assert set(summary["tasks_added"]) == set(version.task_ids - old_tasks), (wf.alias, version.no, summary)
        assert set(summary["tasks_removed"]) == set(old_tasks - version.task_ids), (wf.alias, version.no, summary)
        assert _pairs(summary["edges_added"]) == set(version.edges - old_edges), (wf.alias, version.no, summary)
        assert _pairs(summary["edges_removed"]) == set(old_edges - version.edges), (wf.alias, version.no, summary)

    @invariant()
    def publish_records_for_every_attempt(self) -> None:
        for alias in sorted(self.dirty):
            wf = self.workflows[alias]
            records = self.api.pages(f"/api/v1/workflows/{wf.id}/publish-records", page_size=100)
            got = sorted(
                (r["request_id"], r["operation"], r["version_no"], r["status"], r["retry_of"]) for r in records
            )
            want = sorted((a.request_id, a.operation, a.version_no, a.status, a.retry_of) for a in wf.attempts)
            assert got == want, f"{alias}'s publish records {got}, the model's attempts {want}"

    @invariant()
    def ds_holds_the_deployed_versions(self) -> None:
        deployed = {w.ds_code: w for w in self.workflows.values() if w.ds_code is not None}
        ds = {int(w["code"]): w for w in self.ds.workflows(self.prefix)}
        strays = set(ds) - set(deployed)
        # one DS workflow per platform workflow, for life (issue 15 #8)
        orphans = [(c, ds[c]["name"], ds[c]["releaseState"]) for c in sorted(strays)]
        assert not orphans, f"DS workflows no platform workflow points to: {orphans}"
        missing = set(deployed) - set(ds)
        assert not missing, f"deployed workflows missing in DS: {[deployed[c].alias for c in missing]}"
        for code, wf in deployed.items():
            row = ds[code]
            assert row["releaseState"] == wf.ds_release, (
                f"{wf.alias}: DS {row['releaseState']}, the model {wf.ds_release}"
            )
            if wf.alias not in self.dirty and self.ds_versions.get(code) is not None:
                assert int(row["version"]) == self.ds_versions[code], f"{wf.alias}'s DS definition changed by itself"
                continue
            assert wf.deployed_no is not None
            version = wf.versions[wf.deployed_no - 1]
            name, tasks, edges, roots = dag_view(self.ds.dag(code))
            names = {t: c.name for t, c in version.tasks}
            want_tasks = {
                c.name: (c.task_type, c.body, DATASOURCE_TYPE if c.task_type == "SQL" else None)
                for _, c in version.tasks
            }
            want_edges = {(names[u], names[v]) for u, v in version.edges}
            want_roots = {names[t] for t in entry_exit(version.task_ids, version.edges)[0]}
            assert (name, tasks, edges, roots) == (version.name, want_tasks, want_edges, want_roots), (
                f"{wf.alias}: DS holds {name} {tasks} edges {sorted(edges)} roots {sorted(roots)}; its last deployed "
                f"version v{version.no} is {version.name} {want_tasks} edges {sorted(want_edges)}"
            )
            self.ds_versions[code] = int(row["version"])

    @invariant()
    def task_links_carry_the_codes_ds_holds(self) -> None:
        """A task of a deployed workflow that is in the version DS holds has that DS node's code in the task list
        (and links to it); any other task of the workflow has none (issue 21 item 6)."""
        for alias in sorted(self.dirty):
            wf = self.workflows[alias]
            if wf.status == "archived" or wf.ds_code is None or wf.deployed_no is None:
                continue
            deployed = wf.versions[wf.deployed_no - 1]
            held = {t["name"]: int(t["code"]) for t in self.ds.dag(wf.ds_code)["taskDefinitionList"]}
            want: dict[int, int | None] = dict.fromkeys(wf.current.task_ids)
            for t, c in deployed.tasks:  # by the name DS holds (the task may be renamed since)
                if t in want:
                    want[t] = held[c.name]
            rows = {int(r["id"]): r for r in self.api.pages("/api/v1/tasks", workflowId=wf.id)}
            got = {t: rows[t]["ds_task_code"] if t in rows else "missing" for t in want}
            assert got == want, (
                f"{alias}'s task codes {[(self.alias_of_task(t), c) for t, c in got.items()]}, DS holds "
                f"{[(self.alias_of_task(t), c) for t, c in want.items()]} (v{deployed.no})"
            )
            for t, code in want.items():
                link = rows[t]["ds_link"]
                assert code is None or (link or "").endswith(f"/task/instances?taskCode={code}"), (
                    f"{self.alias_of_task(t)}'s DS link {link} is not its node {code}"
                )

    @invariant()
    def no_instance_the_model_did_not_start(self) -> None:
        started = {i: w.alias for w in self.workflows.values() for i in w.instances}
        found = {int(i["id"]): i for i in self.ds.instances(self.prefix)}
        unexpected = {i: (x["name"], x["commandType"]) for i, x in found.items() if i not in started}
        assert not unexpected, f"DS instances nobody started through the platform: {unexpected}"
        lost = set(started) - set(found)
        assert not lost, f"instances started by run now but not in DS: {sorted(lost)}"

    @invariant()
    def platform_offline_means_ds_offline(self) -> None:
        """A workflow offline on the platform (or archived) runs nothing in DS: DS holds it OFFLINE (seed §6.3,
        docs/lifecycle.md "What offline means")."""
        if not enforced("platform_offline_keeps_ds_offline"):
            return
        for wf in self.workflows.values():
            if wf.status in ("offline", "archived") and wf.ds_code is not None:
                state = self.ds.dag(wf.ds_code)["workflowDefinition"]["releaseState"]
                assert state == "OFFLINE", f"{wf.alias} is {wf.status} on the platform, DS holds it {state}"

    @invariant()
    def task_dependencies_match_lineage(self) -> None:
        deps = lineage_dependencies(self.tasks.values())
        for alias in sorted(self.lineage_dirty, key=lambda a: int(a[1:])):
            task = self.tasks[alias]
            got = self.api.get(f"/api/v1/tasks/{task.id}")
            assert not got["unavailable"], got["unavailable"]
            up, down = set(got["upstream_task_ids"]), set(got["downstream_task_ids"])
            want_up, want_down = upstream_of(deps, task.id), downstream_of(deps, task.id)
            assert (up, down) == (want_up, want_down), (
                f"{alias}'s dependencies up {self.task_list(up)} down {self.task_list(down)}, the lineage model "
                f"says up {self.task_list(want_up)} down {self.task_list(want_down)}"
            )

    def teardown(self) -> None:
        try:
            if self.outage:
                self.ds.end_outage()
        finally:
            self.api.close()
            self.lineage_api.close()
            for api in self.role_apis.values():
                api.close()
            self.ds.close()


def machine_for(stack: LifecycleStack) -> type[LifecycleMachine]:
    """The machine class bound to a running stack (hypothesis makes a fresh instance for every example)."""
    return type("LifecycleMachine", (LifecycleMachine,), {"stack": stack})


__all__ = ["LifecycleMachine", "PlatformAnswerError", "machine_for"]
