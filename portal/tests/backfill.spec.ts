import { describe, expect, it } from 'vitest'
import type { BatchRunResult } from '@/api/types'
import {
  backfillBody,
  backfillProblems,
  dayOf,
  instanceLinks,
  resultRows,
  runOptions,
  validWorkerGroup,
  workflowFailureStrategy,
  type BackfillForm,
} from '@/lib/backfill'

// the date picker's `daterange` gives local midnights
const local = (y: number, m: number, d: number) => new Date(y, m - 1, d).getTime()

const form = (extra: Partial<BackfillForm> = {}): BackfillForm => ({
  workflowIds: [3, 5],
  range: [local(2025, 1, 1), local(2025, 1, 3)],
  mode: 'serial',
  parallelism: null,
  warningType: 'NONE',
  workerGroup: '',
  ...extra,
})

describe('backfill form', () => {
  it('sends the chosen days from the first day start to the last day end, in UTC', () => {
    expect(dayOf(local(2025, 12, 31))).toBe('2025-12-31')
    expect(backfillBody(form())).toEqual({
      workflow_ids: [3, 5],
      backfill: { start: '2025-01-01T00:00:00Z', end: '2025-01-03T23:59:59Z' },
      run_mode: 'serial',
      warning_type: 'NONE',
    })
  })

  it('sends the expected parallelism only in parallel mode, and a worker group when one is given', () => {
    expect(backfillBody(form({ mode: 'parallel', parallelism: 4, workerGroup: 'etl', warningType: 'FAILURE' }))).toMatchObject({
      run_mode: 'parallel',
      parallelism: 4,
      worker_group: 'etl',
      warning_type: 'FAILURE',
    })
    expect(backfillBody(form({ mode: 'parallel' }))).not.toHaveProperty('parallelism') // DS decides
    expect(backfillBody(form({ mode: 'serial', parallelism: 4 }))).not.toHaveProperty('parallelism')
  })

  it('names every problem of the form and sends nothing then', () => {
    expect(backfillProblems(form())).toEqual([])
    expect(backfillProblems(form({ workflowIds: [], range: null }))).toEqual(['noWorkflows', 'noRange'])
    expect(backfillProblems(form({ workflowIds: Array.from({ length: 201 }, (_, i) => i + 1) }))).toEqual(['tooManyWorkflows'])
    expect(backfillProblems(form({ range: [local(2025, 1, 3), local(2025, 1, 1)] }))).toEqual(['endBeforeStart'])
    for (const bad of [0, 101, 2.5]) expect(backfillProblems(form({ mode: 'parallel', parallelism: bad }))).toEqual(['parallelism'])
    expect(backfillProblems(form({ workerGroup: ' etl' }))).toEqual(['workerGroup'])
    expect(() => backfillBody(form({ workflowIds: [] }))).toThrow()
  })

  it('takes worker groups as the API does', () => {
    expect(validWorkerGroup('')).toBe(true) // the default
    expect(validWorkerGroup('etl-2')).toBe(true)
    expect(validWorkerGroup('etl ')).toBe(false)
    expect(validWorkerGroup('x'.repeat(65))).toBe(false)
  })
})

describe('run now options', () => {
  it('sends a failure strategy only when one is chosen (else the workflow\'s applies)', () => {
    expect(runOptions({ scheduleTime: null, warningType: 'NONE', workerGroup: '', failureStrategy: null })).toEqual({})
    expect(runOptions({ scheduleTime: null, warningType: 'NONE', workerGroup: '', failureStrategy: 'CONTINUE' })).toEqual({
      failure_strategy: 'CONTINUE',
    })
  })
  it('takes the workflow\'s failure strategy from its tasks: END when any says END', () => {
    const task = (s?: 'END' | 'CONTINUE') => ({ node_attrs: s === undefined ? {} : { failure_strategy: s } })
    expect(workflowFailureStrategy([task('CONTINUE'), task('CONTINUE')])).toBe('CONTINUE')
    expect(workflowFailureStrategy([task('CONTINUE'), task('END')])).toBe('END')
    expect(workflowFailureStrategy([task('CONTINUE'), task()])).toBe('END') // the node default
    expect(workflowFailureStrategy([])).toBe('END')
  })
  it('sends only what differs from the defaults', () => {
    expect(runOptions({ scheduleTime: null, warningType: 'NONE', workerGroup: '' })).toEqual({})
    expect(runOptions({ scheduleTime: Date.UTC(2025, 2, 4, 5, 6, 7), warningType: 'ALL', workerGroup: 'etl' })).toEqual({
      schedule_time: '2025-03-04T05:06:07.000Z',
      warning_type: 'ALL',
      worker_group: 'etl',
    })
  })
})

describe('backfill result', () => {
  const result: BatchRunResult = {
    instance_ids: [11, 12],
    results: [
      { workflow_id: 3, status: 'started', instance_ids: [11, 12], project_code: 7, ds_links: ['http://ds/ui/projects/7/workflow/instances/11', 'http://ds/ui/projects/7/workflow/instances/12'] },
      { workflow_id: 9, status: 'failed', instance_ids: [], ds_code: 50014, ds_msg: 'offline', ds_links: [] },
    ],
    started: 1,
    failed: 1,
    unknown: 0,
  }

  it('shows each workflow by name with its instances linked to DolphinScheduler', () => {
    const rows = resultRows(result, new Map([[3, 'daily']]))
    expect(rows.map((r) => [r.name, r.status])).toEqual([
      ['daily', 'started'],
      ['#9', 'failed'],
    ])
    expect(instanceLinks(rows[0])).toEqual([
      { id: 11, href: 'http://ds/ui/projects/7/workflow/instances/11' },
      { id: 12, href: 'http://ds/ui/projects/7/workflow/instances/12' },
    ])
    expect(instanceLinks(rows[1])).toEqual([])
    // DS links not configured: the ids alone
    expect(instanceLinks({ workflow_id: 3, status: 'started', instance_ids: [11], ds_links: [] })).toEqual([{ id: 11, href: null }])
  })
})
