// The API-key form of the admin screen as the API takes it (POST /api/v1/api-keys).
import type { ApiKeyInput, Role, Scope } from '@/api/types'

/** How long a new key lives: a number of days, until a chosen date, or never (on purpose). */
export type Expiry = '30' | '90' | '365' | 'date' | 'never'

export interface ApiKeyForm {
  name: string
  roles: Role[]
  /** none: the key is limited only by its roles */
  scopes: Scope[]
  expiry: Expiry
  /** the chosen date (epoch ms) when `expiry` is `date` */
  date: number | null
}

export function newKeyForm(): ApiKeyForm {
  return { name: '', roles: [], scopes: [], expiry: '90', date: null }
}

export function canSubmit(form: ApiKeyForm): boolean {
  return form.name.trim() !== '' && form.roles.length > 0 && (form.expiry !== 'date' || form.date !== null)
}

export function keyInput(form: ApiKeyForm): ApiKeyInput {
  const out: ApiKeyInput = { name: form.name.trim(), roles: form.roles }
  if (form.scopes.length) out.scopes = form.scopes
  if (form.expiry === 'never') out.never_expires = true
  else if (form.expiry === 'date') {
    if (form.date === null) throw new Error('choose the date the key expires')
    out.expires_at = new Date(form.date).toISOString()
  } else out.expires_in_days = Number(form.expiry)
  return out
}
