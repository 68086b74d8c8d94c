import { describe, expect, it } from 'vitest'
import type { Task, TaskType } from '@/api/types'
import { branchLabels, branchLabelTexts, formOf, openLineageJobOf, paramsOf, taskSummary } from '@/lib/taskForm'

function task(task_type: TaskType, params: Record<string, unknown>): Task {
  return {
    id: 1,
    name: 'n',
    task_type,
    description: '',
    params: { kind: task_type, ...params },
    worker_group: 'default',
    owner: null,
    revision: 1,
  } as unknown as Task
}

describe('task editor form <-> params', () => {
  it('builds HTTP params: headers and query params, a body only with POST/PUT, no condition for the default check', () => {
    const form = formOf(null)
    Object.assign(form, {
      task_type: 'HTTP',
      url: ' https://api.example.com/refresh ',
      method: 'GET',
      body: 'ignored',
      http_params: [
        { name: 'X-Token', value: '${token}', location: 'HEADERS' },
        { name: ' ', value: 'dropped', location: 'PARAMETER' },
        { name: 'day', value: '${dt}', location: 'PARAMETER' },
      ],
      condition: 'left over',
    })
    expect(paramsOf(form)).toEqual({
      kind: 'HTTP',
      url: 'https://api.example.com/refresh',
      method: 'GET',
      http_params: [
        { name: 'X-Token', value: '${token}', location: 'HEADERS' },
        { name: 'day', value: '${dt}', location: 'PARAMETER' },
      ],
      body: '',
      check_condition: 'STATUS_CODE_DEFAULT',
      condition: '',
      connect_timeout_ms: 60000,
      local_params: [],
    })
    Object.assign(form, { method: 'POST', check_condition: 'STATUS_CODE_CUSTOM', condition: ' 201 ' })
    expect(paramsOf(form)).toMatchObject({ method: 'POST', body: 'ignored', check_condition: 'STATUS_CODE_CUSTOM', condition: '201' })
  })

  it('round-trips an HTTP task through the form', () => {
    const params = {
      url: 'https://x.example/a',
      method: 'PUT',
      http_params: [{ name: 'a', value: '1', location: 'HEADERS' }],
      body: '{}',
      check_condition: 'BODY_CONTAINS',
      condition: 'ok',
      connect_timeout_ms: 5000,
      local_params: [{ name: 'dt', value: 'x', direction: 'IN', type: 'VARCHAR' }],
    }
    const form = formOf(task('HTTP', params))
    expect(form.method).toBe('PUT')
    expect(form.procedure).toBe('')
    expect(paramsOf(form)).toEqual({ kind: 'HTTP', ...params })
  })

  it('round-trips a PROCEDURE task: its method is the call, not an HTTP method', () => {
    const params = {
      datasource_name: 'orders',
      datasource_type: 'MYSQL',
      method: 'call refresh(${dt})',
      local_params: [{ name: 'dt', value: '', direction: 'IN', type: 'VARCHAR' }],
    }
    const form = formOf(task('PROCEDURE', params))
    expect(form.method).toBe('GET')
    expect(form.procedure).toBe('call refresh(${dt})')
    expect(paramsOf(form)).toEqual({ kind: 'PROCEDURE', ...params })
  })

  it('keeps the other types as they were', () => {
    const sql = { datasource_name: 'w', datasource_type: 'POSTGRESQL', sql: 'select 1', sql_type: 'query',
      pre_statements: ['set a=1'], post_statements: [], display_rows: 5, local_params: [] }
    expect(paramsOf(formOf(task('SQL', sql)))).toEqual({ kind: 'SQL', ...sql })
    expect(paramsOf(formOf(task('SHELL', { script: 'echo 1', local_params: [] })))).toEqual({
      kind: 'SHELL', script: 'echo 1', local_params: [],
    })
    expect(paramsOf(formOf(null))).toEqual({ kind: 'SHELL', script: '', local_params: [] })
  })

  it('summarises each type for the DAG node panel', () => {
    expect(taskSummary({ kind: 'HTTP', url: 'https://x', method: 'POST', body: '{"a":1}' })).toBe('POST https://x\n\n{"a":1}')
    expect(taskSummary({ kind: 'PROCEDURE', datasource_name: 'w', datasource_type: 'MYSQL', method: 'call p()' })).toBe(
      'MYSQL w\ncall p()',
    )
    expect(taskSummary({ kind: 'SQL', sql: 'select 1' })).toBe('select 1')
    expect(taskSummary({ kind: 'SHELL', script: 'echo' })).toBe('echo')
  })
})

describe('DATAX form', () => {
  const built = {
    source_datasource_name: 'orders',
    source_datasource_type: 'MYSQL',
    sql: 'select * from o',
    target_datasource_name: 'dw',
    target_datasource_type: 'POSTGRESQL',
    target_table: 'ods.o',
    pre_statements: ['truncate ods.o'],
    post_statements: [],
    job_speed_byte: 0,
    job_speed_record: 1000,
    xms: 1,
    xmx: 2,
    local_params: [],
  }

  it('round-trips a job DS builds from a source and a target', () => {
    const form = formOf(task('DATAX', built))
    expect(form.datasource_name).toBe('orders')
    expect(form.datax_custom).toBe(false)
    expect(paramsOf(form)).toEqual({ kind: 'DATAX', ...built })
  })

  it('round-trips a custom DataX JSON, sending nothing of the built form', () => {
    const form = formOf(task('DATAX', { custom_json: '{"job":{}}', xms: 1, xmx: 1, local_params: [] }))
    expect(form.datax_custom).toBe(true)
    form.target_table = 'left over'
    expect(paramsOf(form)).toEqual({ kind: 'DATAX', custom_json: '{"job":{}}', xms: 1, xmx: 1, local_params: [] })
  })

  it('a new DATAX task starts as a built job between MySQL data sources', () => {
    const form = formOf(null)
    form.task_type = 'DATAX'
    expect(paramsOf(form)).toMatchObject({ kind: 'DATAX', target_datasource_type: 'MYSQL', job_speed_record: 1000 })
    expect(taskSummary({ kind: 'DATAX', ...built })).toBe('MYSQL orders → POSTGRESQL dw.ods.o\nselect * from o')
    expect(taskSummary({ kind: 'DATAX', custom_json: '{}' })).toBe('{}')
  })
})

describe('SPARK form', () => {
  const program = {
    program_type: 'JAVA',
    main_class: 'com.example.Orders',
    main_jar: 'jobs/orders.jar',
    raw_script: '',
    deploy_mode: 'client',
    app_name: 'orders',
    driver_cores: 2,
    driver_memory: '1G',
    num_executors: 4,
    executor_cores: 3,
    executor_memory: '4G',
    main_args: '--day ${dt}',
    others: '',
    yarn_queue: 'etl',
    resources: ['conf/a.conf'],
    local_params: [],
  }

  it('round-trips a program, its resources kept', () => {
    expect(paramsOf(formOf(task('SPARK', program)))).toEqual({ kind: 'SPARK', ...program })
  })

  it('a SQL program sends its script and no jar, class or arguments', () => {
    const form = formOf(task('SPARK', program))
    form.program_type = 'SQL'
    form.script = 'insert into t select 1'
    expect(paramsOf(form)).toMatchObject({ program_type: 'SQL', raw_script: 'insert into t select 1', main_jar: '',
      main_class: '', main_args: '' })
    const back = formOf(task('SPARK', paramsOf(form) as unknown as Record<string, unknown>))
    expect(back.script).toBe('insert into t select 1')
  })

  it('a Python program has no main class; the summary says what runs', () => {
    const form = formOf(task('SPARK', { ...program, program_type: 'PYTHON', main_jar: 'jobs/a.py' }))
    expect(paramsOf(form)).toMatchObject({ program_type: 'PYTHON', main_class: '', main_jar: 'jobs/a.py' })
    expect(taskSummary({ kind: 'SPARK', ...program })).toBe(
      'spark-submit JAVA (client)\ncom.example.Orders jobs/orders.jar --day ${dt}',
    )
    expect(taskSummary({ kind: 'SPARK', program_type: 'SQL', raw_script: 'select 1', deploy_mode: 'local' })).toBe(
      'spark-sql (local)\nselect 1',
    )
  })
})

describe('FLINK form', () => {
  const program = {
    program_type: 'SCALA',
    main_class: 'com.example.Stream',
    main_jar: 'jobs/stream.jar',
    raw_script: '',
    init_script: '',
    deploy_mode: 'application',
    flink_version: '>=1.10',
    app_name: 'stream',
    job_manager_memory: '2G',
    task_manager_memory: '4G',
    slot: 2,
    task_manager: 3,
    parallelism: 4,
    main_args: '--x 1',
    others: '',
    yarn_queue: '',
    resources: [],
    local_params: [],
  }

  it("round-trips a program with Flink's own deploy modes", () => {
    const form = formOf(task('FLINK', program))
    expect(form.flink_deploy_mode).toBe('application')
    expect(paramsOf(form)).toEqual({ kind: 'FLINK', ...program })
  })

  it('a SQL program sends its script and init script, no jar', () => {
    const form = formOf(task('FLINK', program))
    Object.assign(form, { program_type: 'SQL', script: 'insert into k select 1', init_script: 'set a=b;' })
    expect(paramsOf(form)).toMatchObject({ raw_script: 'insert into k select 1', init_script: 'set a=b;', main_jar: '' })
    expect(taskSummary({ kind: 'FLINK', ...program })).toBe('flink run SCALA (application)\ncom.example.Stream jobs/stream.jar --x 1')
  })

  it('builds SUB_WORKFLOW params: the chosen child by id, 0 while none is chosen (the save names workflow_id)', () => {
    const form = formOf(task('SUB_WORKFLOW', { workflow_id: 42, local_params: [{ name: 'day', value: '${dt}' }] }))
    expect(form.sub_workflow_id).toBe(42)
    expect(paramsOf(form)).toEqual({
      kind: 'SUB_WORKFLOW',
      workflow_id: 42,
      local_params: [{ name: 'day', value: '${dt}', direction: 'IN', type: 'VARCHAR' }],
    })
    const fresh = formOf(null)
    Object.assign(fresh, { task_type: 'SUB_WORKFLOW' })
    expect(fresh.sub_workflow_id).toBeNull()
    expect(paramsOf(fresh)).toEqual({ kind: 'SUB_WORKFLOW', workflow_id: 0, local_params: [] })
    // another type's params never set a child
    expect(formOf(task('SHELL', { script: 'echo' })).sub_workflow_id).toBeNull()
    expect(taskSummary({ kind: 'SUB_WORKFLOW', workflow_id: 42 }, undefined, (id) => (id === 42 ? 'load orders' : undefined))).toBe(
      '⤷ load orders (#42)',
    )
    expect(taskSummary({ kind: 'SUB_WORKFLOW', workflow_id: 7 })).toBe('⤷ #7')
  })
})

describe('CONDITIONS form', () => {
  const params = {
    relation: 'OR',
    groups: [
      { relation: 'AND', checks: [{ task_id: 11, status: 'SUCCESS' }, { task_id: 12, status: 'FAILURE' }] },
      { relation: 'OR', checks: [{ task_id: 13, status: 'SUCCESS' }] },
    ],
    success_task_ids: [21],
    failed_task_ids: [22, 23],
    local_params: [],
  }

  it('round-trips the groups and both branches', () => {
    const form = formOf(task('CONDITIONS', params))
    expect(form.condition_relation).toBe('OR')
    expect(form.condition_groups[0].checks[1]).toEqual({ task_id: 12, status: 'FAILURE' })
    expect(paramsOf(form)).toEqual({ kind: 'CONDITIONS', ...params })
  })

  it('a new one starts with one empty check; unchosen checks and empty groups are not sent', () => {
    const form = formOf(null)
    form.task_type = 'CONDITIONS'
    expect(form.condition_groups).toEqual([{ relation: 'AND', checks: [{ task_id: null, status: 'SUCCESS' }] }])
    form.condition_groups.push({ relation: 'OR', checks: [{ task_id: 5, status: 'SUCCESS' }] })
    Object.assign(form, { success_task_ids: [6], failed_task_ids: [7] })
    expect(paramsOf(form)).toEqual({
      kind: 'CONDITIONS',
      relation: 'AND',
      groups: [{ relation: 'OR', checks: [{ task_id: 5, status: 'SUCCESS' }] }],
      success_task_ids: [6],
      failed_task_ids: [7],
      local_params: [],
    })
  })

  it('summarises the condition with task names and labels the branch edges', () => {
    const names: Record<number, string> = { 11: 'load', 12: 'check', 21: 'publish' }
    expect(taskSummary({ kind: 'CONDITIONS', ...params }, (id) => names[id] ?? `#${id}`)).toBe(
      '(load SUCCESS AND check FAILURE) OR (#13 SUCCESS)\n✓ publish\n✗ #22, #23',
    )
    const labels = branchLabels([
      { task_id: 3, params: { kind: 'CONDITIONS', ...params } },
      { task_id: 4, params: { kind: 'SHELL', script: 'x' } },
    ])
    expect([...labels]).toEqual([
      ['3>21', { kind: 'success' }],
      ['3>22', { kind: 'failure' }],
      ['3>23', { kind: 'failure' }],
    ])
  })
})

describe('SWITCH form', () => {
  const params = {
    cases: [
      { condition: "${region} == 'eu'", task_id: 21 },
      { condition: '${rows} > 1000 && ${mode} != "dry" && ${day} != "sunday"', task_id: 22 },
    ],
    default_task_id: 23,
    local_params: [],
  }

  it('round-trips the cases in order and the default', () => {
    const form = formOf(task('SWITCH', params))
    expect(form.switch_cases[1]).toEqual({ condition: params.cases[1].condition, task_id: 22 })
    expect(form.switch_default_task_id).toBe(23)
    expect(paramsOf(form)).toEqual({ kind: 'SWITCH', ...params })
  })

  it('a new one starts with one empty case and no default; an empty case is not sent, one without a task sends 0', () => {
    const form = formOf(null)
    form.task_type = 'SWITCH'
    expect(form.switch_cases).toEqual([{ condition: '', task_id: null }])
    expect(form.switch_default_task_id).toBeNull()
    form.switch_cases.push({ condition: '${x} > 1', task_id: null }, { condition: 'true', task_id: 8 })
    expect(paramsOf(form)).toEqual({
      kind: 'SWITCH',
      cases: [
        { condition: '${x} > 1', task_id: 0 },
        { condition: 'true', task_id: 8 },
      ],
      default_task_id: null,
      local_params: [],
    })
  })

  it('summarises the cases with task names and labels the branch edges by case and default', () => {
    const names: Record<number, string> = { 21: 'load-eu', 23: 'load-rest' }
    expect(taskSummary({ kind: 'SWITCH', ...params }, (id) => names[id] ?? `#${id}`)).toBe(
      `1. \${region} == 'eu' → load-eu\n2. ${params.cases[1].condition} → #22\n* → load-rest`,
    )
    const tasks = [
      { task_id: 3, params: { kind: 'SWITCH', ...params } },
      { task_id: 4, params: { kind: 'SHELL', script: 'x' } },
    ]
    expect([...branchLabels(tasks)]).toEqual([
      ['3>21', { kind: 'case', n: 1, condition: "${region} == 'eu'" }],
      ['3>22', { kind: 'case', n: 2, condition: params.cases[1].condition }],
      ['3>23', { kind: 'default' }],
    ])
    const texts = branchLabelTexts(tasks, (key, values) => `${key}|${JSON.stringify(values)}`)
    expect(texts).toEqual({
      '3>21': `dag.branch.case|${JSON.stringify({ n: 1, condition: "${region} == 'eu'" })}`,
      // a long condition is cut short on the edge (the node panel shows all of it)
      '3>22': `dag.branch.case|${JSON.stringify({ n: 2, condition: '${rows} > 1000 && ${mode} !…' })}`,
      '3>23': 'dag.branch.default|{}',
    })
  })
})

describe('task editor form: the OpenLineage job', () => {
  it('is read from the task, trimmed, null when both fields are blank, and sent as is when one is blank', () => {
    const form = formOf({ ...task('SHELL', { script: 'x' }), openlineage_job: { namespace: 'spark://c', name: 'load' } } as Task)
    expect([form.openlineage_namespace, form.openlineage_name]).toEqual(['spark://c', 'load'])
    form.openlineage_name = '  load_v2 '
    expect(openLineageJobOf(form)).toEqual({ namespace: 'spark://c', name: 'load_v2' })
    Object.assign(form, { openlineage_namespace: ' ', openlineage_name: '' })
    expect(openLineageJobOf(form)).toBeNull()
    Object.assign(form, { openlineage_namespace: 'spark://c', openlineage_name: ' ' })
    expect(openLineageJobOf(form)).toEqual({ namespace: 'spark://c', name: '' })
    expect(openLineageJobOf(formOf(null))).toBeNull()
  })
})
