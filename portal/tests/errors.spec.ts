import { describe, expect, it } from 'vitest'
import { ApiError } from '@/api/client'
import { describeError, describeProblemItem, type Translate } from '@/api/errors'
import en from '@/i18n/en'
import zh from '@/i18n/zh-CN'

// A tiny translator over the real dictionaries: resolves dotted keys and {param}s.
function translator(messages: object): Translate {
  return (key, params = {}) => {
    let v: unknown = messages
    for (const part of key.split('.')) v = v && typeof v === 'object' ? (v as Record<string, unknown>)[part] : undefined
    if (typeof v !== 'string') return key
    return v.replace(/\{(\w+)\}/g, (_, p: string) => String(params[p] ?? `{${p}}`))
  }
}
const t = translator(en)
const names: Record<number, string> = { 3: 'extract', 7: 'transform', 9: 'load' }
const taskName = (id: number) => names[id]

describe('describeError', () => {
  it('explains a stale version and asks for a reload', () => {
    const e = describeError(new ApiError(409, { type: '/problems/stale-version', detail: 'x' }), t)
    expect(e.code).toBe('stale-version')
    expect(e.reload).toBe(true)
    expect(e.message).toMatch(/Someone else changed this workflow/)
  })

  it('lists cycle paths and unknown tasks of an invalid structure', () => {
    const err = new ApiError(422, {
      type: '/problems/invalid-workflow-structure',
      detail: 'workflow structure is invalid (2 problems)',
      errors: [
        { code: 'unknown_task', task_ids: [42], message: 'unknown task ids: 42' },
        { code: 'cycle', path: [3, 7, 9, 3], message: 'dependency cycle 3 → 7 → 9 → 3' },
      ],
    })
    const e = describeError(err, t, taskName)
    expect(e.title).toBe('The DAG is not valid')
    expect(e.details).toEqual([
      'Unknown tasks: #42',
      'Dependency cycle: extract (#3) → transform (#7) → load (#9) → extract (#3)',
    ])
  })

  it('names the owners of tasks owned by another workflow', () => {
    const err = new ApiError(409, {
      type: '/problems/task-owned-by-another-workflow',
      tasks: [{ task_id: 7, owner_workflow_id: 12 }],
      owner_workflow_ids: [12],
      migration_modes: ['only_current'],
    })
    const e = describeError(err, t, taskName)
    expect(e.details).toEqual(['Task transform (#7) belongs to workflow #12'])
  })

  it('explains why publishing is not allowed and what is', () => {
    const err = new ApiError(409, {
      type: '/problems/publish-not-allowed',
      reason: 'not_approved',
      allowed_operations: ['offline'],
    })
    const e = describeError(err, t)
    expect(e.message).toBe('The current version is not approved yet. Approve it first.')
    expect(e.details).toEqual(['Allowed now: Take offline'])
    // an unknown reason falls back to the generic text
    const e2 = describeError(new ApiError(409, { type: '/problems/publish-not-allowed', reason: 'new_reason', allowed_operations: [] }), t)
    expect(e2.message).toBe(en.errors.publishNotAllowed)
    expect(e2.details).toEqual(['Allowed now: none'])
  })

  it('lists the allowed actions of an invalid transition', () => {
    const e = describeError(new ApiError(409, { type: '/problems/invalid-transition', allowed_actions: ['approve', 'offline'] }), t)
    expect(e.details).toEqual(['Allowed now: Approve, Set offline'])
  })

  it('says why a run or a delete was refused, in the user\'s words with the server\'s detail', () => {
    const offline = describeError(
      new ApiError(409, { type: '/problems/platform-offline', detail: 'workflow 3 (daily) is offline on the platform' }),
      t,
    )
    expect(offline.title).toBe(en.errors.platformOfflineTitle)
    expect(offline.message).toBe(en.errors.platformOffline)
    expect(offline.serverDetail).toBe('workflow 3 (daily) is offline on the platform')
    expect(describeError(new ApiError(409, { type: '/problems/run-in-progress', run_id: 4 }), t).message).toBe(en.errors.runInProgress)
    expect(describeError(new ApiError(409, { type: '/problems/not-deployed' }), t).title).toBe(en.errors.notDeployedTitle)
    expect(describeError(new ApiError(409, { type: '/problems/run-not-started' }), t).title).toBe(en.errors.runNotStartedTitle)
    expect(describeError(new ApiError(409, { type: '/problems/workflow-published' }), t).message).toBe(en.errors.workflowPublished)
    expect(describeError(new ApiError(409, { type: '/problems/workflow-archived' }), t).title).toBe(en.errors.workflowArchivedTitle)
    const inUse = describeError(new ApiError(409, { type: '/problems/task-in-use', task_id: 5, workflow_id: 12 }), t)
    expect(inUse.message).toBe('The task belongs to workflow #12. Remove it from that workflow first.')
    const retried = describeError(new ApiError(409, { type: '/problems/conflict', retry_record_id: 31, detail: 'retried already' }), t)
    expect(retried.title).toBe(en.errors.retriedAlreadyTitle)
    expect(retried.message).toMatch(/record #31/)
    // a plain conflict keeps the server's words
    expect(describeError(new ApiError(409, { type: '/problems/conflict', detail: 'newer record 9' }), t).message).toBe('newer record 9')
    expect(describeError(new ApiError(409, { type: '/problems/platform-offline' }), translator(zh)).title).toBe('拒绝运行：已在平台下线')
  })

  it('maps 401, 403, network and 5xx to plain words', () => {
    expect(describeError(new ApiError(403, { type: '/problems/forbidden', detail: 'role viewer' }), t).message).toBe(en.errors.forbidden)
    expect(describeError(new ApiError(401, {}), t).title).toBe(en.errors.unauthorizedTitle)
    expect(describeError(new ApiError(0, { detail: 'Failed to fetch' }), t).message).toBe(en.errors.network)
    const e503 = describeError(new ApiError(503, { type: '/problems/dolphin-unavailable', detail: 'DS timed out' }), t)
    expect(e503.title).toBe(en.errors.unavailableTitle)
    expect(e503.serverDetail).toBe('DS timed out')
  })

  it('uses the server detail for unknown problems and speaks Chinese', () => {
    const e = describeError(new ApiError(400, { type: '/problems/something-new', title: 'Something', detail: 'exact words' }), t)
    expect(e.message).toBe('exact words')
    const zhE = describeError(new ApiError(409, { type: '/problems/stale-version' }), translator(zh))
    expect(zhE.title).toBe('已被他人修改')
  })

  it('describes non-API errors too', () => {
    const e = describeError(new Error('boom'), t)
    expect(e.code).toBe('client')
    expect(e.message).toBe('boom')
  })
})

describe('describeProblemItem', () => {
  it('falls back to location and message for validation items', () => {
    expect(describeProblemItem({ location: 'body.name', message: 'required' }, t)).toBe('body.name: required')
    expect(describeProblemItem({ code: 'timezone', token: 'Mars/Base' }, t)).toBe('Unknown time zone: Mars/Base')
  })
})

describe('auto-orchestration problems', () => {
  it('explains a proposal holding a lineage cycle, with the cycle', () => {
    const e = describeError(
      new ApiError(409, { type: '/problems/proposal-not-acceptable', detail: 'x', cycles: [[3, 7, 3]] }),
      t,
      taskName,
    )
    expect(e.title).toBe('The proposal cannot be accepted')
    expect(e.details).toEqual(['Dependency cycle: extract (#3) → transform (#7) → extract (#3)'])
  })

  it('lists the links that cannot be kept', () => {
    const e = describeError(
      new ApiError(422, {
        type: '/problems/invalid-dependent-links',
        errors: [{ code: 'upstream_in_this_workflow', field: 'external_dependencies[0]', message: 'task 3 is in this workflow' }],
      }),
      translator(zh),
    )
    expect(e.title).toBe('DEPENDENT 依赖无效')
    expect(e.details).toEqual(['task 3 is in this workflow'])
  })
})
