import { describe, expect, it, vi } from 'vitest'
import { ApiError } from '@/api/client'
import type { RunView } from '@/api/types'
import { isRetryable, newIdempotencyKey, sendIdempotent } from '@/lib/idempotency'
import { dsStateOf } from '@/lib/lifecycle'
import { isSettled, pollRun, runNow } from '@/lib/runs'

const UUID4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/
const noWait = async (_ms: number) => {}

function view(state: RunView['state'], extra: Partial<RunView> = {}): RunView {
  return {
    workflow_id: 7,
    run_id: 42,
    state,
    instance_ids: state === 'started' ? [1001] : [],
    replayed: false,
    detail: null,
    error: null,
    created_at: '2026-01-01T00:00:00Z',
    ...extra,
  }
}
const offline = () => new ApiError(0, { title: 'Network error', detail: 'Failed to fetch' })
const gatewayTimeout = () => new ApiError(504, { title: 'Gateway Timeout' })
const conflict = (code: string) => new ApiError(409, { type: `/problems/${code}`, detail: code })

describe('newIdempotencyKey', () => {
  it('uses crypto.randomUUID where the browser has it', () => {
    expect(newIdempotencyKey({ randomUUID: () => 'from-random-uuid', getRandomValues: (a) => a })).toBe('from-random-uuid')
    expect(newIdempotencyKey()).toMatch(UUID4)
  })

  it('builds a version-4 UUID from getRandomValues outside secure contexts (no randomUUID over plain http)', () => {
    const source = { getRandomValues: (a: Uint8Array) => globalThis.crypto.getRandomValues(a) }
    const keys = new Set(Array.from({ length: 50 }, () => newIdempotencyKey(source)))
    expect(keys.size).toBe(50)
    for (const k of keys) expect(k).toMatch(UUID4)
    const fixed = { getRandomValues: (a: Uint8Array) => a.fill(0xff) }
    expect(newIdempotencyKey(fixed)).toBe('ffffffff-ffff-4fff-bfff-ffffffffffff')
  })
})

describe('sendIdempotent', () => {
  it('resends the same request with the same key after a lost answer, then stops', async () => {
    const send = vi.fn<(key: string) => Promise<string>>()
    send.mockRejectedValueOnce(offline()).mockRejectedValueOnce(gatewayTimeout()).mockResolvedValueOnce('done')
    const sleep = vi.fn(noWait)
    await expect(sendIdempotent(send, { sleep, delayMs: 100 })).resolves.toBe('done')
    expect(send).toHaveBeenCalledTimes(3)
    const keys = send.mock.calls.map(([k]) => k)
    expect(new Set(keys).size).toBe(1)
    expect(keys[0]).toMatch(UUID4)
    expect(sleep.mock.calls.map(([ms]) => ms)).toEqual([100, 200])
  })

  it('gives a new click a new key', async () => {
    const send = vi.fn(async (key: string) => key)
    const a = await sendIdempotent(send)
    const b = await sendIdempotent(send)
    expect(a).not.toBe(b)
  })

  it('never resends after a final answer (409, 422 …) and gives up after the retries', async () => {
    const refused = vi.fn(async () => Promise.reject(conflict('run-in-progress')))
    await expect(sendIdempotent(refused, { sleep: noWait })).rejects.toMatchObject({ code: 'run-in-progress' })
    expect(refused).toHaveBeenCalledTimes(1)

    const down = vi.fn(async () => Promise.reject(offline()))
    await expect(sendIdempotent(down, { retries: 2, sleep: noWait })).rejects.toMatchObject({ status: 0 })
    expect(down).toHaveBeenCalledTimes(3)
    expect(new Set(down.mock.calls.map((c) => (c as unknown[])[0])).size).toBe(1)
  })

  it('keeps a key given by the caller', async () => {
    const send = vi.fn(async (key: string) => key)
    await expect(sendIdempotent(send, { key: 'click-1' })).resolves.toBe('click-1')
  })

  it('classifies what may be resent', () => {
    expect(isRetryable(offline())).toBe(true)
    expect(isRetryable(new ApiError(502, {}))).toBe(true)
    expect(isRetryable(new ApiError(503, {}))).toBe(true)
    expect(isRetryable(gatewayTimeout())).toBe(true)
    expect(isRetryable(new ApiError(500, {}))).toBe(false)
    expect(isRetryable(conflict('platform-offline'))).toBe(false)
    expect(isRetryable(new Error('x'))).toBe(false)
  })
})

describe('pollRun', () => {
  it('polls an unknown outcome every interval until it settles, reporting every state', async () => {
    const get = vi.fn<() => Promise<RunView>>()
    get.mockResolvedValueOnce(view('unknown')).mockResolvedValueOnce(view('started'))
    const sleep = vi.fn(noWait)
    const seen: string[] = []
    const last = await pollRun(get, view('unknown'), { sleep, intervalMs: 1500, onUpdate: (r) => seen.push(r.state) })
    expect(last.state).toBe('started')
    expect(last.instance_ids).toEqual([1001])
    expect(get).toHaveBeenCalledTimes(2)
    expect(sleep.mock.calls.map(([ms]) => ms)).toEqual([1500, 1500])
    expect(seen).toEqual(['unknown', 'unknown', 'started'])
  })

  it('does not poll a settled run', async () => {
    const get = vi.fn<() => Promise<RunView>>()
    for (const s of ['started', 'failed', 'not_started'] as const) {
      expect(isSettled(view(s))).toBe(true)
      await expect(pollRun(get, view(s), { sleep: noWait })).resolves.toMatchObject({ state: s })
    }
    expect(isSettled(view('starting'))).toBe(false)
    expect(get).not.toHaveBeenCalled()
  })

  it('repeats a poll that failed on the way, and throws a final error', async () => {
    const get = vi.fn<() => Promise<RunView>>()
    get.mockRejectedValueOnce(offline()).mockResolvedValueOnce(view('not_started'))
    await expect(pollRun(get, view('unknown'), { sleep: noWait })).resolves.toMatchObject({ state: 'not_started' })
    const gone = vi.fn(async () => Promise.reject(new ApiError(404, { type: '/problems/not-found' })))
    await expect(pollRun(gone, view('unknown'), { sleep: noWait })).rejects.toMatchObject({ status: 404 })
  })

  it('returns the open run when the time is up or the page was left', async () => {
    let clock = 0
    const get = vi.fn(async () => view('unknown'))
    const sleep = vi.fn(async (ms: number) => void (clock += ms))
    const last = await pollRun(get, view('unknown'), { sleep, now: () => clock, intervalMs: 1000, timeoutMs: 5000 })
    expect(last.state).toBe('unknown')
    expect(get).toHaveBeenCalledTimes(5)

    let left = false
    const get2 = vi.fn(async () => {
      left = true
      return view('unknown')
    })
    await expect(pollRun(get2, view('starting'), { sleep: noWait, cancelled: () => left })).resolves.toMatchObject({ state: 'unknown' })
    expect(get2).toHaveBeenCalledTimes(1)
  })
})

describe('runNow', () => {
  it('starts with one key, and follows a 202 "unknown" run by its id until it settles', async () => {
    const start = vi.fn<(key: string) => Promise<RunView>>()
    start.mockRejectedValueOnce(offline()).mockResolvedValueOnce(view('unknown', { run_id: 9 }))
    const get = vi.fn<(runId: number) => Promise<RunView>>(async () => view('started', { run_id: 9 }))
    const last = await runNow({ start, get }, { sleep: noWait })
    expect(last).toMatchObject({ state: 'started', run_id: 9, instance_ids: [1001] })
    expect(start.mock.calls[0][0]).toBe(start.mock.calls[1][0])
    expect(get).toHaveBeenCalledWith(9)
  })

  it('answers a started run at once and passes a refusal on', async () => {
    const get = vi.fn<(runId: number) => Promise<RunView>>()
    await expect(runNow({ start: async () => view('started'), get }, { sleep: noWait })).resolves.toMatchObject({ state: 'started' })
    expect(get).not.toHaveBeenCalled()
    await expect(runNow({ start: async () => Promise.reject(conflict('platform-offline')), get })).rejects.toMatchObject({
      code: 'platform-offline',
    })
  })
})

describe('dsStateOf', () => {
  it('tells not deployed, offline and online (with the schedule) apart', () => {
    expect(dsStateOf(null, null, null)).toEqual({ release: 'not_deployed', schedule: null })
    expect(dsStateOf(null, null, 123)).toEqual({ release: 'deployed', schedule: null })
    expect(dsStateOf('OFFLINE', false, 123)).toEqual({ release: 'offline', schedule: null })
    expect(dsStateOf('ONLINE', true, 123)).toEqual({ release: 'online', schedule: 'on' })
    expect(dsStateOf('ONLINE', false, 123)).toEqual({ release: 'online', schedule: 'off' })
    expect(dsStateOf('ONLINE', null, 123)).toEqual({ release: 'online', schedule: 'off' })
    expect(dsStateOf('ONLINE', false, 123, false)).toEqual({ release: 'online', schedule: 'none' })
  })
})
