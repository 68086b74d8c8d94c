// Shapes shared by the unit tests.
import type { ExternalDependency } from '@/api/types'

/** A DEPENDENT link on task `up` (`up<up>`) of workflow 7 `orders`, day/today unless `extra` says otherwise. */
export const link = (up: number, tasks: number[], extra: Partial<ExternalDependency> = {}): ExternalDependency => ({
  upstream_workflow_id: 7,
  upstream_task_id: up,
  task_ids: tasks,
  cycle: 'day',
  date_value: 'today',
  upstream_workflow_name: 'orders',
  upstream_task_name: `up${up}`,
  ...extra,
})
