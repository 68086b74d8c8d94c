// Lineage for people (issue 21 item 3): the table lineage graph for DagView, impact paths as text, links, and a
// DAG's lineage check narrowed to what is still open in the editor. Pure (unit-tested).
import type { DagLineageCheck, FlaggedEdge, LineagePathStep, SuggestedEdge, TableLineage } from '@/api/types'

export const MAX_VIEW_DEPTH = 5
export const MAX_IMPACT_DEPTH = 20

export const edgeKey = (u: number, d: number) => `${u}>${d}`

/** The portal route of a table's lineage page. */
export function tableLink(table: string, depth?: number): string {
  const q = new URLSearchParams({ table })
  if (depth) q.set('depth', String(depth))
  return `/lineage?${q.toString()}`
}

/** The task list filtered to a task's name (the task list has no page per task). */
export function taskLink(name: string | null | undefined): string | null {
  return name ? `/tasks?name=${encodeURIComponent(name)}` : null
}

/** A depth from the URL, within 1..max, else `fallback`. */
export function depthOf(raw: unknown, max: number, fallback: number): number {
  const n = typeof raw === 'string' ? Number(raw) : NaN
  return Number.isInteger(n) && n >= 1 && n <= max ? n : fallback
}

export interface GraphNode {
  id: number
  label: string
  sub?: string
  tone: 'entry' | 'table' | 'normal'
  link?: string
}

/** The lineage of a table as a graph for DagView: tasks keep their ids, tables get negative ids (-1, -2, … in
 * name order); edges go table → reading task → written table, and table → table for lineage edges. The centre
 * table is the `entry` node; every other table opens its own lineage page. */
export function lineageGraph(view: TableLineage): { nodes: GraphNode[]; edges: [number, number][]; tableOf: Map<number, string> } {
  const ids = new Map<string, number>()
  view.tables.forEach((t, i) => ids.set(t.table, -(i + 1)))
  const nodes: GraphNode[] = view.tables.map((t) => ({
    id: ids.get(t.table) as number,
    label: t.table,
    tone: t.table === view.table ? 'entry' : 'table',
    link: t.table === view.table ? undefined : tableLink(t.table, view.depth),
  }))
  const edges: [number, number][] = []
  for (const task of view.tasks) {
    nodes.push({ id: task.task_id, label: task.name ?? `#${task.task_id}`, sub: task.workflow_name ?? undefined, tone: 'normal' })
    for (const r of task.reads) if (ids.has(r)) edges.push([ids.get(r) as number, task.task_id])
    for (const w of task.writes) if (ids.has(w)) edges.push([task.task_id, ids.get(w) as number])
  }
  for (const e of view.table_edges)
    if (ids.has(e.source_table) && ids.has(e.target_table))
      edges.push([ids.get(e.source_table) as number, ids.get(e.target_table) as number])
  const tableOf = new Map([...ids].map(([name, id]) => [id, name]))
  return { nodes, edges, tableOf }
}

/** An impact path as text: tables by name, tasks by name (or #id). */
export function pathText(path: LineagePathStep[], nameOf: (id: number) => string | null | undefined): string {
  return path.map((s) => (s.kind === 'table' ? (s.table ?? '') : (nameOf(s.task_id as number) ?? `#${s.task_id}`))).join(' → ')
}

/** The lineage check narrowed to the DAG as drawn now (an answer may be a moment old): suggestions not drawn and
 * not ignored, flags of edges still drawn. */
export function openCheck(
  check: DagLineageCheck | null,
  drawn: [number, number][],
  ignored: ReadonlySet<string>,
): { suggested: SuggestedEdge[]; flagged: FlaggedEdge[] } {
  if (!check) return { suggested: [], flagged: [] }
  const now = new Set(drawn.map(([u, d]) => edgeKey(u, d)))
  return {
    suggested: check.suggested.filter(
      (s) => !now.has(edgeKey(s.upstream_task_id, s.downstream_task_id)) && !ignored.has(edgeKey(s.upstream_task_id, s.downstream_task_id)),
    ),
    flagged: check.flagged.filter((f) => now.has(edgeKey(f.upstream_task_id, f.downstream_task_id))),
  }
}

/** The edges ignored in this browser session for a workflow (`new` for one not saved yet). */
export function ignoredKey(workflowId: number | null | undefined): string {
  return `lineage-ignored:${workflowId ?? 'new'}`
}
export function loadIgnored(storage: Pick<Storage, 'getItem'> | undefined, workflowId: number | null | undefined): Set<string> {
  try {
    const raw = storage?.getItem(ignoredKey(workflowId))
    const list: unknown = raw ? JSON.parse(raw) : []
    return new Set(Array.isArray(list) ? list.filter((x): x is string => typeof x === 'string') : [])
  } catch {
    return new Set()
  }
}
export function saveIgnored(storage: Pick<Storage, 'setItem'> | undefined, workflowId: number | null | undefined, keys: Set<string>): void {
  try {
    storage?.setItem(ignoredKey(workflowId), JSON.stringify([...keys]))
  } catch {
    /* storage full or disabled: ignoring lasts until the page is left */
  }
}
