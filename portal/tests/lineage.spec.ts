import { describe, expect, it } from 'vitest'
import type { DagLineageCheck, TableLineage } from '@/api/types'
import {
  depthOf,
  edgeKey,
  ignoredKey,
  lineageGraph,
  loadIgnored,
  openCheck,
  pathText,
  saveIgnored,
  tableLink,
  taskLink,
} from '@/lib/lineage'

const task = (id: number, name: string | null, reads: string[], writes: string[], workflow: string | null = 'daily') => ({
  task_id: id,
  name,
  task_type: 'SQL' as const,
  workflow_id: workflow ? 7 : null,
  workflow_name: workflow,
  workflow_link: workflow ? '/workflows/7' : null,
  upstream_distance: null,
  downstream_distance: 1,
  reads,
  writes,
})

const view: TableLineage = {
  table: 'db/b',
  depth: 2,
  tables: [
    { table: 'db/a', upstream_distance: 1, downstream_distance: null },
    { table: 'db/b', upstream_distance: 0, downstream_distance: 0 },
    { table: 'db/c', upstream_distance: null, downstream_distance: 1 },
    { table: 'ext/x', upstream_distance: null, downstream_distance: 2 },
  ],
  tasks: [task(2, 'load', ['db/a'], ['db/b']), task(3, null, ['db/b'], ['db/c'], null)],
  table_edges: [{ source_table: 'db/c', target_table: 'ext/x' }],
  workflows: [],
  truncated: false,
  unavailable: [],
}

describe('table lineage graph', () => {
  it('gives tables negative ids, links the other tables, and draws reads, writes and lineage edges', () => {
    const g = lineageGraph(view)
    expect(g.tableOf.get(-2)).toBe('db/b')
    const centre = g.nodes.find((n) => n.id === -2)
    expect(centre).toMatchObject({ label: 'db/b', tone: 'entry' })
    expect(centre?.link).toBeUndefined()
    expect(g.nodes.find((n) => n.id === -1)).toMatchObject({ tone: 'table', link: '/lineage?table=db%2Fa&depth=2' })
    expect(g.nodes.find((n) => n.id === 2)).toMatchObject({ label: 'load', sub: 'daily', tone: 'normal' })
    expect(g.nodes.find((n) => n.id === 3)?.label).toBe('#3') // a task the definition service does not name
    expect(g.edges).toEqual([
      [-1, 2],
      [2, -2],
      [-2, 3],
      [3, -3],
      [-3, -4],
    ])
  })

  it('builds links and reads depths from the URL within their bounds', () => {
    expect(tableLink('dw.orders & co')).toBe('/lineage?table=dw.orders+%26+co')
    expect(taskLink('load orders')).toBe('/tasks?name=load%20orders')
    expect(taskLink(null)).toBeNull()
    expect(depthOf('3', 5, 2)).toBe(3)
    expect(depthOf('6', 5, 2)).toBe(2)
    expect(depthOf('0', 5, 2)).toBe(2)
    expect(depthOf('x', 5, 2)).toBe(2)
    expect(depthOf(undefined, 5, 2)).toBe(2)
  })

  it('writes an impact path with task names', () => {
    const path = [
      { kind: 'table' as const, table: 'db/a' },
      { kind: 'task' as const, task_id: 2 },
      { kind: 'table' as const, table: 'db/b' },
      { kind: 'task' as const, task_id: 9 },
    ]
    expect(pathText(path, (id) => (id === 2 ? 'load' : null))).toBe('db/a → load → db/b → #9')
  })
})

describe('DAG lineage check in the editor', () => {
  const check: DagLineageCheck = {
    suggested: [
      { upstream_task_id: 1, downstream_task_id: 2, tables: ['db/a'], closes_cycle: false },
      { upstream_task_id: 2, downstream_task_id: 3, tables: [], closes_cycle: false },
    ],
    flagged: [{ upstream_task_id: 3, downstream_task_id: 1, reason: 'reverse', tables: [] }],
    confirmed: [],
    unknown_task_ids: [],
    truncated: false,
  }

  it('shows what is still open in the DAG as drawn now', () => {
    const open = openCheck(check, [[3, 1]], new Set())
    expect(open.suggested.map((s) => edgeKey(s.upstream_task_id, s.downstream_task_id))).toEqual(['1>2', '2>3'])
    expect(open.flagged).toHaveLength(1)
    // accepted since the answer came (now drawn), one ignored, the flagged edge removed
    const later = openCheck(check, [[1, 2]], new Set(['2>3']))
    expect(later.suggested).toEqual([])
    expect(later.flagged).toEqual([])
    expect(openCheck(null, [], new Set())).toEqual({ suggested: [], flagged: [] })
  })

  it('keeps ignored edges per workflow for the browser session', () => {
    const store = new Map<string, string>()
    const storage = { getItem: (k: string) => store.get(k) ?? null, setItem: (k: string, v: string) => void store.set(k, v) }
    saveIgnored(storage, 5, new Set(['1>2']))
    expect(store.has(ignoredKey(5))).toBe(true)
    expect([...loadIgnored(storage, 5)]).toEqual(['1>2'])
    expect(loadIgnored(storage, 6).size).toBe(0)
    expect(loadIgnored(storage, undefined).size).toBe(0)
    store.set(ignoredKey(7), 'not json')
    expect(loadIgnored(storage, 7).size).toBe(0)
    expect(loadIgnored(undefined, 5).size).toBe(0)
  })
})
