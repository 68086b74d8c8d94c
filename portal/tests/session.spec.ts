import { beforeEach, describe, expect, it, vi } from 'vitest'
import { clearToken, csrf, endSession, loadSession, logoutReason, sessionActive, signedIn, sso, token } from '@/api/auth'
import { ApiClient } from '@/api/client'

// the tests run in node: a localStorage of this browser
const stored = new Map<string, string>()
vi.stubGlobal('localStorage', {
  getItem: (k: string) => stored.get(k) ?? null,
  setItem: (k: string, v: string) => void stored.set(k, v),
  removeItem: (k: string) => void stored.delete(k),
})

function answer(status: number, body: unknown) {
  return vi.fn(async (_url: RequestInfo | URL, _init?: RequestInit) => new Response(JSON.stringify(body), { status }))
}

describe('a session with the company account', () => {
  beforeEach(() => {
    clearToken()
    sso.value = false
  })

  it('is read from /auth/session: sign-in offered, the CSRF token kept, nothing in localStorage', async () => {
    const f = answer(200, { sso: true, signed_in: true, me: { name: 'eddie.editor', csrf_token: 'c'.repeat(64) } })
    await loadSession(f as unknown as typeof fetch)
    expect(f.mock.calls[0][0]).toBe('/auth/session')
    expect(sso.value).toBe(true)
    expect(csrf.value).toBe('c'.repeat(64))
    expect(sessionActive.value && signedIn.value).toBe(true)
    expect(token.value).toBeNull()
    expect(localStorage.getItem('wp.token')).toBeNull()
  })

  it('offers sign-in without a session, and says so when the session has ended', async () => {
    await loadSession(answer(200, { sso: true, signed_in: false, me: null }) as unknown as typeof fetch)
    expect(sso.value).toBe(true)
    expect(signedIn.value).toBe(false)
    await loadSession(answer(401, { type: '/problems/session-ended' }) as unknown as typeof fetch)
    expect(signedIn.value).toBe(false)
    expect(logoutReason.value).toBe('login.sessionEnded')
  })

  it('sends the CSRF token with changes only, and never without a session', async () => {
    const f = answer(200, {})
    let tok: string | null = null
    let c: string | null = 'x'.repeat(64)
    const client = new ApiClient({ getToken: () => tok, getCsrf: () => c, fetchImpl: f as unknown as typeof fetch })
    await client.get('/api/v1/workflows')
    await client.post('/api/v1/tasks', {})
    await client.delete('/api/v1/tasks/1')
    const headers = f.mock.calls.map((call) => call[1]?.headers as Record<string, string>)
    expect(headers[0]['X-CSRF-Token']).toBeUndefined()
    expect(headers[1]['X-CSRF-Token']).toBe('x'.repeat(64))
    expect(headers[2]['X-CSRF-Token']).toBe('x'.repeat(64))
    expect(headers[1].Authorization).toBeUndefined()
    // an API token: the bearer key, no CSRF token
    tok = 'adm_key'
    await client.post('/api/v1/tasks', {})
    expect((f.mock.calls[3][1]?.headers as Record<string, string>)['X-CSRF-Token']).toBeUndefined()
    c = null
    tok = null
    await client.post('/api/v1/tasks', {})
    expect((f.mock.calls[4][1]?.headers as Record<string, string>)['X-CSRF-Token']).toBeUndefined()
  })

  it('signs out at the gateway with the CSRF token and goes to the provider', async () => {
    csrf.value = 'd'.repeat(64)
    const f = answer(200, { logout_url: 'http://sso.example.com/logout?id_token_hint=x' })
    const next = await endSession(f as unknown as typeof fetch)
    expect(next).toBe('http://sso.example.com/logout?id_token_hint=x')
    const [url, init] = f.mock.calls[0]
    expect(url).toBe('/auth/logout')
    expect(init?.method).toBe('POST')
    expect((init?.headers as Record<string, string>)['X-CSRF-Token']).toBe('d'.repeat(64))
    expect(csrf.value).toBeNull()
  })
})
