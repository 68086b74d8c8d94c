// Task-level metrics (history-sync, seed §4.5): how a task's last runs are shown. Pure (unit-tested).
import type { TaskMetrics, TaskRunCell } from '@/api/types'
import { formatSeconds } from '@/lib/format'

/** `83%` (rounded), or null without a finished run. */
export function formatRate(rate: number | null | undefined): string | null {
  if (rate == null || Number.isNaN(rate)) return null
  return `${Math.round(rate * 100)}%`
}

/** A duration in seconds as `1m 5s` (sub-second ones as `<1s`); null when unknown. */
export function formatDuration(seconds: number | null | undefined): string | null {
  if (seconds == null || Number.isNaN(seconds) || seconds < 0) return null
  if (seconds > 0 && seconds < 1) return '<1s'
  return formatSeconds(Math.round(seconds))
}

/** The compact cell of the task list: `rate · p90`, with `—` for what is unknown; null without metrics. */
export function compactSummary(m: TaskMetrics | null | undefined): { rate: string; p90: string } | null {
  if (!m) return null
  return { rate: formatRate(m.success_rate) ?? '—', p90: formatDuration(m.p90_seconds) ?? '—' }
}

/** What a run's dot shows: the task's state, else the run's when the task was not read (a run still going). */
export function cellState(c: TaskRunCell): { state: string; ofRun: boolean } {
  return c.state != null ? { state: c.state, ofRun: false } : { state: c.run_state, ofRun: true }
}
