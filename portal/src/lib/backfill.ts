// The backfill screen (issue 21 item 4): what a backfill form sends as a batch start, and run now's options.
// Pure (unit-tested).
import type { BatchRunInput, BatchRunItem, BatchRunResult, RunInput, WarningType } from '@/api/types'

export type RunMode = 'serial' | 'parallel'

export const MAX_WORKFLOWS = 200
export const MAX_PARALLELISM = 100

export interface BackfillForm {
  workflowIds: number[]
  /** the date picker's `daterange`: local midnights of the first and the last day (ms), or null */
  range: [number, number] | null
  mode: RunMode
  /** parallel only: how many dates DolphinScheduler runs at once (empty: DS decides) */
  parallelism: number | null
  warningType: WarningType
  workerGroup: string
}

/** i18n keys under `backfill.invalid` */
export type BackfillProblem = 'noWorkflows' | 'tooManyWorkflows' | 'noRange' | 'endBeforeStart' | 'parallelism' | 'workerGroup'

/** The calendar day a date picker's value stands for (its local date), as `YYYY-MM-DD`. */
export function dayOf(ms: number): string {
  const d = new Date(ms)
  const pad = (n: number) => String(n).padStart(2, '0')
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`
}

/** A worker group as the API takes it: 1-64 characters, no space at either end (empty: the default). */
export function validWorkerGroup(value: string): boolean {
  return value === '' || (value.length <= 64 && /^\S(.*\S)?$/.test(value))
}

/** What the form is missing or gets wrong, in the order the form shows its fields. */
export function backfillProblems(form: BackfillForm): BackfillProblem[] {
  const out: BackfillProblem[] = []
  if (!form.workflowIds.length) out.push('noWorkflows')
  if (form.workflowIds.length > MAX_WORKFLOWS) out.push('tooManyWorkflows')
  if (!form.range) out.push('noRange')
  else if (form.range[1] < form.range[0]) out.push('endBeforeStart')
  const p = form.parallelism
  if (form.mode === 'parallel' && p !== null && !(Number.isInteger(p) && p >= 1 && p <= MAX_PARALLELISM)) out.push('parallelism')
  if (!validWorkerGroup(form.workerGroup)) out.push('workerGroup')
  return out
}

/** The batch start a valid form sends: from the first day's start to the last day's end, in UTC (DolphinScheduler runs
 * in UTC). DS makes one instance per fire time of the workflow's online schedule in that closed range (daily at
 * midnight when it has none: CronUtils.getSelfFireDateList), so every fire time of the last day is included. */
export function backfillBody(form: BackfillForm): BatchRunInput {
  if (backfillProblems(form).length || !form.range) throw new Error('the backfill form is not valid')
  const body: BatchRunInput = {
    workflow_ids: [...form.workflowIds],
    backfill: { start: `${dayOf(form.range[0])}T00:00:00Z`, end: `${dayOf(form.range[1])}T23:59:59Z` },
    run_mode: form.mode,
    warning_type: form.warningType,
  }
  if (form.mode === 'parallel' && form.parallelism !== null) body.parallelism = form.parallelism
  if (form.workerGroup) body.worker_group = form.workerGroup
  return body
}

export type FailureStrategy = 'END' | 'CONTINUE'

/** A workflow's failure strategy, which DolphinScheduler sets per run and per schedule (not per task): END when any
 *  task's `node_attrs` says END, else CONTINUE (END for no tasks). The rule of the publisher
 *  (`common.workflow.workflow_failure_strategy`): its schedule and a run that does not choose get it. */
export function workflowFailureStrategy(
  tasks: readonly { node_attrs?: { failure_strategy?: FailureStrategy } | null }[],
): FailureStrategy {
  return tasks.length > 0 && tasks.every((x) => x.node_attrs?.failure_strategy === 'CONTINUE') ? 'CONTINUE' : 'END'
}

export interface RunOptionsForm {
  /** the date-time picker's value (ms) or null: now */
  scheduleTime: number | null
  warningType: WarningType
  workerGroup: string
  /** null or absent: the workflow's own (`workflowFailureStrategy`, applied by the publisher) */
  failureStrategy?: FailureStrategy | null
}

/** Run now's body: only what differs from the defaults (no schedule time: now; `NONE`; the publisher's group). */
export function runOptions(form: RunOptionsForm): RunInput {
  const body: RunInput = {}
  if (form.scheduleTime !== null) body.schedule_time = new Date(form.scheduleTime).toISOString()
  if (form.warningType !== 'NONE') body.warning_type = form.warningType
  if (form.workerGroup) body.worker_group = form.workerGroup
  if (form.failureStrategy) body.failure_strategy = form.failureStrategy
  return body
}

export interface BackfillRow extends BatchRunItem {
  name: string
}

/** The answer's rows with the workflows' names (a workflow not in `names` shows as `#id`). */
export function resultRows(result: BatchRunResult, names: ReadonlyMap<number, string>): BackfillRow[] {
  return result.results.map((r) => ({ ...r, name: names.get(r.workflow_id) ?? `#${r.workflow_id}` }))
}

/** Each instance id with its DolphinScheduler link (`ds_links` is in the order of `instance_ids`; none when DS links
 * are not configured). */
export function instanceLinks(item: BatchRunItem): { id: number; href: string | null }[] {
  const links = item.ds_links ?? []
  return (item.instance_ids ?? []).map((id, i) => ({ id, href: links.length === item.instance_ids?.length ? links[i] : null }))
}
