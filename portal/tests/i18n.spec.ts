import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import en from '@/i18n/en'
import zh from '@/i18n/zh-CN'

function flatten(obj: object, prefix = ''): Map<string, string> {
  const out = new Map<string, string>()
  for (const [k, v] of Object.entries(obj)) {
    const key = prefix ? `${prefix}.${k}` : k
    if (v && typeof v === 'object') for (const [kk, vv] of flatten(v, key)) out.set(kk, vv)
    else out.set(key, String(v))
  }
  return out
}

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name)
    if (statSync(p).isDirectory()) return sources(p)
    return /\.(vue|ts)$/.test(name) && !p.includes('/i18n/') ? [p] : []
  })
}

const enKeys = flatten(en)
const zhKeys = flatten(zh)

describe('i18n', () => {
  it('zh-CN and en have exactly the same keys', () => {
    const missingInZh = [...enKeys.keys()].filter((k) => !zhKeys.has(k))
    const missingInEn = [...zhKeys.keys()].filter((k) => !enKeys.has(k))
    expect(missingInZh).toEqual([])
    expect(missingInEn).toEqual([])
  })

  it('uses the same {parameters} in both languages', () => {
    const params = (s: string) => [...s.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort()
    const diff = [...enKeys].filter(([k, v]) => JSON.stringify(params(v)) !== JSON.stringify(params(zhKeys.get(k) ?? '')))
    expect(diff.map(([k]) => k)).toEqual([])
  })

  it('has no empty texts and no vue-i18n special characters', () => {
    for (const m of [enKeys, zhKeys])
      for (const [k, v] of m) {
        expect(v.trim(), k).not.toBe('')
        expect(/[|@]/.test(v), `${k}: ${v}`).toBe(false)
      }
  })

  it('every key used literally in the code exists', () => {
    const root = fileURLToPath(new URL('../src', import.meta.url))
    const used = new Set<string>()
    for (const file of sources(root)) {
      const text = readFileSync(file, 'utf8')
      for (const m of text.matchAll(/\bt\(\s*'([a-zA-Z0-9_.]+)'/g)) used.add(m[1])
    }
    expect(used.size).toBeGreaterThan(100)
    const missing = [...used].filter((k) => !enKeys.has(k))
    expect(missing).toEqual([])
  })

  it('has labels for every DS state, status and publish operation the API can return', () => {
    for (const s of ['SUCCESS', 'FAILURE', 'RUNNING_EXECUTION', 'STOP', 'PAUSE', 'SUBMITTED_SUCCESS', 'WAIT_TO_RUN', 'SERIAL_WAIT', 'FAILOVER', 'READY_STOP', 'READY_PAUSE'])
      expect(enKeys.has(`dsState.${s}`)).toBe(true)
    for (const s of ['draft', 'ready', 'online', 'offline', 'archived']) {
      expect(enKeys.has(`status.${s}`)).toBe(true)
      expect(enKeys.has(`statusHint.${s}`)).toBe(true)
    }
    for (const a of ['approve', 'online', 'offline', 'archive']) expect(enKeys.has(`actions.${a}`)).toBe(true)
    for (const s of ['starting', 'started', 'unknown', 'not_started', 'failed']) expect(enKeys.has(`run.state.${s}`)).toBe(true)
    for (const r of ['not_deployed', 'deployed', 'offline', 'online']) expect(enKeys.has(`dsRelease.hint.${r}`)).toBe(true)
    for (const o of ['deploy', 'online', 'offline']) expect(enKeys.has(`publish.op.${o}`)).toBe(true)
    for (const r of ['not_approved', 'not_deployed', 'draft', 'platform_offline', 'archived']) expect(enKeys.has(`errors.publishReasons.${r}`)).toBe(true)
    for (const r of ['reverse', 'no_data_link']) expect(enKeys.has(`lineageCheck.reason.${r}`)).toBe(true)
  })
})
