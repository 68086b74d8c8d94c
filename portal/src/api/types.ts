// The public API's shapes: aliases of the types generated from the gateway's OpenAPI (schema.d.ts, from
// portal/src/api/openapi.json: `npm run gen:api` after a change of the API; CI fails while they are stale).
// Request bodies the portal builds and the problem JSON stay written here.
// JSON is snake_case; times are ISO 8601 strings.
import type { components } from './schema'

type S = components['schemas']

export type WorkflowStatus = S['WorkflowListItem']['status']
export type PublishStatus = S['WorkflowListItem']['publish_status']
export type WorkflowAction = S['WorkflowDetail']['allowed_actions'][number]
/** DolphinScheduler's release state of the workflow after the last publish (null: not deployed or not known) */
export type ReleaseState = NonNullable<S['WorkflowListItem']['release_state']>
export type PublishOperation = S['PublishOperation']
export type MigrationMode = S['MigrationPreview']['mode']
export type TaskType = S['Task']['task_type']
export type TriggerSource = S['TriggerSource']
export type FailureStrategy = S['FailureStrategy']
export type Priority = S['Priority']
export type TimeoutStrategy = S['TimeoutStrategy']
export type ExecutionType = S['ExecutionType']
export type PublishRecordStatus = S['PublishRecord']['status']

export const WORKFLOW_STATUSES: WorkflowStatus[] = ['draft', 'ready', 'online', 'offline', 'archived']
export const PUBLISH_STATUSES: PublishStatus[] = ['never_published', 'pending', 'published', 'failed']
export const MIGRATION_MODES: MigrationMode[] = ['only_current', 'cascade_downstream', 'cascade_up_and_downstream']
export const TASK_TYPES: TaskType[] = [
  'SHELL',
  'SQL',
  'PYTHON',
  'HTTP',
  'PROCEDURE',
  'DATAX',
  'SPARK',
  'FLINK',
  'CONDITIONS',
  'SUB_WORKFLOW',
  'SWITCH',
]
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
  /** composed pages: the parts that could not be fetched (e.g. ``metrics``, ``counts``) */
  unavailable?: string[]
}

export type Param = S['GlobalParam']
export type ShellParams = S['ShellParams']
export type PythonParams = S['PythonParams']
export type SqlParams = S['SqlParams']
export type HttpParams = S['HttpParams']
export type HttpParam = S['HttpParam']
export type HttpCheckCondition = NonNullable<HttpParams['check_condition']>
export type ProcedureParams = S['ProcedureParams']
export type DataxParams = S['DataxParams']
export type SparkParams = S['SparkParams']
export type FlinkParams = S['FlinkParams']
export type ConditionsParams = S['ConditionsParams']
export type SubWorkflowParams = S['SubWorkflowParams']
export type SwitchParams = S['SwitchParams']
export type TaskParams =
  | ShellParams
  | PythonParams
  | SqlParams
  | HttpParams
  | ProcedureParams
  | DataxParams
  | SparkParams
  | FlinkParams
  | ConditionsParams
  | SubWorkflowParams
  | SwitchParams
/** a task's local parameter (`type`: one of DolphinScheduler's data types) */
export type LocalParam = NonNullable<ShellParams['local_params']>[number]
/** what the API always sends (the rest have DolphinScheduler's defaults) */
export type NodeAttrs = S['NodeAttrs'] &
  Required<
    Pick<
      S['NodeAttrs'],
      | 'worker_group'
      | 'failure_strategy'
      | 'retries'
      | 'retry_interval_minutes'
      | 'timeout_minutes'
      | 'timeout_strategy'
      | 'priority'
      | 'delay_minutes'
    >
  >
export type Schedule = S['Schedule']
export type Edge = S['Edge']

/** A task as the API answers it: the task (`params` typed by its kind), and what the list or the detail adds. */
export type Task = Omit<S['Task'], 'params'> & { params: TaskParams } & Partial<Omit<S['TaskView'], keyof S['Task']>>
/** The workflow an unassigned task's lineage points to. */
export type SuggestedWorkflow = S['SuggestedWorkflow']
/** A warning that does not stop the call (`code` is stable, `message` is the server's English text). */
export type Notice = S['Notice']

export type Execution = S['Execution']
export type LastExecution = S['LastExecution']
export type TaskMetrics = S['TaskMetrics']
export type TaskRunCell = S['TaskRunCell']
/** What the list adds to a workflow's summary. */
type ListExtras = 'last_executions' | 'executions_synced_at' | 'executions_unavailable' | 'ds_link'
/** A workflow of the list (or the summary part of its detail). */
export type WorkflowSummary = Omit<S['WorkflowListItem'], ListExtras> & Partial<Pick<S['WorkflowListItem'], ListExtras>>
export type WorkflowTask = S['WorkflowTask']
export type VersionSummary = S['VersionSummary']
export type FieldChange = S['FieldChange']
export type TaskChange = S['TaskChange']
export type ScheduleChange = S['ScheduleChange']
export type GlobalParamsChange = S['GlobalParamsChange']
export type LinksChange = S['LinksChange']
export type ChangeSummary = S['ChangeSummary']
export type SnapshotTask = S['SnapshotTask']
export type StructureSnapshot = S['StructureSnapshot']
export type DependentCycle = S['DependentCycle']
/** A lineage dependency on a task of another workflow, kept as a DolphinScheduler DEPENDENT task. */
export type ExternalDependency = S['ExternalDependency']
export type Version = S['Version']
export type PublishRecord = S['PublishRecord']
/** The workflow page's executions (`tracked: false`: history-sync does not know the workflow, never deployed). */
export type WorkflowExecutions = S['ExecutionsPart']
/** The publisher's restore of a workflow's DolphinScheduler state (GET /workflows/{id}/restore) */
export type DsRestore = S['Restore']
/** set while a failed publish has left DolphinScheduler other than intended (the platform restores it) */
export type DsAttention = S['DsAttention']
/** A workflow as saved or changed; the page (`GET /workflows/{id}`) adds versions, records, executions, links. */
export type WorkflowDetail = S['WorkflowDetail'] & Partial<Omit<S['WorkflowView'], keyof S['WorkflowDetail']>>
/** The answer of a rollback: the detail and the tasks it left in no workflow. */
export type RollbackResult = S['RollbackResult']
export type PublishAccepted = S['PublishAccepted']
/** A run now: `starting`/`unknown` are open (poll `GET …/runs/{run_id}`), the others are settled. */
export type RunView = S['RunView']
export type RunState = RunView['state']
/** Run now's options (all optional): worker group, warning type, schedule time (a one-date backfill in DS), … */
export type RunInput = S['RunInput']
export type WarningType = NonNullable<RunInput['warning_type']>
export const WARNING_TYPES: WarningType[] = ['NONE', 'FAILURE', 'SUCCESS', 'ALL']
/** A batch start / backfill (`POST /workflows/batch-run`) and its answer, workflow by workflow. */
export type BatchRunInput = S['BatchRunInput']
export type BatchRunResult = S['BatchRunResult']
export type BatchRunItem = S['BatchRunItem']
export type InstanceInfo = S['Instance']
export type TaskInstance = S['TaskInstance']
export type InstanceDetail = S['InstanceDetail']
export type TaskLogPage = S['TaskLogPage']
export type CutEdge = S['CutEdge']
export type MigrationWarning = S['MigrationWarning']
export type MigrationSide = S['MigrationSide']
export type MigrationPreview = S['MigrationPreview']
export type MigrationResult = S['MigrationResult']

// --- auto-orchestration proposals (issue 20) ---

export type CrossDependency = S['CrossDependency']
/** a table a task of the proposal writes and another of its tasks reads */
export type TyingTable = S['TyingTable']
export type ProposalKind = S['ProposalSummary']['kind']
export type Proposal = S['ProposalSummary']
export type ProposalDag = S['ProposalDag']
/** What accepting writes, in the shape of a migration preview, with the reasons. */
export type ProposalPreview = S['ProposalPreview']
export type ProposalAccepted = S['ProposalAccepted']
export type Me = S['Me']
/** API keys for machines (admin): listed without their secret, which only the creation's answer holds, once */
export type ApiKey = S['ApiKeyView']
export type CreatedApiKey = S['CreatedApiKey']
export type ApiKeyInput = S['ApiKeyInput']
export type Role = S['Role']
export type Scope = S['Scope']
/** Lineage for people (issue 21 item 3): table search, a table's lineage, impact analysis, a DAG's lineage check */
export type TableSearch = S['TableSearch']
export type TableLineage = S['TableLineage']
export type LineageTask = S['LineageTask']
export type TableImpact = S['TableImpact']
export type AffectedTask = S['AffectedTask']
export type LineagePathStep = S['PathStep']
export type DagLineageCheck = S['DagLineageCheck']
export type SuggestedEdge = S['SuggestedEdge']
export type FlaggedEdge = S['FlaggedEdge']

// --- written here: request bodies, problem JSON ---

/** A global parameter as sent on save (`type` is DolphinScheduler's data type, e.g. `VARCHAR`). */
export interface ParamInput {
  name: string
  value: string
  direction: 'IN' | 'OUT'
  type: string
}

export interface TaskInput {
  name: string
  task_type: TaskType
  description: string
  params: TaskParams
  worker_group: string
  owner: string | null
  /** the task's OpenLineage job identity (null: none; left out on an update: kept) */
  openlineage_job?: OpenLineageJob | null
  expected_revision?: number
}


/** A DEPENDENT link as sent on save (the upstream workflow and its codes are looked up by the service). */
export interface DependentLinkInput {
  upstream_task_id: number
  task_ids: number[]
  cycle: DependentCycle
  date_value: string
}


export interface WorkflowInput {
  name: string
  description: string
  tasks: { task_id: number; node_attrs: NodeAttrs }[]
  edges: Edge[]
  schedule: Schedule | null
  global_params: ParamInput[]
  execution_type: ExecutionType
  timeout_minutes: number
  /** DEPENDENT links to keep; omitted on an update: the current ones are kept, `[]`: none */
  external_dependencies?: DependentLinkInput[]
  expected_version_no?: number
}


export interface MigrationRequest {
  task_id: number
  target_workflow_id: number
  mode: MigrationMode
  allow_empty_source: boolean
  expected_source_version_no?: number
  expected_target_version_no?: number
}


export interface ProposalAcceptInput {
  name?: string
  description: string
  expected_version_no?: number
  /** keep the dependencies on other workflows' tasks as DEPENDENT links (default true) */
  dependent_links: boolean
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



// OpenLineage job <-> task mapping (issue 21 item 2)
export type UnmappedJob = S['UnmappedJob']
export type JobPattern = S['OpenLineageJobPattern']
export type JobPatternInput = S['JobPatternIn']
export type JobIdentity = S['OpenLineageJobIdentity']
export type JobPatternSet = S['OpenLineageJobPatternSet']
/** a task's OpenLineage job identity (namespace + name), as the task form edits it */
export type OpenLineageJob = S['OpenLineageJob']
