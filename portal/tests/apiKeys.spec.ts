import { describe, expect, it } from 'vitest'
import { canSubmit, keyInput, newKeyForm } from '@/lib/apiKeys'

describe('the API-key form', () => {
  it('gives a new key 90 days by default and no scope limit', () => {
    const form = { ...newKeyForm(), name: ' ci ', roles: ['publisher' as const] }
    expect(canSubmit(form)).toBe(true)
    expect(keyInput(form)).toEqual({ name: 'ci', roles: ['publisher'], expires_in_days: 90 })
  })

  it('sends scopes, a date or never', () => {
    const base = { ...newKeyForm(), name: 'spark', roles: ['lineage' as const], scopes: ['lineage:write' as const] }
    expect(keyInput({ ...base, expiry: '30' })).toEqual({
      name: 'spark',
      roles: ['lineage'],
      scopes: ['lineage:write'],
      expires_in_days: 30,
    })
    expect(keyInput({ ...base, expiry: 'never' }).never_expires).toBe(true)
    expect(keyInput({ ...base, expiry: 'never' }).expires_in_days).toBeUndefined()
    const date = Date.UTC(2027, 2, 1, 12)
    expect(keyInput({ ...base, expiry: 'date', date }).expires_at).toBe('2027-03-01T12:00:00.000Z')
  })

  it('needs a name, a role and, for a date expiry, the date', () => {
    const ok = { ...newKeyForm(), name: 'x', roles: ['viewer' as const] }
    expect(canSubmit({ ...ok, name: '  ' })).toBe(false)
    expect(canSubmit({ ...ok, roles: [] })).toBe(false)
    expect(canSubmit({ ...ok, expiry: 'date' })).toBe(false)
    expect(canSubmit({ ...ok, expiry: 'date', date: Date.now() + 1000 })).toBe(true)
    expect(() => keyInput({ ...ok, expiry: 'date' })).toThrow('choose the date')
  })
})
