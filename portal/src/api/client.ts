// A small typed fetch wrapper: bearer token, JSON, problem JSON → ApiError. No UI code here (unit-tested).
import type { Problem } from './types'

export const TOKEN_KEY = 'wp.token'

export type Query = Record<string, string | number | boolean | null | undefined | (string | number)[]>

/** An HTTP call that failed: `status` 0 means the server could not be reached at all. */
export class ApiError extends Error {
  readonly status: number
  readonly problem: Problem
  /** the problem `type` suffix (`/problems/stale-version` → `stale-version`), or `http-<status>` */
  readonly code: string

  constructor(status: number, problem: Problem) {
    super(problem.detail || problem.title || `HTTP ${status}`)
    this.name = 'ApiError'
    this.status = status
    this.problem = problem
    this.code = problemCode(problem, status)
  }
}

export function problemCode(problem: Problem, status: number): string {
  const type = typeof problem.type === 'string' ? problem.type : ''
  if (type && type !== 'about:blank') {
    const tail = type.replace(/\/+$/, '').split('/').pop()
    if (tail) return tail
  }
  if (status === 0) return 'network'
  return `http-${status}`
}

/** Build `path?query` leaving out empty values; arrays become comma-separated lists. */
export function buildUrl(path: string, query?: Query): string {
  if (!query) return path
  const params = new URLSearchParams()
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined || value === null || value === '') continue
    if (Array.isArray(value)) {
      if (value.length) params.set(key, value.join(','))
    } else {
      params.set(key, String(value))
    }
  }
  const qs = params.toString()
  return qs ? `${path}?${qs}` : path
}

/** Turn a non-2xx answer into a Problem, whatever the body is (problem JSON, plain JSON, HTML from a proxy…). */
export async function toProblem(res: Response): Promise<Problem> {
  const text = await res.text().catch(() => '')
  if (text) {
    try {
      const body: unknown = JSON.parse(text)
      if (body && typeof body === 'object' && !Array.isArray(body)) {
        const p = body as Problem
        // FastAPI's default {"detail": [...]} validation shape
        if (Array.isArray(p.detail)) {
          const items = p.detail as { loc?: unknown[]; msg?: string }[]
          return {
            title: 'Validation failed',
            status: res.status,
            detail: items.map((i) => `${(i.loc ?? []).join('.')}: ${i.msg ?? ''}`).join('; '),
            errors: items.map((i) => ({ location: (i.loc ?? []).join('.'), message: i.msg ?? '' })),
          }
        }
        return { status: res.status, ...p }
      }
    } catch {
      /* not JSON */
    }
  }
  return { status: res.status, title: res.statusText || `HTTP ${res.status}` }
}

export interface ClientOptions {
  baseUrl?: string
  getToken: () => string | null
  /** the CSRF token of a person's session, sent with every change when there is no API token */
  getCsrf?: () => string | null
  /** called on every 401 (the token is missing, wrong or revoked) */
  onUnauthorized?: (err: ApiError) => void
  fetchImpl?: typeof fetch
}

export class ApiClient {
  private readonly opts: ClientOptions

  constructor(opts: ClientOptions) {
    this.opts = opts
  }

  async request<T>(
    method: string,
    path: string,
    body?: unknown,
    query?: Query,
    extraHeaders?: Record<string, string>,
  ): Promise<T> {
    const headers: Record<string, string> = { Accept: 'application/json, application/problem+json', ...extraHeaders }
    const token = this.opts.getToken()
    if (token) headers.Authorization = `Bearer ${token}`
    else if (method !== 'GET') {
      const csrf = this.opts.getCsrf?.()
      if (csrf) headers['X-CSRF-Token'] = csrf
    }
    if (body !== undefined) headers['Content-Type'] = 'application/json'
    const doFetch = this.opts.fetchImpl ?? fetch
    let res: Response
    try {
      res = await doFetch(`${this.opts.baseUrl ?? ''}${buildUrl(path, query)}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
      })
    } catch (e) {
      throw new ApiError(0, { title: 'Network error', detail: e instanceof Error ? e.message : String(e) })
    }
    if (!res.ok) {
      const err = new ApiError(res.status, await toProblem(res))
      if (res.status === 401) this.opts.onUnauthorized?.(err)
      throw err
    }
    if (res.status === 204) return undefined as T
    const text = await res.text()
    return (text ? JSON.parse(text) : undefined) as T
  }

  get<T>(path: string, query?: Query): Promise<T> {
    return this.request<T>('GET', path, undefined, query)
  }

  post<T>(path: string, body: unknown = {}, query?: Query, headers?: Record<string, string>): Promise<T> {
    return this.request<T>('POST', path, body, query, headers)
  }

  put<T>(path: string, body: unknown): Promise<T> {
    return this.request<T>('PUT', path, body)
  }

  delete<T = void>(path: string, query?: Query): Promise<T> {
    return this.request<T>('DELETE', path, undefined, query)
  }
}
