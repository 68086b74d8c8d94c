// Run now: start a workflow once per click (idempotency key), then follow a run whose outcome DolphinScheduler left
// open (`unknown`: the platform checks DS's instances) by polling it until it settles. Pure (unit-tested).
import type { RunState, RunView } from '@/api/types'
import { isRetryable, sendIdempotent, sleep, type SendOptions } from './idempotency'

/** states in which the outcome is not known yet */
export const OPEN_RUN_STATES: readonly RunState[] = ['starting', 'unknown']

export const isSettled = (run: RunView) => !OPEN_RUN_STATES.includes(run.state)

export interface PollOptions {
  /** between two polls (default 1500 ms) */
  intervalMs?: number
  /** give up after this long and return the run as last seen, still open (default 3 minutes) */
  timeoutMs?: number
  sleep?: (ms: number) => Promise<void>
  now?: () => number
  /** stop polling (e.g. the page was left) and return the run as last seen */
  cancelled?: () => boolean
  /** every answer, the first one included */
  onUpdate?: (run: RunView) => void
}

/** Poll `get()` from `first` until the run settles. A poll that fails retryably (network, 502-504) is simply
 * repeated; any other failure is thrown. Returns the settled run, or the last one seen on timeout/cancel. */
export async function pollRun(get: () => Promise<RunView>, first: RunView, opts: PollOptions = {}): Promise<RunView> {
  const wait = opts.sleep ?? sleep
  const now = opts.now ?? Date.now
  const deadline = now() + (opts.timeoutMs ?? 180_000)
  let run = first
  opts.onUpdate?.(run)
  while (!isSettled(run)) {
    if (opts.cancelled?.() || now() >= deadline) return run
    await wait(opts.intervalMs ?? 1500)
    if (opts.cancelled?.()) return run
    try {
      run = await get()
    } catch (err) {
      if (!isRetryable(err)) throw err
      continue
    }
    opts.onUpdate?.(run)
  }
  return run
}

export interface RunNowCalls {
  /** `POST …/run` with this Idempotency-Key */
  start: (key: string) => Promise<RunView>
  /** `GET …/runs/{runId}` */
  get: (runId: number) => Promise<RunView>
}

/** One click of "run now": start with one key (resent with the same key after a retryable failure), then poll an
 * open outcome until it settles. Throws what the start answered when it was refused (409 …). */
export async function runNow(calls: RunNowCalls, opts: PollOptions & SendOptions = {}): Promise<RunView> {
  const first = await sendIdempotent(calls.start, opts)
  return pollRun(() => calls.get(first.run_id), first, opts)
}
