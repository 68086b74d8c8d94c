// Types mirroring docs/api-contracts.md (§1 shapes, §5 public API). JSON is snake_case; times are ISO 8601 strings.

export type WorkflowStatus = 'draft' | 'ready' | 'online' | 'offline' | 'archived'
export type PublishStatus = 'never_published' | 'pending' | 'published' | 'failed'
export type WorkflowAction = 'approve' | 'online' | 'offline' | 'archive'
/** DolphinScheduler's release state of the workflow after the last publish (null: not deployed or not known) */
export type ReleaseState = 'ONLINE' | 'OFFLINE'
export type PublishOperation = 'deploy' | 'online' | 'offline'
export type MigrationMode = 'only_current' | 'cascade_downstream' | 'cascade_up_and_downstream'
export type TaskType = 'SHELL' | 'SQL' | 'PYTHON'
export type TriggerSource =
  | 'manual_edit'
  | 'task_change'
  | 'lineage_change'
  | 'migration'
  | 'rollback'
  | 'auto_orchestration'
export type FailureStrategy = 'END' | 'CONTINUE'
export type Priority = 'HIGHEST' | 'HIGH' | 'MEDIUM' | 'LOW' | 'LOWEST'
export type TimeoutStrategy = 'WARN' | 'FAILED' | 'WARNFAILED'
export type ExecutionType = 'PARALLEL' | 'SERIAL_WAIT' | 'SERIAL_DISCARD' | 'SERIAL_PRIORITY'
export type PublishRecordStatus = 'pending' | 'running' | 'success' | 'failed' | 'skipped_unchanged'

export const WORKFLOW_STATUSES: WorkflowStatus[] = ['draft', 'ready', 'online', 'offline', 'archived']
export const PUBLISH_STATUSES: PublishStatus[] = ['never_published', 'pending', 'published', 'failed']
export const MIGRATION_MODES: MigrationMode[] = ['only_current', 'cascade_downstream', 'cascade_up_and_downstream']
export const TASK_TYPES: TaskType[] = ['SHELL', 'SQL', 'PYTHON']
export const PRIORITIES: Priority[] = ['HIGHEST', 'HIGH', 'MEDIUM', 'LOW', 'LOWEST']
export const EXECUTION_TYPES: ExecutionType[] = ['PARALLEL', 'SERIAL_WAIT', 'SERIAL_DISCARD', 'SERIAL_PRIORITY']
/** DolphinScheduler workflow instance states (common.dolphin.models.WorkflowExecutionStatus). */
export const DS_STATES = [
  'SUBMITTED_SUCCESS',
  'RUNNING_EXECUTION',
  'READY_PAUSE',
  'PAUSE',
  'READY_STOP',
  'STOP',
  'FAILURE',
  'SUCCESS',
  'SERIAL_WAIT',
  'WAIT_TO_RUN',
  'FAILOVER',
] as const

export interface Page<T> {
  items: T[]
  total: number
  page: number
  page_size: number
}

export interface Param {
  name: string
  value: string
  direction: 'IN' | 'OUT'
  type: string
}

export interface ShellParams {
  kind?: 'SHELL'
  script: string
  local_params?: Param[]
  resources?: string[]
}

export interface PythonParams {
  kind?: 'PYTHON'
  script: string
  local_params?: Param[]
  resources?: string[]
}

export interface SqlParams {
  kind?: 'SQL'
  datasource_name: string
  datasource_type?: string
  sql: string
  sql_type?: 'query' | 'non_query'
  pre_statements?: string[]
  post_statements?: string[]
  display_rows?: number
  local_params?: Param[]
}

export type TaskParams = ShellParams | PythonParams | SqlParams

export interface NodeAttrs {
  worker_group: string
  failure_strategy: FailureStrategy
  retries: number
  retry_interval_minutes: number
  timeout_minutes: number
  timeout_strategy: TimeoutStrategy | null
  priority: Priority
  delay_minutes: number
  enabled?: boolean
  environment_code?: number
  cpu_quota?: number
  memory_max_mb?: number
}

export interface Schedule {
  crontab: string
  timezone: string
  start_time: string
  end_time: string
}

export interface Edge {
  upstream_task_id: number
  downstream_task_id: number
}

export interface Task {
  id: number
  name: string
  task_type: TaskType
  description: string
  params: TaskParams
  worker_group: string
  owner: string | null
  revision?: number
  workflow_id?: number | null
  workflow_name?: string | null
  upstream_count?: number | null
  downstream_count?: number | null
  ds_link?: string | null
  created_at?: string
  updated_at?: string
  /** create/update only: what would stop a publish of this task (e.g. `unknown_datasource`); the task is saved */
  warnings?: Notice[] | null
  /** register/read of a task in no workflow: the workflow its lineage points to (issue 20), if any */
  suggested_workflow?: SuggestedWorkflow | null
  /** read of one task: its lineage neighbours (null when lineage could not be read) */
  upstream_task_ids?: number[] | null
  downstream_task_ids?: number[] | null
}

/** The workflow an unassigned task's lineage points to: every producer and consumer (`all_neighbours`) or every
 * producer (`all_producers`) of the task that is in a workflow is in this one. */
export interface SuggestedWorkflow {
  workflow_id: number
  workflow_name: string
  reason: 'all_neighbours' | 'all_producers'
  upstream_task_ids: number[]
  downstream_task_ids: number[]
}

/** A warning that does not stop the call (`code` is stable, `message` is the server's English text). */
export interface Notice {
  code: string
  message: string
}

export interface TaskInput {
  name: string
  task_type: TaskType
  description: string
  params: TaskParams
  worker_group: string
  owner: string | null
  expected_revision?: number
}

export interface Execution {
  instance_id: number
  state: string
  start_time: string | null
  end_time: string | null
  duration: string | null
  command_type?: string | null
  run_times?: number | null
  host?: string | null
  /** the trace of the platform request that started this run (in the trace backend's UI), when there is one */
  trace_link?: string | null
}

export interface WorkflowSummary {
  id: number
  name: string
  description: string
  status: WorkflowStatus
  publish_status: PublishStatus
  workflow_code: number | null
  project_code: number | null
  /** what DolphinScheduler holds, read back after the last publish (also a failed one): ONLINE / OFFLINE, null when
   * not deployed or not known */
  release_state: ReleaseState | null
  /** whether DolphinScheduler's schedule of the workflow is online (null: no schedule there, or not known) */
  schedule_online?: boolean | null
  current_version_no: number
  approved: boolean
  last_published_version_no: number | null
  last_execution_state: string | null
  last_execution_at: string | null
  needs_attention: boolean
  attention_reason: string | null
  task_count: number
  updated_at: string
  updated_by: string | null
  // added by the gateway list
  last_executions?: Execution[] | null
  executions_unavailable?: boolean
  ds_link?: string | null
}

export interface WorkflowTask {
  task_id: number
  name: string
  task_type: TaskType
  description: string
  params: TaskParams
  node_attrs: NodeAttrs
  upstream_count: number
  downstream_count: number
}

export interface VersionSummary {
  id: number
  version_no: number
  trigger_source: TriggerSource
  created_by: string | null
  created_at: string
  content_hash: string
  summary: string
}

export interface FieldChange {
  field: string
  old: unknown
  new: unknown
}

export interface TaskChange {
  task_id: number
  changes: FieldChange[]
}

export interface ScheduleChange {
  kind: 'added' | 'removed' | 'changed'
  old: Schedule | null
  new: Schedule | null
}

export interface GlobalParamsChange {
  added: string[]
  removed: string[]
  changed: FieldChange[]
}

export interface ChangeSummary {
  is_initial: boolean
  tasks_added: number[]
  tasks_removed: number[]
  edges_added: [number, number][]
  edges_removed: [number, number][]
  tasks_changed: TaskChange[]
  schedule: ScheduleChange | null
  global_params: GlobalParamsChange | null
  workflow_fields: FieldChange[]
  /** tasks this version left in no workflow (rollback, edit); the summary text names them too */
  tasks_unassigned?: number[]
  /** DEPENDENT links by upstream task id (left out when they did not change); `changed`: field = upstream task id,
   * old/new = the whole link */
  dependent_links?: LinksChange | null
  summary: string
}

export interface LinksChange {
  added: number[]
  removed: number[]
  changed: FieldChange[]
}

export interface SnapshotTask {
  task_id: number
  name: string
  task_type: TaskType
  description: string
  params: TaskParams
  node_attrs: NodeAttrs
}

export interface StructureSnapshot {
  workflow_id: number
  workflow_name: string
  description: string
  tasks: SnapshotTask[]
  edges: Edge[]
  schedule: Schedule | null
  global_params: Param[]
  execution_type: ExecutionType
  timeout_minutes: number
  entry_task_ids: number[]
  exit_task_ids: number[]
  /** DEPENDENT links to tasks of other workflows (issue 20); left out when there are none */
  external_dependencies?: ExternalDependency[]
}

export type DependentCycle = 'hour' | 'day' | 'week' | 'month'

/** A lineage dependency on a task of ANOTHER workflow, kept as a DolphinScheduler DEPENDENT task: `task_ids` (of
 * this workflow) wait until `upstream_task_id` of workflow `upstream_workflow_id` succeeded in the period
 * `cycle`/`date_value`. The codes are null while the upstream was not deployed when the version was written. */
export interface ExternalDependency {
  upstream_workflow_id: number
  upstream_task_id: number
  task_ids: number[]
  cycle: DependentCycle
  date_value: string
  upstream_project_code?: number | null
  upstream_workflow_code?: number | null
  upstream_workflow_name?: string
  upstream_task_name?: string
}

/** A DEPENDENT link as sent on save (the upstream workflow and its codes are looked up by the service). */
export interface DependentLinkInput {
  upstream_task_id: number
  task_ids: number[]
  cycle: DependentCycle
  date_value: string
}

export interface Version extends VersionSummary {
  change_summary: ChangeSummary | null
  structure_snapshot: StructureSnapshot
}

export interface PublishRecord {
  id: number
  request_id: string
  workflow_id: number
  version_id: number
  version_no: number
  target_engine: string
  operation: PublishOperation
  status: PublishRecordStatus
  engine_workflow_code: number | null
  engine_version: number | null
  project_code: number | null
  release_state: ReleaseState | null
  intended_release_state?: ReleaseState | null
  log: string
  operator: string
  retry_of: number | null
  error_code: number | null
  error_message: string | null
  attempts: number
  created_at: string
  finished_at: string | null
  /** retry: an answer given before for the same Idempotency-Key */
  replayed?: boolean
  /** the publish's trace (recorded traces only) and its page in the trace backend's UI (when one is configured) */
  trace_id?: string | null
  trace_link?: string | null
}

export interface WorkflowExecutions {
  workflow_id: number
  engine_workflow_code?: number
  project_code?: number
  release_state?: string
  synced?: boolean
  synced_at: string | null
  age_seconds: number | null
  stale: boolean
  last_error: string | null
  last_error_at?: string | null
  refreshed?: boolean
  executions: Execution[]
}

export interface DsAttention {
  reason: string
  record_id: number
  operation: PublishOperation
  intended_release_state: ReleaseState | null
  /** null: DolphinScheduler could not be read back */
  release_state: ReleaseState | null
  error: string | null
  since: string
}

/** The publisher's restore of a workflow's DolphinScheduler state (GET /workflows/{id}/restore) */
export interface DsRestore {
  workflow_id: number
  status: 'restoring' | 'restored' | 'cancelled'
  record_id: number
  intended_release_state: ReleaseState
  ds_release_state: ReleaseState | null
  attempts: number
  next_attempt_at: string | null
  last_error: string | null
  attempt_record_id: number | null
  requested_by: string | null
  cancelled_by: string | null
  created_at: string
  updated_at: string
}

export interface WorkflowDetail extends WorkflowSummary {
  tasks: WorkflowTask[]
  edges: Edge[]
  entry_task_ids: number[]
  exit_task_ids: number[]
  schedule: Schedule | null
  global_params: Param[]
  execution_type: ExecutionType
  timeout_minutes: number
  allowed_actions: WorkflowAction[]
  allowed_publish_operations: PublishOperation[]
  /** set while a failed publish has left DolphinScheduler other than intended (the platform restores it) */
  ds_attention?: DsAttention | null
  created_by: string | null
  created_at: string
  // composed by the gateway (each may be null when that part is unavailable)
  versions?: Page<VersionSummary> | null
  publish_records?: Page<PublishRecord> | null
  executions?: WorkflowExecutions | null
  unavailable?: string[]
}

/** The answer of a rollback: the detail and the tasks it left in no workflow. */
export interface RollbackResult extends WorkflowDetail {
  unassigned_task_ids: number[]
}

export interface WorkflowInput {
  name: string
  description: string
  tasks: { task_id: number; node_attrs: NodeAttrs }[]
  edges: Edge[]
  schedule: Schedule | null
  global_params: Param[]
  execution_type: ExecutionType
  timeout_minutes: number
  /** DEPENDENT links to keep; omitted on an update: the current ones are kept, `[]`: none */
  external_dependencies?: DependentLinkInput[]
  expected_version_no?: number
}

export interface PublishAccepted {
  request_id: string
  workflow_id: number
  version_id: number
  version_no: number
  operation: PublishOperation
}

/** A run now: `starting`/`unknown` are open (poll `GET …/runs/{run_id}`), the others are settled. */
export type RunState = 'starting' | 'started' | 'unknown' | 'not_started' | 'failed'

export interface RunView {
  workflow_id: number
  run_id: number
  state: RunState
  instance_ids: number[]
  /** an answer given before for the same Idempotency-Key */
  replayed: boolean
  detail: string | null
  /** `failed`: the problem DolphinScheduler's refusal gave */
  error: { status?: number; type?: string; detail?: string; ds_code?: number } | null
  created_at: string
}

export interface InstanceInfo {
  id: number
  name: string | null
  state: string
  start_time: string | null
  end_time: string | null
  schedule_time?: string | null
  duration: string | null
  command_type?: string | null
  run_times?: number | null
  host?: string | null
  executor_name?: string | null
}

export interface TaskInstance {
  id: number
  name: string
  task_type: string | null
  task_code: number | null
  state: string | null
  submit_time: string | null
  start_time: string | null
  end_time: string | null
  duration: string | null
  host: string | null
  retry_times: number | null
}

export interface InstanceDetail {
  instance: InstanceInfo
  tasks: TaskInstance[]
}

export interface TaskLogPage {
  task_instance_id: number
  skip_line_num: number
  limit: number
  message: string
  line_count: number
  next_skip_line_num: number
  complete: boolean
  /** false while no worker has taken the task yet: no log so far, ask again later */
  dispatched: boolean
}

export interface CutEdge {
  upstream_task_id: number
  downstream_task_id: number
  direction: 'source_to_target' | 'target_to_source'
}

export interface MigrationWarning {
  code: string
  message: string
  task_ids: number[]
}

export interface MigrationSide {
  workflow_id: number
  task_ids: number[]
  edges: [number, number][]
  entry_task_ids: number[]
  exit_task_ids: number[]
}

export interface MigrationPreview {
  task_id: number
  mode: MigrationMode
  source_workflow_id: number
  target_workflow_id: number
  moved_task_ids: number[]
  moved_edges: [number, number][]
  dropped_edges: CutEdge[]
  bridged_edges: [number, number][]
  /** lineage-derived edges the move adds in the target (already part of `target_after.edges`) */
  lineage_edges?: [number, number][]
  source_emptied: boolean
  warnings: MigrationWarning[]
  source_after: MigrationSide
  target_after: MigrationSide
}

export interface MigrationRequest {
  task_id: number
  target_workflow_id: number
  mode: MigrationMode
  allow_empty_source: boolean
  expected_source_version_no?: number
  expected_target_version_no?: number
}

export interface MigrationResult {
  source: WorkflowDetail
  target: WorkflowDetail
  preview: MigrationPreview
}

// --- auto-orchestration proposals (issue 20) ---

export interface CrossDependency {
  upstream_task_id: number
  downstream_task_id: number
  /** the workflow the task outside the proposal is in (null: in none yet, another proposal holds it) */
  other_workflow_id: number | null
  /** which end is outside the proposal */
  outside: 'upstream' | 'downstream'
  kept_as: 'dependent_link'
  /** tables the upstream writes and the downstream reads (gateway, from lineage); empty: through table lineage */
  tables?: string[]
}

/** a table a task of the proposal writes and another of its tasks reads */
export interface TyingTable {
  table: string
  writers: number[]
  readers: number[]
}

export type ProposalKind = 'new_workflow' | 'add_to_workflow'

export interface Proposal {
  id: number
  kind: ProposalKind
  fingerprint: string
  /** `add_to_workflow`: the workflow the task joins */
  workflow_id: number | null
  task_ids: number[]
  task_count: number
  edges: [number, number][]
  /** internal dependencies closing a lineage cycle: such a proposal cannot be accepted */
  cycle_edges: [number, number][]
  cycles: number[][]
  /** the size of the connected group it was formed from */
  component_size: number
  /** cut out of a larger connected group */
  split: boolean
  cross_dependencies: CrossDependency[]
  dismissed: boolean
  created_at: string
}

export interface ProposalDag {
  workflow_id: number
  task_ids: number[]
  edges: [number, number][]
  entry_task_ids: number[]
  exit_task_ids: number[]
  external_dependencies: ExternalDependency[]
}

/** What accepting writes, in the shape of a migration preview, with the reasons. */
export interface ProposalPreview {
  proposal_id: number
  kind: ProposalKind
  fingerprint: string
  target_workflow_id: number | null
  moved_task_ids: number[]
  moved_edges: [number, number][]
  lineage_edges: [number, number][]
  external_dependencies: ExternalDependency[]
  /** ``tables``: what ties the tasks together (null: lineage could not be asked) */
  reasons: { component_size: number; split: boolean; cut_dependencies: CrossDependency[]; tables: TyingTable[] | null }
  warnings: MigrationWarning[]
  target_after: ProposalDag
  target_version_no: number | null
}

export interface ProposalAcceptInput {
  name?: string
  description: string
  expected_version_no?: number
  /** keep the dependencies on other workflows' tasks as DEPENDENT links (default true) */
  dependent_links: boolean
}

export interface ProposalAccepted {
  proposal_id: number
  workflow: WorkflowDetail
  preview: ProposalPreview
}

export interface Me {
  name: string
  roles: string[]
}

/** RFC 9457 problem JSON as common.http renders it (extras are top-level members). */
export interface Problem {
  type?: string
  title?: string
  status?: number
  detail?: string
  instance?: string
  errors?: ProblemItem[]
  [extra: string]: unknown
}

export interface ProblemItem {
  code?: string
  message?: string
  path?: number[]
  task_ids?: number[]
  task_id?: number
  location?: string
  field?: string
  token?: string
  [extra: string]: unknown
}
