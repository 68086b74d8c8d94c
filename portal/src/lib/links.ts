// DEPENDENT links to tasks of other workflows (issue 20): the periods DolphinScheduler takes, the links lineage
// suggests for a workflow, what a save sends, and the external nodes a DAG draws. Pure (unit-tested).
import type {
  CrossDependency,
  DependentCycle,
  DependentLinkInput,
  ExternalDependency,
  Proposal,
  SuggestedWorkflow,
} from '@/api/types'

export const DEPENDENT_CYCLES: DependentCycle[] = ['hour', 'day', 'week', 'month']

/** The `dateValue`s DolphinScheduler 3.4 takes per cycle, in its UI's order (common.workflow.DEPENDENT_DATE_VALUES:
 * the service refuses any other with 422 `invalid-dependent-links`). */
export const DEPENDENT_DATE_VALUES: Record<DependentCycle, string[]> = {
  hour: ['currentHour', 'last1Hour', 'last2Hours', 'last3Hours', 'last24Hours'],
  day: ['today', 'last1Days', 'last2Days', 'last3Days', 'last7Days'],
  week: ['thisWeek', 'lastWeek', 'lastMonday', 'lastTuesday', 'lastWednesday', 'lastThursday', 'lastFriday', 'lastSaturday', 'lastSunday'],
  month: ['thisMonth', 'thisMonthBegin', 'lastMonth', 'lastMonthBegin', 'lastMonthEnd'],
}

/** The date value a cycle starts with, and whether `value` is one of the cycle's. */
export function defaultDateValue(cycle: DependentCycle): string {
  return DEPENDENT_DATE_VALUES[cycle][0]
}
export function validDateValue(cycle: DependentCycle, value: string): boolean {
  return DEPENDENT_DATE_VALUES[cycle].includes(value)
}

export interface Period {
  cycle: DependentCycle
  date_value: string
  /** the upstream runs on given days only: waiting for today's run fails on the other days, a person chooses */
  givenDays: boolean
}

/** The period that waits for the upstream workflow's run of the current period, by its Quartz crontab (second
 * minute hour day-of-month month day-of-week [year]), as the service picks it for a proposal
 * (grouping.dependent_period): hourly or more often → `hour`/`currentHour`; otherwise (or no schedule) `day`/`today`,
 * flagged when it runs on given days of the week or month only. */
export function dependentPeriod(crontab: string | null | undefined): Period {
  const fields = crontab ? crontab.trim().split(/\s+/) : []
  if (fields.length < 6) return { cycle: 'day', date_value: 'today', givenDays: false }
  const [, , hour, dom, , dow] = fields
  if (hour === '*' || /[/,-]/.test(hour)) return { cycle: 'hour', date_value: 'currentHour', givenDays: false }
  const givenDays = !['*', '?'].includes(dom) || !['*', '?'].includes(dow)
  return { cycle: 'day', date_value: 'today', givenDays }
}

/** A task of another workflow that tasks of this one depend on by lineage, not (yet) kept as a link. */
export interface LinkSuggestion {
  upstream_task_id: number
  upstream_task_name: string
  upstream_workflow_id: number
  upstream_workflow_name: string
  /** the tasks of this workflow that read what it writes */
  task_ids: number[]
}

/** A lineage producer of a task: the task list's row of it (`workflow_id` null: in no workflow). */
export interface Producer {
  id: number
  name: string
  workflow_id?: number | null
  workflow_name?: string | null
}

/**
 * The links lineage suggests for a workflow: for each of its tasks, the producers (`producers.get(task)`) that are
 * in ANOTHER workflow, one suggestion per upstream task with every task of this workflow that waits for it. Upstream
 * tasks already linked (`linked`) or ignored by the person (`ignored`) are left out; producers in no workflow or in
 * this one are no link (the latter is an edge).
 */
export function suggestLinks(
  workflowId: number | null,
  taskIds: number[],
  producers: Map<number, Producer[]>,
  linked: Iterable<number> = [],
  ignored: Iterable<number> = [],
): LinkSuggestion[] {
  const skip = new Set([...linked, ...ignored])
  const mine = new Set(taskIds)
  const out = new Map<number, LinkSuggestion>()
  for (const taskId of taskIds) {
    for (const p of producers.get(taskId) ?? []) {
      if (p.workflow_id == null || p.workflow_id === workflowId || mine.has(p.id) || skip.has(p.id)) continue
      const s = out.get(p.id) ?? {
        upstream_task_id: p.id,
        upstream_task_name: p.name,
        upstream_workflow_id: p.workflow_id,
        upstream_workflow_name: p.workflow_name ?? `#${p.workflow_id}`,
        task_ids: [],
      }
      if (!s.task_ids.includes(taskId)) s.task_ids.push(taskId)
      out.set(p.id, s)
    }
  }
  return [...out.values()]
    .map((s) => ({ ...s, task_ids: [...s.task_ids].sort((a, b) => a - b) }))
    .sort((a, b) => a.upstream_workflow_id - b.upstream_workflow_id || a.upstream_task_id - b.upstream_task_id)
}

/** What a save sends for the links kept: only the waiting tasks still in the workflow, links left without any
 * dropped (the service refuses a link naming tasks outside the workflow). */
export function linkInputs(links: ExternalDependency[], taskIds: number[]): DependentLinkInput[] {
  const mine = new Set(taskIds)
  return links
    .map((l) => ({
      upstream_task_id: l.upstream_task_id,
      task_ids: [...new Set(l.task_ids.filter((t) => mine.has(t)))].sort((a, b) => a - b),
      cycle: l.cycle,
      date_value: l.date_value,
    }))
    .filter((l) => l.task_ids.length > 0)
}

/** A DAG node id for the DEPENDENT task of a link: the negated upstream task id, as the service numbers it. */
export const externalNodeId = (upstreamTaskId: number) => -upstreamTaskId

export interface ExternalNode {
  id: number
  label: string
  sub: string
  workflowId: number
}

/** The DEPENDENT nodes of a DAG and their edges to the waiting tasks (those in `taskIds` only). */
export function externalNodes(
  links: ExternalDependency[],
  taskIds: number[],
  workflowName?: (id: number) => string | undefined,
): { nodes: ExternalNode[]; edges: [number, number][] } {
  const mine = new Set(taskIds)
  const nodes: ExternalNode[] = []
  const edges: [number, number][] = []
  for (const l of links) {
    const waiting = l.task_ids.filter((t) => mine.has(t))
    if (!waiting.length) continue
    const id = externalNodeId(l.upstream_task_id)
    const wf = l.upstream_workflow_name || workflowName?.(l.upstream_workflow_id) || `#${l.upstream_workflow_id}`
    nodes.push({
      id,
      label: l.upstream_task_name || `#${l.upstream_task_id}`,
      sub: `DEPENDENT · ${wf}`,
      workflowId: l.upstream_workflow_id,
    })
    for (const t of waiting) edges.push([id, t])
  }
  return { nodes, edges }
}

/** A proposal's cut dependencies grouped for the reasons: on tasks of workflows (kept as DEPENDENT links), and on
 * tasks other proposals hold (links once those are accepted), upstream and downstream apart. */
export function cutDependencies(cross: CrossDependency[]): {
  onWorkflows: CrossDependency[]
  onProposals: CrossDependency[]
} {
  return {
    onWorkflows: cross.filter((c) => c.other_workflow_id != null),
    onProposals: cross.filter((c) => c.other_workflow_id == null),
  }
}

/** The proposals the list shows: dismissed ones only when asked for, the largest first (ties by id). */
export function visibleProposals(items: Proposal[], showDismissed: boolean): Proposal[] {
  return items
    .filter((p) => showDismissed || !p.dismissed)
    .sort((a, b) => b.task_count - a.task_count || a.id - b.id)
}

/** Where the portal offers to put a task its lineage points to: the workflow's editor with the task picked. */
export function suggestionTarget(s: SuggestedWorkflow, taskId: number): string {
  return `/workflows/${s.workflow_id}/edit?add=${taskId}`
}
