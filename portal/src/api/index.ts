// The public API of the gateway (docs/api-contracts.md §5), one function per call.
import { csrf, token } from './auth'
import { ApiClient, type ApiError } from './client'
import type {
  ApiKey,
  ApiKeyInput,
  ChangeSummary,
  CreatedApiKey,
  DsRestore,
  InstanceDetail,
  JobIdentity,
  JobPatternSet,
  JobPattern,
  JobPatternInput,
  Me,
  MigrationPreview,
  MigrationRequest,
  MigrationResult,
  Page,
  PublishAccepted,
  PublishOperation,
  Proposal,
  ProposalAcceptInput,
  ProposalAccepted,
  ProposalPreview,
  PublishRecord,
  RollbackResult,
  BatchRunInput,
  DagLineageCheck,
  TableImpact,
  TableLineage,
  TableSearch,
  BatchRunResult,
  RunInput,
  RunView,
  Task,
  TaskInput,
  TaskLogPage,
  UnmappedJob,
  Version,
  VersionSummary,
  WorkflowAction,
  WorkflowDetail,
  WorkflowExecutions,
  WorkflowInput,
  WorkflowSummary,
} from './types'

let unauthorizedHandler: (err: ApiError) => void = () => {}

export function onUnauthorized(handler: (err: ApiError) => void): void {
  unauthorizedHandler = handler
}

export const client = new ApiClient({
  getToken: () => token.value,
  getCsrf: () => csrf.value,
  onUnauthorized: (err) => unauthorizedHandler(err),
})

const V1 = '/api/v1'
const idempotency = (key: string) => ({ 'Idempotency-Key': key })

export interface WorkflowListQuery {
  name?: string
  status?: string | null
  publish_status?: string | null
  last_execution_state?: string | null
  needs_attention?: boolean | null
  sort?: string
  page?: number
  page_size?: number
}

export interface TaskListQuery {
  workflowId?: number | null
  upstreamTaskId?: number | null
  downstreamTaskId?: number | null
  name?: string
  unassigned?: boolean | null
  page?: number
  page_size?: number
}

export const api = {
  me: () => client.get<Me>(`${V1}/me`),

  listWorkflows: (q: WorkflowListQuery) => client.get<Page<WorkflowSummary>>(`${V1}/workflows`, { ...q }),
  getWorkflow: (id: number) => client.get<WorkflowDetail>(`${V1}/workflows/${id}`),
  createWorkflow: (body: WorkflowInput) => client.post<WorkflowDetail>(`${V1}/workflows`, body),
  updateWorkflow: (id: number, body: WorkflowInput) => client.put<WorkflowDetail>(`${V1}/workflows/${id}`, body),
  /** approve the version the user reviewed (409 `stale-version` when another version was saved since) */
  approve: (id: number, versionNo: number) =>
    client.post<WorkflowDetail>(`${V1}/workflows/${id}/approve`, { version_no: versionNo }),
  /** platform state (`online`/`offline`) or `archive` */
  action: (id: number, action: Exclude<WorkflowAction, 'approve'>) =>
    client.post<WorkflowDetail>(`${V1}/workflows/${id}/${action}`),
  /** a never-published workflow only (409 `workflow-published`: archive it instead) */
  deleteWorkflow: (id: number, expectedVersionNo: number) =>
    client.delete(`${V1}/workflows/${id}`, { expected_version_no: expectedVersionNo }),

  listVersions: (id: number, page = 1, pageSize = 50) =>
    client.get<Page<VersionSummary>>(`${V1}/workflows/${id}/versions`, { page, page_size: pageSize }),
  getVersion: (id: number, no: number) => client.get<Version>(`${V1}/workflows/${id}/versions/${no}`),
  diff: (id: number, from: number, to: number) =>
    client.get<ChangeSummary>(`${V1}/workflows/${id}/diff`, { from, to }),
  rollback: (id: number, toVersionNo: number, expectedVersionNo: number) =>
    client.post<RollbackResult>(`${V1}/workflows/${id}/rollback`, {
      to_version_no: toVersionNo,
      expected_version_no: expectedVersionNo,
    }),

  publish: (id: number, operation: PublishOperation) =>
    client.post<PublishAccepted>(`${V1}/workflows/${id}/publish`, { operation }),
  publishRecords: (id: number, page = 1, pageSize = 20) =>
    client.get<Page<PublishRecord>>(`${V1}/workflows/${id}/publish-records`, { page, page_size: pageSize }),
  retryRecord: (recordId: number, key: string) =>
    client.post<PublishRecord>(`${V1}/publish-records/${recordId}/retry`, {}, undefined, idempotency(key)),
  /** 200 `started`, 202 `unknown` (poll `getRun`); the same key gives the same answer and one DS instance */
  run: (id: number, key: string, options: RunInput = {}) =>
    client.post<RunView>(`${V1}/workflows/${id}/run`, options, undefined, idempotency(key)),
  /** start or backfill several workflows; answers each one (`started` with its DS instance ids, `failed`, `unknown`) */
  batchRun: (body: BatchRunInput) => client.post<BatchRunResult>(`${V1}/workflows/batch-run`, body),
  getRun: (id: number, runId: number) => client.get<RunView>(`${V1}/workflows/${id}/runs/${runId}`),
  getRestore: (id: number) => client.get<DsRestore>(`${V1}/workflows/${id}/restore`),
  restoreNow: (id: number) => client.post<DsRestore>(`${V1}/workflows/${id}/restore`),
  cancelRestore: (id: number) => client.post<DsRestore>(`${V1}/workflows/${id}/restore/cancel`),

  executions: (id: number, maxAgeSeconds?: number) =>
    client.get<WorkflowExecutions>(`${V1}/workflows/${id}/executions`, { max_age_seconds: maxAgeSeconds }),
  instance: (id: number, instanceId: number) =>
    client.get<InstanceDetail>(`${V1}/workflows/${id}/instances/${instanceId}`),
  taskLog: (id: number, taskInstanceId: number, skip: number, limit = 500, instanceId?: number) =>
    client.get<TaskLogPage>(`${V1}/workflows/${id}/task-instances/${taskInstanceId}/log`, {
      skip_line_num: skip,
      limit,
      ...(instanceId === undefined ? {} : { instance_id: instanceId }),
    }),

  listTasks: (q: TaskListQuery) => client.get<Page<Task>>(`${V1}/tasks`, { ...q }),
  getTask: (id: number) => client.get<Task>(`${V1}/tasks/${id}`),
  createTask: (body: TaskInput) => client.post<Task>(`${V1}/tasks`, body),
  updateTask: (id: number, body: TaskInput) => client.put<Task>(`${V1}/tasks/${id}`, body),
  /** a task in no workflow only (409 `task-in-use` names its workflow) */
  deleteTask: (id: number) => client.delete(`${V1}/tasks/${id}`),

  migrationPreview: (body: MigrationRequest) => client.post<MigrationPreview>(`${V1}/migrations/preview`, body),
  migrate: (body: MigrationRequest) => client.post<MigrationResult>(`${V1}/migrations`, body),

  /** tables lineage knows whose name contains `q` */
  searchTables: (q: string, limit = 20) => client.get<TableSearch>(`${V1}/lineage/tables`, { q, limit }),
  /** a table's writers and readers and the tables `depth` hops up- and downstream (404 `unknown-table`) */
  tableLineage: (name: string, depth: number) => client.get<TableLineage>(`${V1}/lineage/table`, { name, depth }),
  /** every task and workflow a late or changed table affects, with the path that reaches it */
  tableImpact: (name: string, depth: number) => client.get<TableImpact>(`${V1}/lineage/impact`, { name, depth }),
  /** a DAG being edited against lineage: suggested edges, and drawn edges lineage contradicts */
  dagCheck: (taskIds: number[], edges: [number, number][]) =>
    client.get<DagLineageCheck>(`${V1}/lineage/dag-check`, {
      task_ids: taskIds.join(','),
      edges: edges.map(([u, d]) => `${u}-${d}`).join(','),
    }),

  listProposals: (includeDismissed = false, page = 1, pageSize = 200) =>
    client.get<Page<Proposal>>(`${V1}/proposals`, { include_dismissed: includeDismissed, page, page_size: pageSize }),
  previewProposal: (id: number) => client.get<ProposalPreview>(`${V1}/proposals/${id}/preview`),
  /** 201: a draft workflow, or a new version of the workflow a task joins (409 `proposal-not-acceptable`) */
  acceptProposal: (id: number, body: ProposalAcceptInput) =>
    client.post<ProposalAccepted>(`${V1}/proposals/${id}/accept`, body),
  dismissProposal: (id: number) => client.post<Proposal>(`${V1}/proposals/${id}/dismiss`),
  /** recently seen OpenLineage jobs no rule maps to a task, with their datasets */
  listUnmappedJobs: (q?: string, limit = 200) =>
    client.get<{ items: UnmappedJob[]; total: number }>(`${V1}/openlineage/unmapped-jobs`, { q: q || undefined, limit }),
  getTaskJob: (taskId: number) => client.get<JobIdentity>(`${V1}/tasks/${taskId}/openlineage-job`),
  /** the task is this OpenLineage job (recorded with the task; 409 names the task that has it); the lineage
   *  service applies the job's pending lineage moments later */
  setTaskJob: (taskId: number, job: { namespace: string; name: string }) =>
    client.put<JobIdentity>(`${V1}/tasks/${taskId}/openlineage-job`, job),
  deleteTaskJob: (taskId: number) => client.delete(`${V1}/tasks/${taskId}/openlineage-job`),
  listJobPatterns: () => client.get<{ items: JobPattern[] }>(`${V1}/openlineage/patterns`),
  createJobPattern: (body: JobPatternInput) =>
    client.post<JobPatternSet>(`${V1}/openlineage/patterns`, body),
  deleteJobPattern: (id: number) => client.delete(`${V1}/openlineage/patterns/${id}`),

  /** API keys (admin): never their secret */
  listApiKeys: (includeRevoked: boolean, page = 1, pageSize = 200) =>
    client.get<Page<ApiKey>>(`${V1}/api-keys`, { include_revoked: includeRevoked, page, page_size: pageSize }),
  /** 201: the answer's `key` is the secret, shown this once */
  createApiKey: (body: ApiKeyInput) => client.post<CreatedApiKey>(`${V1}/api-keys`, body),
  /** idempotent; 409 for the last active admin key */
  revokeApiKey: (id: number) => client.delete(`${V1}/api-keys/${id}`),
}
