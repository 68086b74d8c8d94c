// The two states of a workflow, side by side: the platform's status and what DolphinScheduler holds. Pure
// (unit-tested).
import type { ReleaseState } from '@/api/types'

export type DsRelease = 'not_deployed' | 'deployed' | 'offline' | 'online'
export type DsSchedule = 'on' | 'off' | 'none'

export interface DsState {
  release: DsRelease
  /** only shown while DS holds the workflow online (offline takes the schedule offline with it) */
  schedule: DsSchedule | null
}

/** `release_state`/`schedule_online` of a workflow as one of four states. `deployed` is a workflow DS has whose
 * release state is not known yet (a publish in progress). */
export function dsStateOf(
  releaseState: ReleaseState | null | undefined,
  scheduleOnline: boolean | null | undefined,
  workflowCode: number | null | undefined,
  hasSchedule?: boolean,
): DsState {
  if (releaseState === 'ONLINE') {
    const schedule: DsSchedule = scheduleOnline ? 'on' : hasSchedule === false ? 'none' : 'off'
    return { release: 'online', schedule }
  }
  if (releaseState === 'OFFLINE') return { release: 'offline', schedule: null }
  return { release: workflowCode ? 'deployed' : 'not_deployed', schedule: null }
}
