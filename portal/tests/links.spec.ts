import { describe, expect, it } from 'vitest'
import { link } from './fixtures'
import type { Proposal } from '@/api/types'
import {
  DEPENDENT_DATE_VALUES,
  cutDependencies,
  defaultDateValue,
  dependentPeriod,
  externalNodes,
  linkInputs,
  suggestLinks,
  suggestionTarget,
  validDateValue,
  visibleProposals,
  type Producer,
} from '@/lib/links'


describe('DEPENDENT periods', () => {
  it('has the date values the service validates, the first of each cycle as the default', () => {
    expect(DEPENDENT_DATE_VALUES.day).toEqual(['today', 'last1Days', 'last2Days', 'last3Days', 'last7Days'])
    expect(DEPENDENT_DATE_VALUES.month).not.toContain('thisMonthEnd') // dropped in the service: DS lacks it
    expect(defaultDateValue('hour')).toBe('currentHour')
    expect(defaultDateValue('week')).toBe('thisWeek')
    expect(validDateValue('day', 'today')).toBe(true)
    expect(validDateValue('day', 'currentHour')).toBe(false)
  })

  it('picks the period from the upstream schedule like the service (grouping.dependent_period)', () => {
    expect(dependentPeriod(null)).toEqual({ cycle: 'day', date_value: 'today', givenDays: false })
    expect(dependentPeriod('0 0 2 * * ? *')).toEqual({ cycle: 'day', date_value: 'today', givenDays: false })
    expect(dependentPeriod('0 5 * * * ? *').cycle).toBe('hour')
    expect(dependentPeriod('0 0 */2 * * ? *')).toEqual({ cycle: 'hour', date_value: 'currentHour', givenDays: false })
    expect(dependentPeriod('0 0 1,13 * * ?').cycle).toBe('hour')
    expect(dependentPeriod('0 0 2 ? * MON *')).toEqual({ cycle: 'day', date_value: 'today', givenDays: true })
    expect(dependentPeriod('0 0 2 1 * ? *').givenDays).toBe(true)
    expect(dependentPeriod('bad cron').cycle).toBe('day')
  })
})

describe('suggestLinks', () => {
  const producers = new Map<number, Producer[]>([
    [1, [{ id: 10, name: 'ext_a', workflow_id: 7, workflow_name: 'orders' }, { id: 2, name: 'mine', workflow_id: 5 }]],
    [2, [{ id: 10, name: 'ext_a', workflow_id: 7, workflow_name: 'orders' }, { id: 11, name: 'loose', workflow_id: null }]],
    [3, [{ id: 12, name: 'ext_b', workflow_id: 8, workflow_name: 'billing' }, { id: 13, name: 'same', workflow_id: 5 }]],
  ])

  it('gives one suggestion per upstream task of another workflow, with every task waiting for it', () => {
    expect(suggestLinks(5, [3, 1, 2], producers)).toEqual([
      { upstream_task_id: 10, upstream_task_name: 'ext_a', upstream_workflow_id: 7, upstream_workflow_name: 'orders', task_ids: [1, 2] },
      { upstream_task_id: 12, upstream_task_name: 'ext_b', upstream_workflow_id: 8, upstream_workflow_name: 'billing', task_ids: [3] },
    ])
  })

  it('leaves out producers in no workflow, in this one, linked or ignored', () => {
    expect(suggestLinks(5, [1, 2, 3], producers, [10]).map((s) => s.upstream_task_id)).toEqual([12])
    expect(suggestLinks(5, [1, 2, 3], producers, [], [12]).map((s) => s.upstream_task_id)).toEqual([10])
    // a new workflow (no id yet): a producer picked into it is an edge, not a link
    expect(suggestLinks(null, [1, 2, 3, 13], producers).map((s) => s.upstream_task_id)).toEqual([10, 12])
    expect(suggestLinks(5, [], producers)).toEqual([])
  })
})

describe('links on save and in the DAG', () => {
  it('sends only the waiting tasks still in the workflow and drops links left without any', () => {
    const links = [link(10, [1, 2]), link(12, [3], { cycle: 'hour', date_value: 'last1Hour' })]
    expect(linkInputs(links, [2, 3])).toEqual([
      { upstream_task_id: 10, task_ids: [2], cycle: 'day', date_value: 'today' },
      { upstream_task_id: 12, task_ids: [3], cycle: 'hour', date_value: 'last1Hour' },
    ])
    expect(linkInputs(links, [2])).toEqual([{ upstream_task_id: 10, task_ids: [2], cycle: 'day', date_value: 'today' }])
  })

  it('draws one DEPENDENT node per upstream task (id: the negated upstream task id) before the waiting tasks', () => {
    const { nodes, edges } = externalNodes([link(10, [1, 2]), link(12, [9], { upstream_workflow_name: '' })], [1, 2])
    expect(nodes).toEqual([{ id: -10, label: 'up10', sub: 'DEPENDENT · orders', workflowId: 7 }])
    expect(edges).toEqual([
      [-10, 1],
      [-10, 2],
    ])
    const named = externalNodes([link(12, [1], { upstream_workflow_name: '' })], [1], () => 'named')
    expect(named.nodes[0].sub).toBe('DEPENDENT · named')
  })
})

describe('proposals', () => {
  const proposal = (id: number, count: number, dismissed = false): Proposal => ({
    id,
    kind: 'new_workflow',
    fingerprint: `f${id}`,
    workflow_id: null,
    task_ids: Array.from({ length: count }, (_, i) => id * 100 + i),
    task_count: count,
    edges: [],
    cycle_edges: [],
    cycles: [],
    component_size: count,
    split: false,
    cross_dependencies: [],
    dismissed,
    created_at: '2026-01-01T00:00:00Z',
  })

  it('lists the largest first and the dismissed ones only when asked', () => {
    const items = [proposal(1, 2), proposal(2, 5), proposal(3, 9, true), proposal(4, 5)]
    expect(visibleProposals(items, false).map((p) => p.id)).toEqual([2, 4, 1])
    expect(visibleProposals(items, true).map((p) => p.id)).toEqual([3, 2, 4, 1])
  })

  it('separates dependencies on workflows (links now) from those on other proposals (links later)', () => {
    const c = cutDependencies([
      { upstream_task_id: 1, downstream_task_id: 2, other_workflow_id: 7, outside: 'upstream', kept_as: 'dependent_link' },
      { upstream_task_id: 2, downstream_task_id: 3, other_workflow_id: null, outside: 'downstream', kept_as: 'dependent_link' },
    ])
    expect(c.onWorkflows.map((x) => x.upstream_task_id)).toEqual([1])
    expect(c.onProposals.map((x) => x.upstream_task_id)).toEqual([2])
  })

  it('offers the suggested workflow as its editor with the task picked', () => {
    const s = { workflow_id: 4, workflow_name: 'w', reason: 'all_producers' as const, upstream_task_ids: [], downstream_task_ids: [] }
    expect(suggestionTarget(s, 12)).toBe('/workflows/4/edit?add=12')
  })
})
