import { describe, expect, it, vi } from 'vitest'
import { ApiClient, ApiError, buildUrl, problemCode } from '@/api/client'

function respond(status: number, body: unknown, contentType = 'application/problem+json') {
  const text = typeof body === 'string' ? body : JSON.stringify(body)
  return vi.fn(async () => new Response(text, { status, headers: { 'Content-Type': contentType } }))
}

describe('buildUrl', () => {
  it('drops empty values and joins arrays', () => {
    expect(buildUrl('/x', { a: 1, b: '', c: null, d: undefined, e: [1, 2], f: [] , g: false })).toBe('/x?a=1&e=1%2C2&g=false')
    expect(buildUrl('/x')).toBe('/x')
    expect(buildUrl('/x', { a: '' })).toBe('/x')
  })
})

describe('problemCode', () => {
  it('takes the suffix of the problem type', () => {
    expect(problemCode({ type: '/problems/stale-version' }, 409)).toBe('stale-version')
    expect(problemCode({ type: 'https://example.com/problems/forbidden/' }, 403)).toBe('forbidden')
  })
  it('falls back to the status', () => {
    expect(problemCode({ type: 'about:blank' }, 502)).toBe('http-502')
    expect(problemCode({}, 0)).toBe('network')
  })
})

describe('ApiClient', () => {
  it('sends the bearer token and JSON body', async () => {
    const fetchImpl = vi.fn(async (_url: RequestInfo | URL, _init?: RequestInit) => new Response('{"ok":true}', { status: 200 }))
    const c = new ApiClient({ getToken: () => 'tok', fetchImpl: fetchImpl as unknown as typeof fetch })
    const res = await c.post<{ ok: boolean }>('/api/v1/x', { a: 1 }, { page: 2 })
    expect(res.ok).toBe(true)
    const [url, init] = fetchImpl.mock.calls[0]
    expect(url).toBe('/api/v1/x?page=2')
    expect((init?.headers as Record<string, string>).Authorization).toBe('Bearer tok')
    expect(init?.body).toBe('{"a":1}')
  })

  it('sends extra headers (Idempotency-Key) and DELETE without a body; 204 is undefined', async () => {
    const fetchImpl = vi.fn(async (_url: RequestInfo | URL, init?: RequestInit) =>
      init?.method === 'DELETE' ? new Response(null, { status: 204 }) : new Response('{"state":"started"}', { status: 200 }),
    )
    const c = new ApiClient({ getToken: () => 'tok', fetchImpl: fetchImpl as unknown as typeof fetch })
    await c.post('/api/v1/workflows/3/run', {}, undefined, { 'Idempotency-Key': 'k-1' })
    expect((fetchImpl.mock.calls[0][1]?.headers as Record<string, string>)['Idempotency-Key']).toBe('k-1')
    await expect(c.delete('/api/v1/workflows/3', { expected_version_no: 2 })).resolves.toBeUndefined()
    const [url, init] = fetchImpl.mock.calls[1]
    expect(url).toBe('/api/v1/workflows/3?expected_version_no=2')
    expect(init?.method).toBe('DELETE')
    expect(init?.body).toBeUndefined()
  })

  it('maps problem JSON to ApiError with code and extras', async () => {
    const c = new ApiClient({
      getToken: () => null,
      fetchImpl: respond(409, { type: '/problems/stale-version', title: 'Stale version', status: 409, detail: 'expected 3, current 4' }),
    })
    const err = await c.get('/x').catch((e: unknown) => e)
    expect(err).toBeInstanceOf(ApiError)
    expect((err as ApiError).status).toBe(409)
    expect((err as ApiError).code).toBe('stale-version')
    expect((err as ApiError).message).toBe('expected 3, current 4')
  })

  it('calls onUnauthorized on 401 and still throws', async () => {
    const onUnauthorized = vi.fn()
    const c = new ApiClient({ getToken: () => 'bad', onUnauthorized, fetchImpl: respond(401, { type: '/problems/unauthorized', title: 'Unauthorized', detail: 'bad token' }) })
    await expect(c.get('/x')).rejects.toBeInstanceOf(ApiError)
    expect(onUnauthorized).toHaveBeenCalledOnce()
  })

  it('turns FastAPI validation lists and non-JSON bodies into problems', async () => {
    const c1 = new ApiClient({ getToken: () => null, fetchImpl: respond(422, { detail: [{ loc: ['body', 'name'], msg: 'field required' }] }, 'application/json') })
    const e1 = (await c1.get('/x').catch((e: unknown) => e)) as ApiError
    expect(e1.problem.errors?.[0]).toEqual({ location: 'body.name', message: 'field required' })
    expect(e1.code).toBe('http-422')
    const c2 = new ApiClient({ getToken: () => null, fetchImpl: respond(502, '<html>Bad gateway</html>', 'text/html') })
    const e2 = (await c2.get('/x').catch((e: unknown) => e)) as ApiError
    expect(e2.status).toBe(502)
    expect(e2.code).toBe('http-502')
  })

  it('reports a network failure as status 0', async () => {
    const c = new ApiClient({ getToken: () => null, fetchImpl: vi.fn(async () => { throw new TypeError('Failed to fetch') }) as unknown as typeof fetch })
    const err = (await c.get('/x').catch((e: unknown) => e)) as ApiError
    expect(err.status).toBe(0)
    expect(err.code).toBe('network')
  })
})
