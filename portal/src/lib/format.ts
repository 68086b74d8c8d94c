// Display helpers for DolphinScheduler states, times and durations. Pure (unit-tested).

export type StateKind = 'success' | 'failure' | 'running' | 'other'

/** SUCCESS green, FAILURE red, RUNNING_EXECUTION blue, everything else grey. */
export function stateKind(state: string | null | undefined): StateKind {
  switch (state) {
    case 'SUCCESS':
    case 'FORCED_SUCCESS':
      return 'success'
    case 'FAILURE':
    case 'NEED_FAULT_TOLERANCE':
      return 'failure'
    case 'RUNNING_EXECUTION':
      return 'running'
    default:
      return 'other'
  }
}

export const STATE_COLORS: Record<StateKind, string> = {
  success: '#18a058',
  failure: '#d03050',
  running: '#2080f0',
  other: '#a0a4ab',
}

export function stateColor(state: string | null | undefined): string {
  return STATE_COLORS[stateKind(state)]
}

/** Naive UI tag type for a state. */
export function stateTagType(state: string | null | undefined): 'success' | 'error' | 'info' | 'default' {
  const k = stateKind(state)
  return k === 'success' ? 'success' : k === 'failure' ? 'error' : k === 'running' ? 'info' : 'default'
}

export function formatTime(iso: string | null | undefined, locale = 'zh-CN'): string {
  if (!iso) return '—'
  const d = new Date(iso)
  if (Number.isNaN(d.getTime())) return iso
  return d.toLocaleString(locale, { hour12: false })
}

/** `1h 2m 3s` between two times (or until now when `end` is missing); null when `start` is missing. */
export function durationBetween(start: string | null | undefined, end: string | null | undefined, now = Date.now()) {
  if (!start) return null
  const s = new Date(start).getTime()
  const e = end ? new Date(end).getTime() : now
  if (Number.isNaN(s) || Number.isNaN(e) || e < s) return null
  return formatSeconds(Math.round((e - s) / 1000))
}

export function formatSeconds(total: number): string {
  const h = Math.floor(total / 3600)
  const m = Math.floor((total % 3600) / 60)
  const s = total % 60
  if (h) return `${h}h ${m}m ${s}s`
  if (m) return `${m}m ${s}s`
  return `${s}s`
}
