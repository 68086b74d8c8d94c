// Who is signed in: an API token the user pasted on the login screen (kept in localStorage: admins, machines), or a
// person's session with their company account (an httpOnly cookie the gateway set; nothing kept here but the
// session's CSRF token, which the gateway also hands the page in a readable cookie and in /auth/session).
import { computed, ref } from 'vue'
import { TOKEN_KEY } from './client'

function read(): string | null {
  try {
    return localStorage.getItem(TOKEN_KEY)
  } catch {
    return null
  }
}

export const token = ref<string | null>(read())
/** why the user was sent back to the login screen (an i18n key), shown there once */
export const logoutReason = ref<string | null>(null)

/** the gateway offers sign-in with a company account (OIDC configured) */
export const sso = ref(false)
/** the CSRF token of the person's session (null: no session) */
export const csrf = ref<string | null>(null)
/** a person is signed in with their company account */
export const sessionActive = computed(() => csrf.value !== null)
/** someone is signed in, by token or by session */
export const signedIn = computed(() => token.value !== null || sessionActive.value)

export function setToken(value: string): void {
  token.value = value
  localStorage.setItem(TOKEN_KEY, value)
  logoutReason.value = null
}

export function clearToken(reason: string | null = null): void {
  token.value = null
  localStorage.removeItem(TOKEN_KEY)
  csrf.value = null
  logoutReason.value = reason
}

export interface SessionState {
  sso: boolean
  signed_in: boolean
  me: { csrf_token: string | null } | null
}

/** Read /auth/session once at start (the cookie goes with it): whether sign-in is offered and whether a session is
 * open. A session that has ended answers 401 `session-ended`: the login screen says so. */
export async function loadSession(fetchImpl: typeof fetch = fetch): Promise<void> {
  try {
    const res = await fetchImpl('/auth/session', { headers: { Accept: 'application/json' } })
    if (res.status === 401) {
      csrf.value = null
      sso.value = true
      if (!token.value) logoutReason.value = 'login.sessionEnded'
      return
    }
    if (!res.ok) return
    const state = (await res.json()) as SessionState
    sso.value = state.sso
    csrf.value = state.signed_in ? (state.me?.csrf_token ?? null) : null
  } catch {
    /* the gateway cannot be reached: the login screen will say so on the next call */
  }
}

export const sessionReady: Promise<void> = typeof window === 'undefined' ? Promise.resolve() : loadSession()

/** Sign out of the session: the gateway deletes it; the browser then goes to the provider's logout page. */
export async function endSession(fetchImpl: typeof fetch = fetch): Promise<string> {
  const headers: Record<string, string> = { Accept: 'application/json' }
  if (csrf.value) headers['X-CSRF-Token'] = csrf.value
  let next = '/login'
  try {
    const res = await fetchImpl('/auth/logout', { method: 'POST', headers })
    if (res.ok) next = ((await res.json()) as { logout_url: string }).logout_url
  } finally {
    csrf.value = null
  }
  return next
}
