// The task editor's form (TaskEditDialog) <-> a task's params (common.workflow: ShellParams, PythonParams, SqlParams,
// HttpParams, ProcedureParams, DataxParams, SparkParams, FlinkParams, ConditionsParams, SubWorkflowParams, SwitchParams). Plain functions, so the vitest suite checks every type without a browser.
import type {
  OpenLineageJob,
  ConditionsParams,
  DataxParams,
  FlinkParams,
  HttpCheckCondition,
  HttpParams,
  LocalParam,
  ShellParams,
  SparkParams,
  SqlParams,
  SubWorkflowParams,
  SwitchParams,
  Task,
  TaskParams,
  TaskType,
} from '@/api/types'

export const HTTP_METHODS = ['GET', 'POST', 'PUT', 'DELETE'] as const
export type HttpMethod = (typeof HTTP_METHODS)[number]
export const HTTP_CHECK_CONDITIONS: HttpCheckCondition[] = [
  'STATUS_CODE_DEFAULT',
  'STATUS_CODE_CUSTOM',
  'BODY_CONTAINS',
  'BODY_NOT_CONTAINS',
]
export const SPARK_PROGRAM_TYPES = ['SCALA', 'JAVA', 'PYTHON', 'SQL'] as const
export type SparkProgramType = (typeof SPARK_PROGRAM_TYPES)[number]
export const SPARK_DEPLOY_MODES = ['cluster', 'client', 'local'] as const
export type SparkDeployMode = (typeof SPARK_DEPLOY_MODES)[number]
export const FLINK_DEPLOY_MODES = ['cluster', 'application', 'local', 'standalone'] as const
export type FlinkDeployMode = (typeof FLINK_DEPLOY_MODES)[number]
export const FLINK_VERSIONS = ['<1.10', '>=1.10'] as const
export type FlinkVersion = (typeof FLINK_VERSIONS)[number]
export const DATASOURCE_TYPES = ['POSTGRESQL', 'MYSQL', 'HIVE', 'SPARK', 'CLICKHOUSE', 'ORACLE', 'SQLSERVER', 'DORIS', 'STARROCKS']
export const CONDITION_RELATIONS = ['AND', 'OR'] as const
export type ConditionRelation = (typeof CONDITION_RELATIONS)[number]
export const CONDITION_STATUSES = ['SUCCESS', 'FAILURE'] as const
export type ConditionStatus = (typeof CONDITION_STATUSES)[number]
/** a CONDITIONS group in the form (a task not chosen yet is null) */
export interface ConditionGroupForm {
  relation: ConditionRelation
  checks: { task_id: number | null; status: ConditionStatus }[]
}
/** a SWITCH case in the form (a task not chosen yet is null) */
export interface SwitchCaseForm {
  condition: string
  task_id: number | null
}
/** the task types that run on a DolphinScheduler datasource */
export const DATASOURCE_TASK_TYPES: TaskType[] = ['SQL', 'PROCEDURE']

export interface TaskForm {
  name: string
  task_type: TaskType
  description: string
  worker_group: string
  owner: string
  /** the task's OpenLineage job identity (both empty: none) */
  openlineage_namespace: string
  openlineage_name: string
  script: string
  datasource_name: string
  datasource_type: string
  sql: string
  sql_type: 'query' | 'non_query'
  pre_statements: string[]
  post_statements: string[]
  display_rows: number
  url: string
  method: HttpMethod
  http_params: { name: string; value: string; location: 'PARAMETER' | 'HEADERS' }[]
  body: string
  check_condition: HttpCheckCondition
  condition: string
  connect_timeout_ms: number
  procedure: string
  /** DATAX: a DataX job JSON of its own instead of one DS builds from the fields below */
  datax_custom: boolean
  custom_json: string
  target_datasource_name: string
  target_datasource_type: string
  target_table: string
  job_speed_byte: number
  job_speed_record: number
  xms: number
  xmx: number
  /** SPARK (its SQL is `script`) */
  program_type: SparkProgramType
  main_class: string
  main_jar: string
  deploy_mode: SparkDeployMode
  app_name: string
  driver_cores: number
  driver_memory: string
  num_executors: number
  executor_cores: number
  executor_memory: string
  main_args: string
  others: string
  yarn_queue: string
  resources: string[]
  /** FLINK (and the SPARK fields above it shares: program type, main class/package/arguments, app name, options) */
  flink_deploy_mode: FlinkDeployMode
  flink_version: FlinkVersion
  init_script: string
  job_manager_memory: string
  task_manager_memory: string
  slot: number
  task_manager: number
  parallelism: number
  /** CONDITIONS: groups of upstream task states joined by `condition_relation`, the tasks of each branch */
  condition_relation: ConditionRelation
  condition_groups: ConditionGroupForm[]
  success_task_ids: number[]
  failed_task_ids: number[]
  /** SUB_WORKFLOW: the platform workflow it runs as a child (null: none chosen yet) */
  sub_workflow_id: number | null
  /** SWITCH: the cases in order (the first whose condition holds is taken), the default branch's task or null */
  switch_cases: SwitchCaseForm[]
  switch_default_task_id: number | null
  local_params: { name: string; value: string }[]
}

/** what the form reads of a task's params, whatever its type (PROCEDURE's `method` is text, HTTP's a method) */
type AnyParams = Partial<
  Omit<ShellParams, 'kind'> &
    Omit<SqlParams, 'kind'> &
    Omit<HttpParams, 'kind' | 'method'> &
    Omit<DataxParams, 'kind'> &
    Omit<SparkParams, 'kind' | 'deploy_mode'> &
    Omit<FlinkParams, 'kind' | 'deploy_mode'> &
    Omit<ConditionsParams, 'kind' | 'relation'> &
    Omit<SubWorkflowParams, 'kind'> &
    Omit<SwitchParams, 'kind'>
> & { method?: string; deploy_mode?: string; relation?: string }

/** the form of a task being edited (defaults for a new one) */
export function formOf(task?: Task | null): TaskForm {
  const p = (task?.params ?? {}) as AnyParams
  const type = task?.task_type ?? 'SHELL'
  return {
    name: task?.name ?? '',
    task_type: type,
    description: task?.description ?? '',
    worker_group: task?.worker_group ?? 'default',
    owner: task?.owner ?? '',
    openlineage_namespace: task?.openlineage_job?.namespace ?? '',
    openlineage_name: task?.openlineage_job?.name ?? '',
    script: p.script ?? p.raw_script ?? '',
    // DATAX's source datasource shares the SQL/PROCEDURE datasource fields
    datasource_name: p.datasource_name ?? p.source_datasource_name ?? '',
    datasource_type: p.datasource_type ?? p.source_datasource_type ?? (type === 'DATAX' ? 'MYSQL' : 'POSTGRESQL'),
    sql: p.sql ?? '',
    sql_type: p.sql_type ?? 'non_query',
    pre_statements: [...(p.pre_statements ?? [])],
    post_statements: [...(p.post_statements ?? [])],
    display_rows: p.display_rows ?? 10,
    url: p.url ?? '',
    // PROCEDURE's `method` is its call statement, HTTP's the request method
    method: type === 'HTTP' ? ((p.method as HttpMethod | undefined) ?? 'GET') : 'GET',
    http_params: (p.http_params ?? []).map((h) => ({ name: h.name, value: h.value ?? '', location: h.location ?? 'PARAMETER' })),
    body: p.body ?? '',
    check_condition: p.check_condition ?? 'STATUS_CODE_DEFAULT',
    condition: p.condition ?? '',
    connect_timeout_ms: p.connect_timeout_ms ?? 60000,
    procedure: type === 'PROCEDURE' ? (p.method ?? '') : '',
    datax_custom: !!p.custom_json,
    custom_json: p.custom_json ?? '',
    target_datasource_name: p.target_datasource_name ?? '',
    target_datasource_type: p.target_datasource_type ?? 'MYSQL',
    target_table: p.target_table ?? '',
    job_speed_byte: p.job_speed_byte ?? 0,
    job_speed_record: p.job_speed_record ?? 1000,
    xms: p.xms ?? 1,
    xmx: p.xmx ?? 1,
    program_type: p.program_type ?? 'SCALA',
    main_class: p.main_class ?? '',
    main_jar: p.main_jar ?? '',
    deploy_mode: type === 'SPARK' ? ((p.deploy_mode as SparkDeployMode | undefined) ?? 'cluster') : 'cluster',
    app_name: p.app_name ?? '',
    driver_cores: p.driver_cores ?? 1,
    driver_memory: p.driver_memory ?? '512M',
    num_executors: p.num_executors ?? 2,
    executor_cores: p.executor_cores ?? 2,
    executor_memory: p.executor_memory ?? '2G',
    main_args: p.main_args ?? '',
    others: p.others ?? '',
    yarn_queue: p.yarn_queue ?? '',
    resources: [...(p.resources ?? [])],
    flink_deploy_mode: type === 'FLINK' ? ((p.deploy_mode as FlinkDeployMode | undefined) ?? 'cluster') : 'cluster',
    flink_version: p.flink_version ?? '<1.10',
    init_script: p.init_script ?? '',
    job_manager_memory: p.job_manager_memory ?? '1G',
    task_manager_memory: p.task_manager_memory ?? '2G',
    slot: p.slot ?? 1,
    task_manager: p.task_manager ?? 2,
    parallelism: p.parallelism ?? 1,
    condition_relation: type === 'CONDITIONS' ? ((p.relation as ConditionRelation | undefined) ?? 'AND') : 'AND',
    condition_groups: (p.groups ?? [{ relation: 'AND', checks: [{ task_id: 0, status: 'SUCCESS' }] }]).map((g) => ({
      relation: g.relation ?? 'AND',
      checks: g.checks.map((c) => ({ task_id: c.task_id || null, status: c.status ?? 'SUCCESS' })),
    })),
    success_task_ids: [...(p.success_task_ids ?? [])],
    failed_task_ids: [...(p.failed_task_ids ?? [])],
    sub_workflow_id: type === 'SUB_WORKFLOW' ? (p.workflow_id ?? null) : null,
    switch_cases: (p.cases ?? [{ condition: '', task_id: 0 }]).map((c) => ({ condition: c.condition, task_id: c.task_id || null })),
    switch_default_task_id: p.default_task_id ?? null,
    local_params: (p.local_params ?? []).map((x) => ({ name: x.name, value: x.value ?? '' })),
  }
}

/** the params the form describes, for its task type (only that type's fields) */
/** The form's OpenLineage job: ``null`` when both fields are blank; one of them blank is sent as it is (the API
 *  answers 422 naming the empty field). */
export function openLineageJobOf(form: TaskForm): OpenLineageJob | null {
  const namespace = form.openlineage_namespace.trim()
  const name = form.openlineage_name.trim()
  return namespace || name ? { namespace, name } : null
}

export function paramsOf(form: TaskForm): TaskParams {
  const local_params: LocalParam[] = form.local_params
    .filter((x) => x.name.trim())
    .map((x) => ({ name: x.name.trim(), value: x.value, direction: 'IN', type: 'VARCHAR' }))
  switch (form.task_type) {
    case 'SQL':
      return {
        kind: 'SQL',
        datasource_name: form.datasource_name,
        datasource_type: form.datasource_type,
        sql: form.sql,
        sql_type: form.sql_type,
        pre_statements: form.pre_statements.filter((s) => s.trim()),
        post_statements: form.post_statements.filter((s) => s.trim()),
        display_rows: form.display_rows,
        local_params,
      }
    case 'HTTP':
      return {
        kind: 'HTTP',
        url: form.url.trim(),
        method: form.method,
        http_params: form.http_params
          .filter((h) => h.name.trim())
          .map((h) => ({ name: h.name.trim(), value: h.value, location: h.location })),
        // a body is only sent with POST and PUT
        body: form.method === 'POST' || form.method === 'PUT' ? form.body : '',
        check_condition: form.check_condition,
        condition: form.check_condition === 'STATUS_CODE_DEFAULT' ? '' : form.condition.trim(),
        connect_timeout_ms: form.connect_timeout_ms,
        local_params,
      }
    case 'DATAX':
      if (form.datax_custom) {
        return { kind: 'DATAX', custom_json: form.custom_json, xms: form.xms, xmx: form.xmx, local_params }
      }
      return {
        kind: 'DATAX',
        source_datasource_name: form.datasource_name,
        source_datasource_type: form.datasource_type,
        sql: form.sql,
        target_datasource_name: form.target_datasource_name,
        target_datasource_type: form.target_datasource_type,
        target_table: form.target_table.trim(),
        pre_statements: form.pre_statements.filter((s) => s.trim()),
        post_statements: form.post_statements.filter((s) => s.trim()),
        job_speed_byte: form.job_speed_byte,
        job_speed_record: form.job_speed_record,
        xms: form.xms,
        xmx: form.xmx,
        local_params,
      }
    case 'SPARK': {
      const sql = form.program_type === 'SQL'
      return {
        kind: 'SPARK',
        program_type: form.program_type,
        // a SQL program has no jar, a Python one no main class
        main_class: sql || form.program_type === 'PYTHON' ? '' : form.main_class.trim(),
        main_jar: sql ? '' : form.main_jar.trim(),
        raw_script: sql ? form.script : '',
        deploy_mode: form.deploy_mode,
        app_name: form.app_name,
        driver_cores: form.driver_cores,
        driver_memory: form.driver_memory.trim(),
        num_executors: form.num_executors,
        executor_cores: form.executor_cores,
        executor_memory: form.executor_memory.trim(),
        main_args: sql ? '' : form.main_args,
        others: form.others,
        yarn_queue: form.yarn_queue,
        resources: form.resources,
        local_params,
      }
    }
    case 'FLINK': {
      const sql = form.program_type === 'SQL'
      return {
        kind: 'FLINK',
        program_type: form.program_type,
        main_class: sql || form.program_type === 'PYTHON' ? '' : form.main_class.trim(),
        main_jar: sql ? '' : form.main_jar.trim(),
        raw_script: sql ? form.script : '',
        init_script: sql ? form.init_script : '',
        deploy_mode: form.flink_deploy_mode,
        flink_version: form.flink_version,
        app_name: form.app_name,
        job_manager_memory: form.job_manager_memory.trim(),
        task_manager_memory: form.task_manager_memory.trim(),
        slot: form.slot,
        task_manager: form.task_manager,
        parallelism: form.parallelism,
        main_args: sql ? '' : form.main_args,
        others: form.others,
        yarn_queue: form.yarn_queue,
        resources: form.resources,
        local_params,
      }
    }
    case 'CONDITIONS':
      return {
        kind: 'CONDITIONS',
        relation: form.condition_relation,
        // a check without a task is dropped, and so is a group left without checks
        groups: form.condition_groups
          .map((g) => ({
            relation: g.relation,
            checks: g.checks.filter((c) => c.task_id != null).map((c) => ({ task_id: c.task_id as number, status: c.status })),
          }))
          .filter((g) => g.checks.length),
        success_task_ids: form.success_task_ids,
        failed_task_ids: form.failed_task_ids,
        local_params,
      }
    case 'SWITCH':
      return {
        kind: 'SWITCH',
        // an empty case is dropped; one without a task sends 0, which the definition service refuses naming task_id
        cases: form.switch_cases
          .filter((c) => c.condition.trim() || c.task_id != null)
          .map((c) => ({ condition: c.condition, task_id: c.task_id ?? 0 })),
        default_task_id: form.switch_default_task_id,
        local_params,
      }
    case 'SUB_WORKFLOW':
      // no child chosen: 0, which the definition service refuses naming params.workflow_id
      return { kind: 'SUB_WORKFLOW', workflow_id: form.sub_workflow_id ?? 0, local_params }
    case 'PROCEDURE':
      return {
        kind: 'PROCEDURE',
        datasource_name: form.datasource_name,
        datasource_type: form.datasource_type,
        method: form.procedure,
        local_params,
      }
    default:
      return { kind: form.task_type, script: form.script, local_params } as TaskParams
  }
}

/**
 * one line or block that says what a task does (the DAG's node panel); `name` names a task by id (CONDITIONS, SWITCH),
 * `workflowName` a SUB_WORKFLOW's child workflow
 */
export function taskSummary(
  params: TaskParams | Record<string, unknown>,
  name: (id: number) => string = (id) => `#${id}`,
  workflowName: (id: number) => string | undefined = () => undefined,
): string {
  const p = params as AnyParams & { kind?: string }
  if (p.kind === 'SUB_WORKFLOW') {
    const id = p.workflow_id ?? 0
    const child = workflowName(id)
    return child ? `⤷ ${child} (#${id})` : `⤷ #${id}`
  }
  if (p.kind === 'SWITCH') {
    const cases = (p.cases ?? []).map((c, i) => `${i + 1}. ${c.condition} → ${name(c.task_id)}`)
    const fallback = p.default_task_id != null ? [`* → ${name(p.default_task_id)}`] : []
    return [...cases, ...fallback].join('\n')
  }
  if (p.kind === 'CONDITIONS') {
    const groups = (p.groups ?? []).map(
      (g) => `(${g.checks.map((c) => `${name(c.task_id)} ${c.status ?? 'SUCCESS'}`).join(` ${g.relation ?? 'AND'} `)})`,
    )
    const ids = (xs: number[] | undefined) => (xs ?? []).map(name).join(', ')
    return `${groups.join(` ${p.relation ?? 'AND'} `)}\n✓ ${ids(p.success_task_ids)}\n✗ ${ids(p.failed_task_ids)}`
  }
  if (p.kind === 'HTTP') return `${p.method ?? 'GET'} ${p.url ?? ''}${p.body ? `\n\n${p.body}` : ''}`
  if (p.kind === 'PROCEDURE') return `${p.datasource_type ?? ''} ${p.datasource_name ?? ''}\n${p.method ?? ''}`
  if (p.kind === 'SPARK' || p.kind === 'FLINK') {
    const [run, sqlRun] = p.kind === 'SPARK' ? ['spark-submit', 'spark-sql'] : ['flink run', 'flink sql']
    if (p.program_type === 'SQL') return `${sqlRun} (${p.deploy_mode ?? 'cluster'})\n${p.raw_script ?? ''}`
    const main = [p.main_class, p.main_jar, p.main_args].filter((x) => x).join(' ')
    return `${run} ${p.program_type ?? ''} (${p.deploy_mode ?? 'cluster'})\n${main}`
  }
  if (p.kind === 'DATAX') {
    if (p.custom_json) return p.custom_json
    const from = `${p.source_datasource_type ?? ''} ${p.source_datasource_name ?? ''}`
    const to = `${p.target_datasource_type ?? ''} ${p.target_datasource_name ?? ''}.${p.target_table ?? ''}`
    return `${from} → ${to}\n${p.sql ?? ''}`
  }
  return String(p.sql ?? p.script ?? '')
}

/** what labels a branch edge: a CONDITIONS task's success/failure, a SWITCH task's case (number, condition) or default */
export type BranchLabel =
  | { kind: 'success' | 'failure' | 'default' }
  | { kind: 'case'; n: number; condition: string }

/** the branch edges of the CONDITIONS and SWITCH tasks among `tasks`, keyed `"from>to"` */
export function branchLabels(tasks: { task_id: number; params?: unknown }[]): Map<string, BranchLabel> {
  const out = new Map<string, BranchLabel>()
  for (const t of tasks) {
    const p = t.params as (Partial<ConditionsParams> | Partial<SwitchParams>) | undefined
    if (p?.kind === 'CONDITIONS') {
      for (const id of p.success_task_ids ?? []) out.set(`${t.task_id}>${id}`, { kind: 'success' })
      for (const id of p.failed_task_ids ?? []) out.set(`${t.task_id}>${id}`, { kind: 'failure' })
    } else if (p?.kind === 'SWITCH') {
      ;(p.cases ?? []).forEach((c, i) => out.set(`${t.task_id}>${c.task_id}`, { kind: 'case', n: i + 1, condition: c.condition }))
      if (p.default_task_id != null) out.set(`${t.task_id}>${p.default_task_id}`, { kind: 'default' })
    }
  }
  return out
}

/** the longest condition an edge label shows whole (the node panel has all of it) */
const LABEL_CONDITION_CHARS = 28

/** the branch edges' labels as text (`"from>to"` -> text), through the i18n `translate` (`dag.branch.*`) */
export function branchLabelTexts(
  tasks: { task_id: number; params?: unknown }[],
  translate: (key: string, values: Record<string, unknown>) => string,
): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [key, label] of branchLabels(tasks)) {
    if (label.kind !== 'case') {
      out[key] = translate(`dag.branch.${label.kind}`, {})
      continue
    }
    const c = label.condition
    const condition = c.length > LABEL_CONDITION_CHARS ? `${c.slice(0, LABEL_CONDITION_CHARS - 1)}…` : c
    out[key] = translate('dag.branch.case', { n: label.n, condition })
  }
  return out
}
