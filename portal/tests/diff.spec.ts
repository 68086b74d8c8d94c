import { describe, expect, it } from 'vitest'
import { link } from './fixtures'
import type { ChangeSummary, ExternalDependency, SnapshotTask, StructureSnapshot } from '@/api/types'
import { alignEdges, alignTasks, diffView, formatValue, linkNames } from '@/lib/diff'
import { durationBetween, stateColor, stateKind } from '@/lib/format'

const attrs = {
  worker_group: 'default',
  failure_strategy: 'END' as const,
  retries: 0,
  retry_interval_minutes: 1,
  timeout_minutes: 0,
  timeout_strategy: null,
  priority: 'MEDIUM' as const,
  delay_minutes: 0,
}
const task = (id: number, name: string): SnapshotTask => ({
  task_id: id,
  name,
  task_type: 'SHELL',
  description: '',
  params: { kind: 'SHELL', script: 'echo' },
  node_attrs: attrs,
})
const snap = (tasks: SnapshotTask[], edges: [number, number][]): StructureSnapshot => ({
  workflow_id: 1,
  workflow_name: 'wf',
  description: '',
  tasks,
  edges: edges.map(([u, v]) => ({ upstream_task_id: u, downstream_task_id: v })),
  schedule: null,
  global_params: [],
  execution_type: 'PARALLEL',
  timeout_minutes: 0,
  entry_task_ids: [],
  exit_task_ids: [],
})

const summary: ChangeSummary = {
  is_initial: false,
  tasks_added: [3],
  tasks_removed: [2],
  tasks_unassigned: [2],
  edges_added: [[1, 3]],
  edges_removed: [[1, 2]],
  tasks_changed: [
    {
      task_id: 1,
      changes: [
        { field: 'node_attrs.retries', old: 0, new: 3 },
        { field: 'params.local_params', old: [], new: [{ name: 'dt', value: '${date}', direction: 'IN', type: 'VARCHAR' }] },
      ],
    },
  ],
  schedule: {
    kind: 'added',
    old: null,
    new: { crontab: '0 0 2 * * ? *', timezone: 'UTC', start_time: '2026-01-01T00:00:00Z', end_time: '2030-01-01T00:00:00Z' },
  },
  global_params: null,
  workflow_fields: [{ field: 'workflow_name', old: 'a', new: 'b' }],
  summary: '+1 task, −1 task, +1 edge, −1 edge, 1 task modified, schedule added, workflow name changed',
}

describe('diffView', () => {
  it('renders every part of a change summary with task names', () => {
    const names: Record<number, string> = { 1: 'extract', 2: 'old', 3: 'load' }
    const v = diffView(summary, (id) => names[id])
    expect(v.empty).toBe(false)
    expect(v.tasksAdded).toEqual(['load (#3)'])
    expect(v.tasksRemoved).toEqual(['old (#2)'])
    expect(v.tasksUnassigned).toEqual(['old (#2)'])
    expect(v.edgesAdded).toEqual(['extract (#1) → load (#3)'])
    expect(v.edgesRemoved).toEqual(['extract (#1) → old (#2)'])
    expect(v.tasksChanged[0].fields).toEqual([
      { field: 'node_attrs.retries', old: '0', new: '3' },
      { field: 'params.local_params', old: '[]', new: 'dt=${date}' },
    ])
    expect(v.schedule).toEqual({ kind: 'added', old: '—', new: '0 0 2 * * ? * (UTC) 2026-01-01 → 2030-01-01' })
    expect(v.workflowFields).toEqual([{ field: 'workflow_name', old: 'a', new: 'b' }])
  })

  it('says when nothing changed', () => {
    const empty: ChangeSummary = {
      is_initial: false,
      tasks_added: [],
      tasks_removed: [],
      edges_added: [],
      edges_removed: [],
      tasks_changed: [],
      schedule: null,
      global_params: null,
      workflow_fields: [],
      summary: 'no changes',
    }
    expect(diffView(empty).empty).toBe(true)
    expect(diffView({ ...empty, is_initial: true }).empty).toBe(false)
  })
})

describe('side by side', () => {
  const a = snap([task(1, 'extract'), task(2, 'old')], [[1, 2]])
  const b = snap([task(1, 'extract'), task(3, 'load')], [[1, 3]])
  it('aligns tasks by id', () => {
    expect(alignTasks(a, b, summary).map((r) => [r.key, r.state, r.left !== null, r.right !== null])).toEqual([
      ['t1', 'changed', true, true],
      ['t2', 'removed', true, false],
      ['t3', 'added', false, true],
    ])
  })
  it('aligns edges', () => {
    expect(alignEdges(a, b).map((r) => [r.state, r.left ?? r.right])).toEqual([
      ['removed', 'extract (#1) → old (#2)'],
      ['added', 'extract (#1) → load (#3)'],
    ])
  })
})

describe('formatValue and states', () => {
  it('formats JSON values', () => {
    expect(formatValue(null)).toBe('—')
    expect(formatValue('x')).toBe('x')
    expect(formatValue(true)).toBe('true')
    expect(formatValue({ a: 1 })).toBe('{"a":1}')
    expect(formatValue(['a', 'b'])).toBe('a, b')
  })
  it('colours DS states', () => {
    expect(stateKind('SUCCESS')).toBe('success')
    expect(stateKind('FAILURE')).toBe('failure')
    expect(stateKind('RUNNING_EXECUTION')).toBe('running')
    expect(stateKind('STOP')).toBe('other')
    expect(stateColor(null)).toBe(stateColor('WAIT_TO_RUN'))
  })
  it('computes durations', () => {
    expect(durationBetween('2026-01-01T00:00:00Z', '2026-01-01T01:02:03Z')).toBe('1h 2m 3s')
    expect(durationBetween(null, null)).toBeNull()
    expect(durationBetween('2026-01-01T00:00:00Z', null, Date.parse('2026-01-01T00:00:42Z'))).toBe('42s')
  })
})

describe('DEPENDENT links in the diff', () => {
    const withLinks = (links: ExternalDependency[]): StructureSnapshot => ({ ...snap([], []), external_dependencies: links })

  it('shows added, removed and changed links by their upstream task and workflow', () => {
    const older = withLinks([link(10, [1]), link(11, [1])])
    const newer = withLinks([link(11, [1, 2], { cycle: 'hour', date_value: 'currentHour' }), link(12, [2])])
    const view = diffView(
      {
        ...summary,
        dependent_links: {
          added: [12],
          removed: [10],
          changed: [{ field: '11', old: older.external_dependencies![1], new: newer.external_dependencies![0] }],
        },
      },
      (id) => ({ 1: 'load', 2: 'report' })[id],
      linkNames(older, newer),
    )
    expect(view.empty).toBe(false)
    expect(view.linksAdded).toEqual(['up12 (#12) @ orders'])
    expect(view.linksRemoved).toEqual(['up10 (#10) @ orders'])
    expect(view.linksChanged).toEqual([
      { field: 'up11 (#11) @ orders', old: 'day/today ⇢ load (#1)', new: 'hour/currentHour ⇢ load (#1), report (#2)' },
    ])
  })

  it('is empty when only links could have changed and none did', () => {
    const none: ChangeSummary = { ...summary, tasks_added: [], tasks_removed: [], edges_added: [], edges_removed: [], tasks_changed: [], schedule: null, global_params: null, workflow_fields: [] }
    expect(diffView(none).empty).toBe(true)
    expect(diffView({ ...none, dependent_links: { added: [3], removed: [], changed: [] } }).linksAdded).toEqual(['#3'])
  })
})
