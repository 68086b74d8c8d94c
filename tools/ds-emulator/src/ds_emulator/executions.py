"""Workflow instances and task runs of the emulated DolphinScheduler.

Instances progress on the wall clock, computed lazily whenever state is read: SUBMITTED_SUCCESS for
``submit_delay``, then RUNNING_EXECUTION while their tasks run (each task starts when its upstream tasks end and
lasts ``task_duration``), then SUCCESS or FAILURE. A task fails when a script rule says so; by default a SHELL
``rawScript`` containing ``exit 1`` fails.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

from ds_emulator import switch
from ds_emulator.definitions import Definitions
from ds_emulator.dependent import dependent_intervals
from ds_emulator.errors import DsError, JavaException
from ds_emulator.model import (
    MASTER_HOST,
    WORKER_HOST,
    Instance,
    Json,
    ScriptRule,
    TaskPlan,
    TaskRun,
    User,
    Workflow,
    _depth,
    encode_json,
    fmt,
    format_duration,
)


class Executions(Definitions):
    """Workflow instances and task runs: start, progress on the clock, reads and logs."""

    def _rule_for(self, wf: Workflow, task: Json | None) -> ScriptRule | None:
        """The first live rule for the instance (``task`` None) or for one task.

        A rule with a task selector (name, code or script text) applies to tasks; one without applies to the
        whole instance. ``workflow_code`` narrows either kind to one workflow.
        """
        for rule in self.rules:
            if rule.times is not None and rule.times <= 0:
                continue
            if rule.workflow_code is not None and rule.workflow_code != wf.code:
                continue
            is_task_rule = bool(rule.task_name or rule.task_code or rule.raw_script_contains)
            if task is None:
                if is_task_rule:
                    continue
                return rule
            if not is_task_rule:
                continue
            script = str(task.get("taskParams", {}).get("rawScript", ""))
            if (
                (rule.task_name is not None and rule.task_name != task["name"])
                or (rule.task_code is not None and rule.task_code != task["code"])
                or (rule.raw_script_contains is not None and rule.raw_script_contains not in script)
            ):
                continue
            return rule
        return None

    @staticmethod
    def _consume(rule: ScriptRule | None) -> None:
        if rule is not None and rule.times is not None:
            rule.times -= 1

    def _plan(self, wf: Workflow, run_start: float, failure_strategy: str) -> tuple[list[TaskPlan], float, str]:
        tasks = {t["code"]: t for t in wf.tasks}
        upstream: dict[int, list[int]] = {}
        in_dag: list[int] = []
        for r in wf.relations:
            post = r["postTaskCode"]
            if post not in upstream:
                upstream[post] = []
                in_dag.append(post)
            if r["preTaskCode"]:
                upstream[post].append(r["preTaskCode"])
        wf_rule = self._rule_for(wf, None)
        self._consume(wf_rule)
        duration = self.timing.task_duration
        if wf_rule is not None and wf_rule.duration_seconds is not None:
            duration = wf_rule.duration_seconds / max(1, _depth(upstream))
        # topological order
        order: list[int] = []
        seen: set[int] = set()

        def visit(code: int) -> None:
            if code in seen:
                return
            seen.add(code)
            for pre in upstream.get(code, []):
                visit(pre)
            order.append(code)

        for code in in_dag:
            visit(code)
        ends: dict[int, float] = {}
        failed: set[int] = set()
        skipped: set[int] = set()
        outcomes: dict[int, str] = {}
        #: CONDITIONS task code -> the codes of the branch it chose (the other branch's tasks do not run)
        chosen: dict[int, set[int]] = {}
        #: SWITCH task code -> the branch targets it did not choose (they do not run; see ``ds_emulator.switch``)
        passed_over: dict[int, set[int]] = {}
        params = switch.global_params(wf.global_params)
        plans: list[TaskPlan] = []
        for code in order:
            task = tasks[code]
            pres = upstream.get(code, [])
            conditions = str(task.get("taskType", "")).upper() == "CONDITIONS"
            # a CONDITIONS task runs after a failed upstream task too: testing its state is what it is for
            if (
                any(p in skipped or (p in failed and not conditions) for p in pres)
                or any(p in chosen and code not in chosen[p] for p in pres)
                or any(code in passed_over.get(p, ()) for p in pres)
            ):
                skipped.add(code)
                continue
            start = max((ends[p] for p in pres if p in ends), default=run_start)
            if task.get("flag", "YES") == "NO":
                ends[code] = start
                continue
            rule = self._rule_for(wf, task)
            outcome = "SUCCESS"
            if rule is not None:
                outcome = rule.outcome
                self._consume(rule)
            elif str(task.get("taskType", "")).upper() == "DEPENDENT":
                outcome = self._dependent_outcome(task, start)
            elif conditions:
                chosen[code] = _branch(task["taskParams"], outcomes)
            elif str(task.get("taskType", "")).upper() == "SWITCH":
                # the task's own parameters, then the workflow's (DS's prepared parameters hold both)
                local = switch.global_params(json.dumps(task["taskParams"].get("localParams") or []))
                taken, targets = switch.branch(task["taskParams"], {**params, **local})
                # no case holds and no default, or a branch not in the DAG: DS's SwitchLogicTask fails the task
                outcome = "FAILURE" if taken is None or taken not in tasks else "SUCCESS"
                passed_over[code] = targets - {taken} if taken is not None else targets
            elif "exit 1" in str(task.get("taskParams", {}).get("rawScript", "")):
                outcome = "FAILURE"
            task_duration = rule.duration_seconds if rule and rule.duration_seconds is not None else duration
            ends[code] = start + task_duration
            plans.append(TaskPlan(json.loads(json.dumps(task)), start, start + task_duration, outcome))
            outcomes[code] = outcome
            if outcome == "FAILURE":
                failed.add(code)
        # a failed task with a CONDITIONS task after it is handled by it (DS's master submits the CONDITIONS task
        # instead of ending the run): it neither ends the run nor fails the workflow
        handled = {
            pre
            for post, pres in upstream.items()
            if str(tasks[post].get("taskType", "")).upper() == "CONDITIONS"
            for pre in pres
        }
        unhandled = failed - handled
        if failure_strategy == "END" and unhandled:
            first_failure = min(p.end for p in plans if p.outcome == "FAILURE" and p.task["code"] in unhandled)
            plans = [p for p in plans if p.start < first_failure]
        if wf_rule is not None and wf_rule.outcome == "FAILURE" and plans and not failed:
            last = max(p.end for p in plans)
            for p in plans:
                if p.end == last:
                    p.outcome = "FAILURE"
        outcome = (
            "FAILURE" if any(p.outcome == "FAILURE" and p.task["code"] not in handled for p in plans) else "SUCCESS"
        )
        end = max((p.end for p in plans), default=run_start)
        return plans, end, outcome

    def _dependent_outcome(self, task: Json, at: float) -> str:
        """A DEPENDENT task's outcome at ``at``: each item holds when the workflow ``definitionCode`` (of project
        ``projectCode``) has an instance that succeeded in the item's period, in which the task ``depTaskCode`` (0:
        the whole workflow) succeeded, finished by ``at``; items and groups combine by their relations. Nothing to
        wait for fails the task (``DEPENDENT_FAILURE_FAILURE``; the emulator does not wait)."""
        dependence = task["taskParams"]["dependence"]

        def succeeded_in(item: Json, start: float, end: float) -> bool:
            task_code = int(item.get("depTaskCode") or 0)
            for inst in self.instances_by_workflow.get(int(item["definitionCode"]), ()):
                if inst.project_code != int(item["projectCode"]) or not start <= inst.run_start < end:
                    continue
                if task_code == 0:
                    if inst.outcome == "SUCCESS" and inst.end <= at:
                        return True
                elif any(p.task["code"] == task_code and p.outcome == "SUCCESS" and p.end <= at for p in inst.plans):
                    return True
            return False

        def holds(item: Json) -> bool:
            return all(succeeded_in(item, a, b) for a, b in dependent_intervals(item["dateValue"], at))

        def combine(relation: str, results: Iterable[bool]) -> bool:
            return all(results) if relation == "AND" else any(results)

        ok = combine(
            dependence.get("relation", "AND"),
            (
                combine(g.get("relation", "AND"), (holds(i) for i in g["dependItemList"]))
                for g in dependence["dependTaskList"]
            ),
        )
        return "SUCCESS" if ok else "FAILURE"

    def start(
        self,
        user: User,
        wf: Workflow,
        *,
        command_type: str = "START_PROCESS",
        schedule_time: float | None = None,
        failure_strategy: str = "END",
        warning_type: str = "NONE",
        warning_group_id: int | None = None,
        priority: str = "MEDIUM",
        worker_group: str = "default",
        tenant_code: str = "default",
        environment_code: int = -1,
        dry_run: int = 0,
        start_params: str | None = None,
    ) -> int:
        problem = self.trigger_problem(wf, tenant_code)
        if problem is not None:  # the callers check first and answer as their endpoint does
            raise JavaException(problem)
        now = self.clock()
        run_start = now + self.timing.submit_delay
        plans, end, outcome = self._plan(wf, run_start, failure_strategy)
        stamp = datetime.fromtimestamp(now, tz=UTC).strftime("%Y%m%d%H%M%S%f")[:17]
        inst_id = self.next_id()
        run_times = 1 + sum(1 for i in self.instances.values() if i.workflow.code == wf.code)
        instance = Instance(
            id=inst_id, name=f"{wf.name}-{run_times}-{stamp}", workflow=wf, workflow_version=wf.version,
            project_code=wf.project_code, created=now, run_start=run_start, end=end, outcome=outcome,
            plans=plans, command_type=command_type, schedule_time=schedule_time,
            failure_strategy=failure_strategy, warning_type=warning_type, warning_group_id=warning_group_id,
            priority=priority, worker_group=worker_group, tenant_code=tenant_code,
            environment_code=environment_code, executor_id=user.id, executor_name=user.user_name,
            dry_run=dry_run, global_params=wf.global_params,
        )  # fmt: skip
        del start_params
        self._add_instance(instance)
        return inst_id

    def _add_instance(self, instance: Instance) -> None:
        self.instances[instance.id] = instance
        self.instances_by_workflow.setdefault(instance.workflow.code, []).append(instance)
        self._pending[instance.id] = instance

    def seed_bulk(
        self,
        project_name: str,
        workflows: int,
        instances_per_workflow: int,
        *,
        failure_every: int = 0,
        spacing_seconds: float = 60.0,
    ) -> Json:
        """Emulator only: ``workflows`` ONLINE one-task workflows in ``project_name`` (created for admin if
        missing), each with ``instances_per_workflow`` finished instances started in the past (every
        ``failure_every``-th instance fails). Bypasses the per-call validation so 10,000 workflows take seconds."""
        admin = self.users[1]
        project = self.project_by_name(project_name) or self.create_project(admin, project_name, "bulk seed")
        now = self.clock()
        codes: list[int] = []
        n = 0
        for i in range(workflows):
            task_code = self.next_code()
            task: Json = {
                "code": task_code, "version": 1, "name": "seeded", "description": "", "taskType": "SHELL",
                "taskParams": {"rawScript": "echo seeded", "localParams": [], "resourceList": []},
                "flag": "YES", "taskPriority": "MEDIUM", "workerGroup": "default", "environmentCode": -1,
                "failRetryTimes": 0, "failRetryInterval": 1, "timeoutFlag": "CLOSE", "timeout": 0, "delayTime": 0,
                "taskExecuteType": "BATCH",
            }  # fmt: skip
            relation: Json = {
                "name": "", "preTaskCode": 0, "preTaskVersion": 0, "postTaskCode": task_code, "postTaskVersion": 1,
                "conditionType": "NONE", "conditionParams": {},
            }  # fmt: skip
            wf = Workflow(
                id=self.next_id(), code=self.next_code(), name=f"{project_name}-wf-{i}", project_code=project.code,
                version=1, description="", global_params="[]", timeout=0, execution_type="PARALLEL", locations=None,
                other_params_json=None, release_state="ONLINE", user_id=admin.id, user_name=admin.user_name,
                tasks=[task], relations=[relation], created=now, updated=now,
            )  # fmt: skip
            self.workflows[wf.code] = wf
            codes.append(wf.code)
            for j in range(instances_per_workflow):
                n += 1
                created = now - (instances_per_workflow - j) * spacing_seconds
                outcome = "FAILURE" if failure_every and n % failure_every == 0 else "SUCCESS"
                plan = TaskPlan(dict(task), created + 0.05, created + 1.0, outcome)
                stamp = datetime.fromtimestamp(created, tz=UTC).strftime("%Y%m%d%H%M%S%f")[:17]
                instance = Instance(
                    id=self.next_id(), name=f"{wf.name}-{j + 1}-{stamp}", workflow=wf, workflow_version=1,
                    project_code=project.code, created=created, run_start=plan.start, end=plan.end,
                    outcome=outcome, plans=[plan], command_type="SCHEDULER", schedule_time=created,
                    failure_strategy="END", warning_type="NONE", warning_group_id=None, priority="MEDIUM",
                    worker_group="default", tenant_code="default", environment_code=-1, executor_id=admin.id,
                    executor_name=admin.user_name, dry_run=0, global_params="[]",
                )  # fmt: skip
                self._add_instance(instance)
        return {"projectCode": project.code, "projectName": project.name, "workflowCodes": codes, "instances": n}

    def advance(self) -> None:
        """Materialise task instances that have started by now (ids in start order)."""
        now = self.clock()
        for instance in list(self._pending.values()):
            if len(instance.task_runs) == len(instance.plans):
                del self._pending[instance.id]
                continue
            for plan in sorted(instance.plans, key=lambda p: (p.start, p.task["code"])):
                code = plan.task["code"]
                if plan.start <= now and code not in instance.task_runs:
                    run = TaskRun(self.next_id(), plan, instance.id)
                    instance.task_runs[code] = run
                    self.task_runs[run.id] = run

    def instance_state(self, instance: Instance, now: float) -> str:
        if now < instance.run_start:
            return "SUBMITTED_SUCCESS"
        if now < instance.end:
            return "RUNNING_EXECUTION"
        return instance.outcome

    def instance(self, project_code: int, instance_id: int) -> Instance:
        self.project(project_code)
        self.advance()
        instance = self.instances.get(instance_id)
        if instance is None or instance.project_code != project_code:
            raise DsError("WORKFLOW_INSTANCE_NOT_EXIST", str(instance_id))
        return instance

    def instance_json(self, instance: Instance, *, with_duration: bool, now: float | None = None) -> Json:
        now = self.clock() if now is None else now
        state = self.instance_state(instance, now)
        finished = state in ("SUCCESS", "FAILURE")
        history = [{"time": fmt(instance.created), "state": "SUBMITTED_SUCCESS", "desc": "init running"}]
        if now >= instance.run_start:
            history.append({"time": fmt(instance.run_start), "state": "RUNNING_EXECUTION", "desc": "start running"})
        if finished:
            history.append({"time": fmt(instance.end), "state": state, "desc": "update by workflow executor"})
        out: Json = {
            "id": instance.id,
            "workflowDefinitionCode": instance.workflow.code,
            "workflowDefinitionVersion": instance.workflow_version,
            "projectCode": instance.project_code,
            "state": state,
            "stateHistory": json.dumps(history),
            "recovery": "NO",
            "startTime": fmt(instance.created),
            "endTime": fmt(instance.end) if finished else None,
            "runTimes": 1,
            "name": instance.name,
            "host": MASTER_HOST if now >= instance.run_start else None,
            "commandType": instance.command_type,
            "commandParam": "{}",
            "taskDependType": "TASK_POST",
            "maxTryTimes": 0,
            "failureStrategy": instance.failure_strategy,
            "warningType": instance.warning_type,
            "warningGroupId": instance.warning_group_id,
            "scheduleTime": fmt(instance.schedule_time),
            "commandStartTime": fmt(instance.created),
            "globalParams": instance.global_params,
            "executorId": instance.executor_id,
            "executorName": instance.executor_name,
            "tenantCode": instance.tenant_code,
            "queue": "default",
            "isSubWorkflow": "NO",
            "historyCmd": instance.command_type,
            "duration": None,
            "workflowInstancePriority": instance.priority,
            "workerGroup": instance.worker_group,
            "environmentCode": instance.environment_code,
            "timeout": instance.workflow.timeout,
            "varPool": "[]",
            "nextWorkflowInstanceId": 0,
            "dryRun": instance.dry_run,
            "restartTime": fmt(instance.created),
        }
        if with_duration:
            out["duration"] = format_duration((instance.end if finished else now) - instance.created)
        return out

    def instance_list_entry(self, instance: Instance, now: float) -> bytes:
        """The instance as the list endpoint renders it (``instance_json`` with its duration), encoded as the REST
        envelope encodes it. A final instance (SUCCESS or FAILURE) no longer changes, except for its workflow's
        ``timeout`` (a workflow update), so its bytes are kept and reused while that timeout stays the same; a
        submitted or running one is encoded at every read (state, host, end time and duration progress)."""
        cached = instance.list_entry
        timeout = instance.workflow.timeout
        if cached is not None and cached[0] == timeout:
            return cached[1]
        encoded = encode_json(self.instance_json(instance, with_duration=True, now=now))
        if now >= instance.end:
            instance.list_entry = (timeout, encoded)
        return encoded

    def workflow_instances_newest_first(self, project_code: int, workflow_code: int, now: float) -> list[Instance]:
        """A workflow's instances in the list endpoint's order (as :meth:`list_instances` sorts them)."""
        items = [i for i in self.instances_by_workflow.get(workflow_code, ()) if i.project_code == project_code]
        items.sort(key=lambda i: (i.created, i.end if now >= i.end else 0.0, i.id), reverse=True)
        return items

    def list_instances(
        self, project_code: int, filters: Callable[[Instance, Json], bool], workflow_code: int | None = None
    ) -> list[Json]:
        self.project(project_code)
        self.advance()
        now = self.clock()
        candidates = (
            self.instances.values() if workflow_code is None else self.instances_by_workflow.get(workflow_code, [])
        )
        items = [
            (i, self.instance_json(i, with_duration=True, now=now))
            for i in candidates
            if i.project_code == project_code
        ]
        items = [(i, j) for i, j in items if filters(i, j)]
        items.sort(key=lambda ij: (ij[0].created, ij[0].end if ij[1]["endTime"] else 0.0, ij[0].id), reverse=True)
        return [j for _, j in items]

    def task_state(self, run: TaskRun, now: float) -> tuple[str, str | None]:
        plan = run.plan
        if now < plan.start + min(self.timing.dispatch_delay, (plan.end - plan.start) / 2):
            return "SUBMITTED_SUCCESS", None
        if now < plan.end:
            return "RUNNING_EXECUTION", WORKER_HOST
        return plan.outcome, WORKER_HOST

    def task_json(self, run: TaskRun) -> Json:
        now = self.clock()
        instance = self.instances[run.instance_id]
        state, host = self.task_state(run, now)
        task = run.plan.task
        finished = state in ("SUCCESS", "FAILURE")
        return {
            "id": run.id,
            "name": task["name"],
            "taskType": task["taskType"],
            "workflowInstanceId": instance.id,
            "workflowInstanceName": instance.name,
            "projectCode": instance.project_code,
            "taskCode": task["code"],
            "taskDefinitionVersion": task["version"],
            "processDefinitionName": instance.workflow.name,
            "state": state,
            "firstSubmitTime": fmt(run.plan.start),
            "submitTime": fmt(run.plan.start),
            "startTime": fmt(run.plan.start) if host else None,
            "endTime": fmt(run.plan.end) if finished else None,
            "host": host,
            "executePath": f"/opt/dolphinscheduler/exec/{instance.id}/{run.id}" if host else None,
            "logPath": f"/opt/dolphinscheduler/logs/{instance.id}/{run.id}.log" if host else None,
            "retryTimes": 0,
            "alertFlag": "NO",
            "pid": 4242 if host else 0,
            "appLink": None,
            "flag": "YES",
            "duration": format_duration((run.plan.end if finished else now) - run.plan.start) if host else None,
            "maxRetryTimes": int(task.get("failRetryTimes") or 0),
            "retryInterval": int(task.get("failRetryInterval") or 1),
            "taskInstancePriority": task.get("taskPriority", "MEDIUM"),
            "workflowInstancePriority": instance.priority,
            "workerGroup": task.get("workerGroup", "default"),
            "environmentCode": task.get("environmentCode", -1),
            "executorId": instance.executor_id,
            "varPool": "[]",
            "executorName": instance.executor_name,
            "delayTime": int(task.get("delayTime") or 0),
            "taskParams": json.dumps(task.get("taskParams", {})),
            "dryRun": instance.dry_run,
            "taskGroupId": 0,
            "cpuQuota": task.get("cpuQuota", -1),
            "memoryMax": task.get("memoryMax", -1),
            "taskExecuteType": task.get("taskExecuteType", "BATCH"),
        }

    def log_lines(self, run: TaskRun) -> list[str]:
        now = self.clock()
        state, host = self.task_state(run, now)
        if host is None:
            raise DsError("TASK_INSTANCE_HOST_IS_NULL")
        task = run.plan.task
        stamp = datetime.fromtimestamp(run.plan.start, tz=UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:23] + " +0000"
        script = str(task.get("taskParams", {}).get("rawScript", ""))
        lines = [
            f"[INFO] {stamp} - Begin to initialize task {task['name']}",
            f"[INFO] {stamp} - Set task workDir to /opt/dolphinscheduler/exec/{run.instance_id}/{run.id}",
            f"[INFO] {stamp} - raw script : {script}",
        ]
        for line in script.splitlines():
            match = re.match(r"\s*echo\s+(.*)$", line)
            if match:
                lines.append(f"[INFO] {stamp} -  -> {match.group(1).strip().strip(chr(34)).strip(chr(39))}")
        if state in ("SUCCESS", "FAILURE"):
            code = 0 if state == "SUCCESS" else 1
            lines.append(f"[INFO] {stamp} - process has exited. exitStatusCode:{code}")
            lines.append(f"[INFO] {stamp} - FINALIZE_SESSION")
        return lines


def _branch(params: Json, outcomes: dict[int, str]) -> set[int]:
    """The branch a CONDITIONS task takes: ``successNode`` when its groups hold (an item holds when the task
    ``depTaskCode`` ended in ``status``), ``failedNode`` otherwise; items and groups combine by their relations."""

    def combine(relation: str, results: Iterable[bool]) -> bool:
        return all(results) if relation == "AND" else any(results)

    dependence = params["dependence"]
    holds = combine(
        dependence.get("relation", "AND"),
        (
            combine(
                g.get("relation", "AND"),
                (outcomes.get(int(i["depTaskCode"])) == i.get("status") for i in g["dependItemList"]),
            )
            for g in dependence["dependTaskList"]
        ),
    )
    result = params["conditionResult"]
    return {int(c) for c in result["successNode" if holds else "failedNode"]}
