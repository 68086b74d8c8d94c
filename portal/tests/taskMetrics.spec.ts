import { describe, expect, it } from 'vitest'
import type { TaskMetrics, TaskRunCell } from '@/api/types'
import { cellState, compactSummary, formatDuration, formatRate } from '@/lib/taskMetrics'

function cell(state: string | null, extra: Partial<TaskRunCell> = {}): TaskRunCell {
  return {
    instance_id: 1,
    run_state: state ?? 'RUNNING_EXECUTION',
    run_start_time: '2026-12-01T08:00:00Z',
    state,
    duration_seconds: state ? 12 : null,
    task_instance_id: state ? 10 : null,
    ...extra,
  }
}

function metrics(extra: Partial<TaskMetrics> = {}): TaskMetrics {
  return {
    task_code: 11,
    task_name: 'load',
    task_type: 'SHELL',
    runs: [cell('SUCCESS'), cell('FAILURE')],
    finished: 2,
    succeeded: 1,
    success_rate: 0.5,
    p50_seconds: 12,
    p90_seconds: 75.4,
    ...extra,
  }
}

describe('task metrics display', () => {
  it('formats the success rate as a rounded percentage, none without finished runs', () => {
    expect(formatRate(0.5)).toBe('50%')
    expect(formatRate(2 / 3)).toBe('67%')
    expect(formatRate(1)).toBe('100%')
    expect(formatRate(0)).toBe('0%')
    expect(formatRate(null)).toBeNull()
    expect(formatRate(undefined)).toBeNull()
  })

  it('formats durations in seconds, sub-second ones as <1s', () => {
    expect(formatDuration(0)).toBe('0s')
    expect(formatDuration(0.4)).toBe('<1s')
    expect(formatDuration(75.4)).toBe('1m 15s')
    expect(formatDuration(3725)).toBe('1h 2m 5s')
    expect(formatDuration(null)).toBeNull()
    expect(formatDuration(-1)).toBeNull()
  })

  it('summarises a task for the list: rate and p90, dashes for what is unknown', () => {
    expect(compactSummary(metrics())).toEqual({ rate: '50%', p90: '1m 15s' })
    // all failed: a rate of 0 and no duration percentile
    expect(compactSummary(metrics({ success_rate: 0, p50_seconds: null, p90_seconds: null }))).toEqual({ rate: '0%', p90: '—' })
    // only runs still going: nothing finished yet
    expect(compactSummary(metrics({ finished: 0, success_rate: null, p90_seconds: null }))).toEqual({ rate: '—', p90: '—' })
    expect(compactSummary(null)).toBeNull()
    expect(compactSummary(undefined)).toBeNull()
  })

  it("shows the task's state, or the run's while the task was not read (a run still going)", () => {
    expect(cellState(cell('FAILURE', { run_state: 'FAILURE' }))).toEqual({ state: 'FAILURE', ofRun: false })
    expect(cellState(cell(null))).toEqual({ state: 'RUNNING_EXECUTION', ofRun: true })
    expect(cellState(cell(null, { run_state: 'SUCCESS' }))).toEqual({ state: 'SUCCESS', ofRun: true })
  })
})
