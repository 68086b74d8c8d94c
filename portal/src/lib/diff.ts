// Helpers that turn a ChangeSummary (definition.domain.diff) and two snapshots into rows for the side-by-side view.
// Pure (unit-tested).
import type { ChangeSummary, ExternalDependency, FieldChange, Schedule, StructureSnapshot } from '@/api/types'

export type TaskName = (id: number) => string | undefined

export function taskLabel(id: number, taskName?: TaskName): string {
  const name = taskName?.(id)
  return name ? `${name} (#${id})` : `#${id}`
}

/** A JSON value as short readable text: `—` for nothing, strings as they are, params as `name=value`. */
export function formatValue(v: unknown): string {
  if (v === null || v === undefined || v === '') return '—'
  if (typeof v === 'string') return v
  if (typeof v === 'number' || typeof v === 'boolean') return String(v)
  if (Array.isArray(v)) {
    if (v.length === 0) return '[]'
    if (v.every((x) => x && typeof x === 'object' && 'name' in (x as object) && 'value' in (x as object))) {
      return v.map((x) => `${(x as { name: string }).name}=${(x as { value: string }).value}`).join(', ')
    }
    return v.map((x) => formatValue(x)).join(', ')
  }
  if (typeof v === 'object') {
    const o = v as Record<string, unknown>
    if ('crontab' in o) return formatSchedule(o as unknown as Schedule)
    if ('name' in o && 'value' in o) return `${String(o.name)}=${String(o.value)}`
    return JSON.stringify(v)
  }
  return String(v)
}

export function formatSchedule(s: Schedule | null | undefined): string {
  if (!s) return '—'
  return `${s.crontab} (${s.timezone}) ${s.start_time.slice(0, 10)} → ${s.end_time.slice(0, 10)}`
}

export function formatEdge(e: [number, number], taskName?: TaskName): string {
  return `${taskLabel(e[0], taskName)} → ${taskLabel(e[1], taskName)}`
}

export interface FieldRow {
  field: string
  old: string
  new: string
}

export interface TaskChangeRow {
  taskId: number
  task: string
  fields: FieldRow[]
}

export interface DiffView {
  empty: boolean
  initial: boolean
  summary: string
  tasksAdded: string[]
  tasksRemoved: string[]
  /** tasks this version left in no workflow (they are among the removed ones) */
  tasksUnassigned: string[]
  edgesAdded: string[]
  edgesRemoved: string[]
  tasksChanged: TaskChangeRow[]
  schedule: { kind: string; old: string; new: string } | null
  globalParams: { added: string[]; removed: string[]; changed: FieldRow[] } | null
  workflowFields: FieldRow[]
  /** DEPENDENT links to other workflows' tasks (issue 20), by upstream task */
  linksAdded: string[]
  linksRemoved: string[]
  /** field: the upstream task; old/new: the link's period and waiting tasks */
  linksChanged: FieldRow[]
}

/** The name of a DEPENDENT link by its upstream task id: `task @ workflow`. */
export type LinkName = (upstreamTaskId: number) => string | undefined

/** A DEPENDENT link in a few words: its period and the tasks that wait (`day/today ⇢ load (#3)`). */
export function formatLink(v: unknown, taskName?: TaskName): string {
  if (!v || typeof v !== 'object') return formatValue(v)
  const l = v as Partial<ExternalDependency>
  const waiting = (l.task_ids ?? []).map((id) => taskLabel(id, taskName)).join(', ')
  return `${l.cycle ?? '?'}/${l.date_value ?? '?'} ⇢ ${waiting}`
}

/** The names of the links in two snapshots, for the diff: `task (#id) @ workflow`. */
export function linkNames(...snapshots: (StructureSnapshot | null | undefined)[]): LinkName {
  const m = new Map<number, string>()
  for (const s of snapshots)
    for (const l of s?.external_dependencies ?? []) {
      const task = l.upstream_task_name ? `${l.upstream_task_name} (#${l.upstream_task_id})` : `#${l.upstream_task_id}`
      m.set(l.upstream_task_id, `${task} @ ${l.upstream_workflow_name || `#${l.upstream_workflow_id}`}`)
    }
  return (id) => m.get(id)
}

function fieldRows(changes: FieldChange[] | undefined): FieldRow[] {
  return (changes ?? []).map((c) => ({ field: c.field, old: formatValue(c.old), new: formatValue(c.new) }))
}

export function diffView(cs: ChangeSummary, taskName?: TaskName, linkName?: LinkName): DiffView {
  const link = (id: number | string) => linkName?.(Number(id)) ?? `#${id}`
  const links = cs.dependent_links
  const view: DiffView = {
    empty: false,
    initial: !!cs.is_initial,
    summary: cs.summary ?? '',
    tasksAdded: (cs.tasks_added ?? []).map((id) => taskLabel(id, taskName)),
    tasksRemoved: (cs.tasks_removed ?? []).map((id) => taskLabel(id, taskName)),
    tasksUnassigned: (cs.tasks_unassigned ?? []).map((id) => taskLabel(id, taskName)),
    edgesAdded: (cs.edges_added ?? []).map((e) => formatEdge(e, taskName)),
    edgesRemoved: (cs.edges_removed ?? []).map((e) => formatEdge(e, taskName)),
    tasksChanged: (cs.tasks_changed ?? []).map((tc) => ({
      taskId: tc.task_id,
      task: taskLabel(tc.task_id, taskName),
      fields: fieldRows(tc.changes),
    })),
    schedule: cs.schedule
      ? { kind: cs.schedule.kind, old: formatSchedule(cs.schedule.old), new: formatSchedule(cs.schedule.new) }
      : null,
    globalParams: cs.global_params
      ? {
          added: [...(cs.global_params.added ?? [])],
          removed: [...(cs.global_params.removed ?? [])],
          changed: fieldRows(cs.global_params.changed),
        }
      : null,
    workflowFields: fieldRows(cs.workflow_fields),
    linksAdded: (links?.added ?? []).map(link),
    linksRemoved: (links?.removed ?? []).map(link),
    linksChanged: (links?.changed ?? []).map((c) => ({
      field: link(c.field),
      old: formatLink(c.old, taskName),
      new: formatLink(c.new, taskName),
    })),
  }
  view.empty =
    !view.initial &&
    !view.tasksAdded.length &&
    !view.tasksRemoved.length &&
    !view.edgesAdded.length &&
    !view.edgesRemoved.length &&
    !view.tasksChanged.length &&
    !view.schedule &&
    !view.globalParams &&
    !view.workflowFields.length &&
    !view.linksAdded.length &&
    !view.linksRemoved.length &&
    !view.linksChanged.length
  return view
}

export type RowState = 'added' | 'removed' | 'changed' | 'same'

export interface SideBySideRow {
  key: string
  left: string | null
  right: string | null
  state: RowState
}

/** Tasks of both versions aligned by task id, each marked added / removed / changed / same. */
export function alignTasks(older: StructureSnapshot, newer: StructureSnapshot, cs?: ChangeSummary): SideBySideRow[] {
  const a = new Map(older.tasks.map((t) => [t.task_id, t]))
  const b = new Map(newer.tasks.map((t) => [t.task_id, t]))
  const changed = new Set((cs?.tasks_changed ?? []).map((c) => c.task_id))
  const ids = [...new Set([...a.keys(), ...b.keys()])].sort((x, y) => x - y)
  return ids.map((id) => {
    const l = a.get(id)
    const r = b.get(id)
    const state: RowState = !l ? 'added' : !r ? 'removed' : changed.has(id) ? 'changed' : 'same'
    return {
      key: `t${id}`,
      left: l ? `${l.name} (#${id}) · ${l.task_type}` : null,
      right: r ? `${r.name} (#${id}) · ${r.task_type}` : null,
      state,
    }
  })
}

/** Edges of both versions aligned, each marked added / removed / same. */
export function alignEdges(older: StructureSnapshot, newer: StructureSnapshot): SideBySideRow[] {
  const names = new Map<number, string>()
  for (const t of [...older.tasks, ...newer.tasks]) names.set(t.task_id, t.name)
  const key = (u: number, v: number) => `${u}>${v}`
  const a = new Set(older.edges.map((e) => key(e.upstream_task_id, e.downstream_task_id)))
  const b = new Set(newer.edges.map((e) => key(e.upstream_task_id, e.downstream_task_id)))
  const all = [...new Set([...a, ...b])]
    .map((k) => k.split('>').map(Number) as [number, number])
    .sort((x, y) => x[0] - y[0] || x[1] - y[1])
  return all.map(([u, v]) => {
    const k = key(u, v)
    const text = formatEdge([u, v], (id) => names.get(id))
    const inA = a.has(k)
    const inB = b.has(k)
    return {
      key: `e${k}`,
      left: inA ? text : null,
      right: inB ? text : null,
      state: inA && inB ? 'same' : inA ? 'removed' : 'added',
    }
  })
}
