// Turns any thrown error into words a user understands (translated). Pure: takes the translate function and an
// optional task-name lookup, so it is unit-tested without Vue.
import { ApiError } from './client'
import type { ProblemItem } from './types'

export type Translate = (key: string, params?: Record<string, unknown>) => string

export interface FriendlyError {
  /** machine code (problem type suffix), e.g. `stale-version` */
  code: string
  status: number
  title: string
  message: string
  /** one line per listed problem (cycle paths, unknown tasks, …) */
  details: string[]
  /** the server's own words, shown small under the friendly text when it adds something */
  serverDetail: string | null
  /** the user should reload the data before trying again */
  reload: boolean
}

export type TaskName = (id: number) => string | undefined

function label(id: number, taskName?: TaskName): string {
  const name = taskName?.(id)
  return name ? `${name} (#${id})` : `#${id}`
}

function ids(list: unknown, taskName?: TaskName): string {
  return Array.isArray(list) ? list.map((i) => label(Number(i), taskName)).join(', ') : ''
}

function asStrings(v: unknown): string[] {
  return Array.isArray(v) ? v.map(String) : []
}

/** One translated line for an item of `errors` in invalid-workflow-structure / invalid-schedule / migration. */
export function describeProblemItem(item: ProblemItem, t: Translate, taskName?: TaskName): string {
  const code = item.code ?? ''
  switch (code) {
    case 'cycle':
      if (Array.isArray(item.path) && item.path.length) {
        return t('errors.items.cycle', { path: item.path.map((i) => label(i, taskName)).join(' → ') })
      }
      return t('errors.items.moreCycles', { count: Number(item.count ?? 0) })
    case 'unknown_task':
    case 'task_not_in_catalog':
      return t('errors.items.unknown_task', { tasks: ids(item.task_ids, taskName) })
    case 'empty_dag':
      return t('errors.items.empty_dag')
    case 'duplicate_task':
      return t('errors.items.duplicate_task', { tasks: ids(item.task_ids, taskName) })
    case 'self_loop':
      return t('errors.items.self_loop', { tasks: ids(item.task_ids, taskName) })
    case 'duplicate_edge':
      return t('errors.items.duplicate_edge', { count: Number(item.count ?? 1) })
    case 'edge_task_not_in_workflow':
      return t('errors.items.edge_task_not_in_workflow', { tasks: ids(item.task_ids, taskName) })
    case 'node_attrs_for_unknown_task':
      return t('errors.items.node_attrs_for_unknown_task', { tasks: ids(item.task_ids, taskName) })
    case 'duplicate_param':
      return t('errors.items.duplicate_param', { message: item.message ?? '' })
    case 'cron_syntax':
    case 'cron_field':
    case 'cron_day_fields':
    case 'cron_never_fires':
      return t('errors.items.cron', { message: item.message ?? '' })
    case 'timezone':
      return t('errors.items.timezone', { zone: item.token ?? '' })
    case 'time_range':
      return t('errors.items.time_range', { message: item.message ?? '' })
    case 'same_workflow':
      return t('errors.items.same_workflow')
    case 'task_not_in_source':
      return t('errors.items.task_not_in_source', { task: label(Number(item.task_id), taskName) })
    case 'task_already_in_target':
      return t('errors.items.task_already_in_target', { tasks: ids(item.task_ids, taskName) })
    default:
      if (item.location) return `${item.location}: ${item.message ?? ''}`
      return item.message ?? code
  }
}

export function describeError(err: unknown, t: Translate, taskName?: TaskName): FriendlyError {
  if (!(err instanceof ApiError)) {
    const message = err instanceof Error ? err.message : String(err)
    return {
      code: 'client',
      status: 0,
      title: t('errors.unexpected'),
      message,
      details: [],
      serverDetail: null,
      reload: false,
    }
  }
  const p = err.problem
  const serverDetail = typeof p.detail === 'string' && p.detail ? p.detail : null
  const base: FriendlyError = {
    code: err.code,
    status: err.status,
    title: t('errors.failed'),
    message: serverDetail ?? p.title ?? t('errors.unexpected'),
    details: [],
    serverDetail: null,
    reload: false,
  }
  const items = Array.isArray(p.errors) ? p.errors : []
  const listed = () => items.map((i) => describeProblemItem(i, t, taskName))

  if (err.status === 0) {
    return { ...base, title: t('errors.networkTitle'), message: t('errors.network'), serverDetail }
  }
  if (err.status === 401) {
    return { ...base, title: t('errors.unauthorizedTitle'), message: t('errors.unauthorized') }
  }
  if (err.status === 403) {
    return { ...base, title: t('errors.forbiddenTitle'), message: t('errors.forbidden'), serverDetail }
  }
  switch (err.code) {
    case 'stale-version':
      return { ...base, title: t('errors.staleTitle'), message: t('errors.stale'), reload: true, serverDetail }
    case 'task-owned-by-another-workflow': {
      const tasks = Array.isArray(p.tasks) ? (p.tasks as { task_id: number; owner_workflow_id: number }[]) : []
      return {
        ...base,
        title: t('errors.taskOwnedTitle'),
        message: t('errors.taskOwned'),
        details: tasks.map((x) =>
          t('errors.items.owned', { task: label(x.task_id, taskName), workflow: `#${x.owner_workflow_id}` }),
        ),
        serverDetail,
      }
    }
    case 'invalid-workflow-structure':
      return { ...base, title: t('errors.structureTitle'), message: t('errors.structure'), details: listed() }
    case 'invalid-schedule':
      return { ...base, title: t('errors.scheduleTitle'), message: t('errors.schedule'), details: listed() }
    case 'publish-not-allowed': {
      const reason = typeof p.reason === 'string' ? p.reason : ''
      const allowed = asStrings(p.allowed_operations)
      const reasonKey = `errors.publishReasons.${reason}`
      const reasonText = reason ? t(reasonKey) : ''
      return {
        ...base,
        title: t('errors.publishNotAllowedTitle'),
        message: reasonText && reasonText !== reasonKey ? reasonText : t('errors.publishNotAllowed'),
        details: [
          t('errors.allowedOperations', {
            list: allowed.length ? allowed.map((o) => t(`publish.op.${o}`)).join(', ') : t('common.none'),
          }),
        ],
        serverDetail,
      }
    }
    case 'invalid-transition': {
      const allowed = asStrings(p.allowed_actions)
      return {
        ...base,
        title: t('errors.transitionTitle'),
        message: t('errors.transition'),
        details: [
          t('errors.allowedActions', {
            list: allowed.length ? allowed.map((a) => t(`actions.${a}`)).join(', ') : t('common.none'),
          }),
        ],
        reload: true,
        serverDetail,
      }
    }
    case 'run-in-progress':
      return { ...base, title: t('errors.runInProgressTitle'), message: t('errors.runInProgress'), serverDetail }
    case 'run-not-started':
      return { ...base, title: t('errors.runNotStartedTitle'), message: t('errors.runNotStarted'), serverDetail }
    case 'platform-offline':
      return { ...base, title: t('errors.platformOfflineTitle'), message: t('errors.platformOffline'), serverDetail }
    case 'not-deployed':
      return { ...base, title: t('errors.notDeployedTitle'), message: t('errors.notDeployed'), serverDetail }
    case 'workflow-published':
      return { ...base, title: t('errors.workflowPublishedTitle'), message: t('errors.workflowPublished'), serverDetail }
    case 'workflow-archived':
      return { ...base, title: t('errors.workflowArchivedTitle'), message: t('errors.workflowArchived'), serverDetail }
    case 'task-in-use': {
      const workflow = typeof p.workflow_id === 'number' ? `#${p.workflow_id}` : '?'
      return { ...base, title: t('errors.taskInUseTitle'), message: t('errors.taskInUse', { workflow }), serverDetail }
    }
    case 'migration-not-possible':
      return { ...base, title: t('errors.migrationTitle'), message: t('errors.migration'), details: listed() }
    case 'migration-empties-workflow':
      return { ...base, title: t('errors.migrationTitle'), message: t('errors.migrationEmpties'), serverDetail }
    case 'proposal-not-acceptable': {
      const cycles = Array.isArray(p.cycles) ? (p.cycles as number[][]) : []
      return {
        ...base,
        title: t('errors.proposalTitle'),
        message: t('errors.proposalCycle'),
        details: cycles.map((c) => t('errors.items.cycle', { path: c.map((i) => label(i, taskName)).join(' → ') })),
        serverDetail,
      }
    }
    case 'invalid-dependent-links':
      return { ...base, title: t('errors.linksTitle'), message: t('errors.links'), details: listed() }
    case 'validation-failed':
    case 'http-422':
      return {
        ...base,
        title: t('errors.validationTitle'),
        message: items.length ? t('errors.validation') : (serverDetail ?? t('errors.validation')),
        details: listed(),
      }
    case 'not-found':
    case 'http-404':
      return { ...base, title: t('errors.notFoundTitle'), message: t('errors.notFound'), serverDetail }
    default:
      break
  }
  if (err.status === 409 && typeof p.retry_record_id === 'number') {
    return {
      ...base,
      title: t('errors.retriedAlreadyTitle'),
      message: t('errors.retriedAlready', { id: p.retry_record_id }),
      serverDetail,
    }
  }
  if (err.status === 409) {
    return { ...base, title: t('errors.conflictTitle'), message: serverDetail ?? t('errors.conflict') }
  }
  if (err.status >= 500) {
    return {
      ...base,
      title: t('errors.unavailableTitle'),
      message: t('errors.unavailable'),
      serverDetail: serverDetail ?? p.title ?? null,
    }
  }
  return { ...base, title: p.title ?? t('errors.failed'), details: listed() }
}
