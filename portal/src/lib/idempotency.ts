// One Idempotency-Key per intended action (one click): when that same request is sent again because its answer may
// never have come (the network failed, the gateway timed out), it carries the same key, so the platform does it once
// and answers as before. A new click is a new key. Pure (unit-tested).
import { ApiError } from '@/api/client'

interface RandomSource {
  randomUUID?: () => string
  getRandomValues: (bytes: Uint8Array) => Uint8Array
}

/** A random version-4 UUID. `crypto.randomUUID` exists only in secure contexts (https, localhost); elsewhere the
 * UUID is built from `crypto.getRandomValues`, which every browser has. */
export function newIdempotencyKey(source: RandomSource = globalThis.crypto): string {
  if (typeof source.randomUUID === 'function') return source.randomUUID()
  const b = source.getRandomValues(new Uint8Array(16))
  b[6] = (b[6] & 0x0f) | 0x40
  b[8] = (b[8] & 0x3f) | 0x80
  const hex = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('')
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
}

/** No answer (network), or the gateway or a service gave up (502/503/504): the request may or may not have been
 * done, so only the same request with the same key may be sent again. Any other answer is final. */
export function isRetryable(err: unknown): boolean {
  return err instanceof ApiError && [0, 502, 503, 504].includes(err.status)
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

export interface SendOptions {
  /** the key of this click (default: a new one) */
  key?: string
  /** how many times the same request is sent again after a retryable failure (default 2) */
  retries?: number
  /** wait before the n-th resend: `delayMs * n` (default 1000) */
  delayMs?: number
  sleep?: (ms: number) => Promise<void>
}

/** `send(key)` with one key for all its attempts; resends only after a retryable failure (`isRetryable`). */
export async function sendIdempotent<T>(send: (key: string) => Promise<T>, opts: SendOptions = {}): Promise<T> {
  const key = opts.key ?? newIdempotencyKey()
  const retries = opts.retries ?? 2
  const wait = opts.sleep ?? sleep
  for (let attempt = 0; ; attempt += 1) {
    try {
      return await send(key)
    } catch (err) {
      if (attempt >= retries || !isRetryable(err)) throw err
      await wait((opts.delayMs ?? 1000) * (attempt + 1))
    }
  }
}
