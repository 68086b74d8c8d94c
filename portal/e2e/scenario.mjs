// Browser scenario against a running platform (started by tests/e2e/conftest.py), driven with playwright-core and
// the system's Chromium. Configuration comes as JSON in E2E_CONFIG:
//   { baseUrl, token, chromium, outDir, workflowName, tasks: [{ id, name }] (3, in chain order),
//     otherWorkflow: { id, name } (migration target), draftWorkflow: { id, name } (never published: deleted here),
//     ds: { restUrl, token, controlUrl } (the DS emulator: its REST API to count instances, its control API for faults),
//     auto: { workflowName, up, up2: { id, name, workflowId }, p1, p2, p3: { id, name } } (auto-orchestration: p1 reads
//       what up of workflow up.workflowId writes, p2 reads p1; p3 reads what up2 of another workflow writes),
//     lineage: { tables: [a, b, c], l1, l2, l3: { id, name }, workflowId, workflowName } (table lineage, issue 21: l1
//       writes a, l2 reads a and writes b, l3 reads b and writes c; the workflow draws only l3 → l2, the wrong way),
//     switchWorkflow: { id, route, eu, rest: { id, name }, condition } (issue 21: route is a SWITCH task, a case
//       `condition` → eu, rest by default) }
// Besides the UI, the scenario uses the gateway API (to change a workflow behind the browser's back) and DolphinScheduler's
// REST API (to check what a click started there).
// Every step takes a screenshot (NN-step.png; NN-step-FAILED.png when it fails). The last line on stdout is a JSON
// summary: { ok, steps: [{ name, ok, ms, screenshot, error? }], workflowId, failed? }.
import { openBrowser } from './harness.mjs'

const cfg = JSON.parse(process.env.E2E_CONFIG ?? '{}')
const { page, steps, step, finish } = await openBrowser(cfg, { locale: 'zh-CN' })
const result = { ok: false, steps, workflowId: null }

const testId = (id) => page.locator(`[data-testid="${id}"]`)
async function pickOption(text) {
  const option = page.locator('.n-base-select-menu:visible .n-base-select-option', { hasText: text }).first()
  await page.locator('.n-base-select-menu:visible').first().waitFor()
  // the menu is a virtual list: an option below its fold is not rendered; a filterable select filters as one types
  if (!(await option.isVisible())) await page.keyboard.type(text)
  await option.click()
}
/** Close any open select menu and wait until its closing transition is over (a fading menu still takes clicks). */
async function closeMenus() {
  await page.keyboard.press('Escape')
  await page.locator('h2').first().click()
  await poll(async () => (await page.locator('.n-base-select-menu:visible').count()) === 0, { what: 'menus closed', every: 100 })
}
async function expectText(locator, text, timeout = 20_000) {
  await locator.filter({ hasText: text }).first().waitFor({ state: 'visible', timeout })
}

/** The gateway API with the admin token (what another user or a script would do meanwhile). */
async function api(method, path, body) {
  const res = await fetch(cfg.baseUrl + path, {
    method,
    headers: { Authorization: `Bearer ${cfg.token}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  const text = await res.text()
  if (!res.ok) throw new Error(`${method} ${path}: HTTP ${res.status} ${text}`)
  return text ? JSON.parse(text) : null
}
/** DolphinScheduler's instances of a workflow, asked of DS itself. */
async function dsInstances(projectCode, workflowCode) {
  const url = `${cfg.ds.restUrl}/projects/${projectCode}/workflow-instances?pageNo=1&pageSize=100&workflowDefinitionCode=${workflowCode}`
  const res = await fetch(url, { headers: { token: cfg.ds.token } })
  const body = await res.json()
  if (body.code !== 0) throw new Error(`DS instances: ${JSON.stringify(body)}`)
  return body.data.totalList.map((i) => i.id)
}
async function dsFault(rule) {
  const res = await fetch(`${cfg.ds.controlUrl}/_emulator/faults`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ target: 'rest', ...rule }),
  })
  if (!res.ok) throw new Error(`emulator fault: HTTP ${res.status}`)
}
const dialogButton = (name, text) => page.locator(`.confirm-${name}`).getByRole('button', { name: text })
async function attr(locator, name) {
  return (await locator.count()) ? locator.first().getAttribute(name) : null
}

async function poll(check, { timeout = 60_000, every = 1000, reload = false, what = 'condition' } = {}) {
  const deadline = Date.now() + timeout
  for (;;) {
    if (await check()) return
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await page.waitForTimeout(every)
    if (reload) {
      await page.reload()
      await page.waitForLoadState('networkidle').catch(() => {})
    }
  }
}

try {
  const [t1, t2, t3] = cfg.tasks

  await step('login-screen', async () => {
    await page.goto(cfg.baseUrl + '/')
    await testId('login').waitFor()
    await expectText(testId('app-title'), '工作流编排平台') // Chinese is the default
  })

  await step('workflow-list', async () => {
    await testId('token-input').locator('input').fill(cfg.token)
    await testId('login-submit').click()
    await page.waitForURL(/\/workflows$/)
    await testId('workflow-table').waitFor()
    await expectText(testId('me'), 'admin')
  })

  await step('create-workflow', async () => {
    await testId('new-workflow').click()
    await testId('workflow-edit').waitFor()
    await testId('wf-name').locator('input').fill(cfg.workflowName)
    await testId('wf-description').locator('textarea').fill('e2e: extract → transform → load')
    await testId('task-picker').click()
    for (const t of [t1, t2, t3]) await pickOption(t.name)
    await closeMenus()
    for (const [task, up] of [
      [t2, t1],
      [t3, t2],
    ]) {
      await testId(`upstream-${task.id}`).click()
      await pickOption(up.name)
      await closeMenus()
    }
    // the live preview draws the chain
    await poll(async () => (await page.locator('[data-testid="dag"] .dag-node').count()) === 3, { what: 'preview nodes' })
    await poll(async () => (await page.locator('[data-testid="dag"] .dag-edge').count()) === 2, { what: 'preview edges' })
  })

  await step('workflow-dag', async () => {
    await testId('save-workflow').click()
    await page.waitForURL(/\/workflows\/\d+$/)
    result.workflowId = Number(page.url().split('/').pop())
    await testId('workflow-detail').waitFor()
    await expectText(testId('workflow-name'), cfg.workflowName)
    await poll(async () => (await page.locator('[data-testid="dag"] .dag-node').count()) === 3, { what: 'DAG nodes' })
    await poll(async () => (await page.locator('[data-testid="dag"] .dag-edge').count()) === 2, { what: 'DAG edges' })
    await expectText(testId('status-tag'), '草稿')
  })

  await step('node-attributes', async () => {
    await page.locator(`[data-testid="dag"] [data-task-id="${t2.id}"]`).click()
    await expectText(testId('node-panel'), t2.name)
    await expectText(testId('node-panel'), 'Worker 分组')
  })

  await step('approve-stale-version', async () => {
    // someone saves v2 (adds a schedule) through the API while the page still shows v1
    const wf = await api('GET', `/api/v1/workflows/${result.workflowId}`)
    await api('PUT', `/api/v1/workflows/${result.workflowId}`, {
      name: wf.name,
      description: wf.description,
      tasks: wf.tasks.map((x) => ({ task_id: x.task_id, node_attrs: x.node_attrs })),
      edges: wf.edges,
      schedule: { crontab: '0 0 2 * * ? *', timezone: 'Asia/Shanghai', start_time: '2026-01-01T00:00:00Z', end_time: '2036-01-01T00:00:00Z' },
      global_params: wf.global_params,
      execution_type: wf.execution_type,
      timeout_minutes: wf.timeout_minutes,
      expected_version_no: wf.current_version_no,
    })
    await expectText(testId('action-approve'), 'v1')
    await testId('action-approve').click()
    // refused: the message says which version was saved since, and the page now shows it
    await expectText(testId('approve-stale'), 'v2')
    await expectText(testId('action-approve'), 'v2')
    await expectText(testId('status-tag'), '草稿')
    const after = await api('GET', `/api/v1/workflows/${result.workflowId}`)
    if (after.approved || after.status !== 'draft') throw new Error(`approved unseen: ${after.status}`)
  })

  await step('approved', async () => {
    await testId('action-approve').click()
    await expectText(testId('status-tag'), '已审批')
    await testId('approve-stale').waitFor({ state: 'hidden' })
  })

  await step('publish-online', async () => {
    await testId('open-publish').click()
    const dialog = testId('publish-dialog')
    await dialog.waitFor()
    await dialog.locator('[data-op="online"]').click()
    await testId('publish-send').click()
    // the record appears (pending/running) and turns to success; the table polls every 2 s
    await dialog.locator('.record-status[data-status="success"]').first().waitFor({ timeout: 90_000 })
  })

  await step('published-ds-online', async () => {
    await page.keyboard.press('Escape')
    await testId('publish-dialog').waitFor({ state: 'hidden' })
    await poll(
      async () =>
        (await testId('publish-status-tag').first().innerText()).includes('已发布') &&
        (await attr(testId('ds-state-tag'), 'data-release')) === 'online' &&
        (await testId('run-now').isEnabled()),
      { timeout: 60_000, every: 2000, reload: true, what: 'publish status "published", DS online and a DS workflow code' },
    )
    // both states: approved on the platform (publishing does not change it), online with its schedule in DS
    await expectText(testId('status-tag'), '平台：已审批')
    await expectText(testId('ds-state-tag'), 'DolphinScheduler：已上线 · 调度已上线')
  })

  await step('platform-online', async () => {
    await testId('action-online').click()
    await expectText(testId('status-tag'), '平台：已上线')
    await expectText(testId('ds-state-tag'), '已上线 · 调度已上线')
  })

  const detail = await api('GET', `/api/v1/workflows/${result.workflowId}`)
  const instancesInDs = () => dsInstances(detail.project_code, detail.workflow_code)

  await step('run-now', async () => {
    // the workflow's failure strategy (its tasks keep the default END): on the detail and as the dialog's default
    await expectText(testId('workflow-failure-strategy'), '结束工作流')
    await testId('run-now').click()
    await expectText(testId('run-failure-strategy'), '工作流的：结束工作流')
    await dialogButton('run', '启动').click()
    await page.locator('.n-message', { hasText: '已启动' }).first().waitFor()
    await page.locator('[data-testid="run-status"][data-state="started"]').waitFor()
  })

  await step('run-now-double-click', async () => {
    const before = await instancesInDs()
    const lastRun = await attr(testId('run-status'), 'data-run-id')
    // a double click on the button opens one question; a double click on its answer starts one run
    await testId('run-now').dblclick()
    await page.locator('.confirm-run').waitFor()
    await dialogButton('run', '启动').dblclick()
    await page.locator('.confirm-run').waitFor({ state: 'hidden' })
    const status = page.locator('[data-testid="run-status"][data-state="started"]')
    await poll(async () => ![null, lastRun].includes(await attr(status, 'data-run-id')), {
      timeout: 30_000,
      every: 200,
      what: 'the new run started',
    })
    const shown = (await attr(status, 'data-instances')).split(',').map(Number)
    const after = await instancesInDs()
    const added = after.filter((i) => !before.includes(i))
    if (added.length !== 1 || shown.length !== 1 || added[0] !== shown[0])
      throw new Error(`one click must start one DS instance: DS added ${JSON.stringify(added)}, the page shows ${shown}`)
    if (await testId('error-alert').count()) throw new Error(`an error is shown: ${await testId('error-alert').first().innerText()}`)
    result.doubleClickInstance = added[0]
    // history-sync refreshes after a run: the executions tab shows the new run at once (no waiting for a sync cycle)
    await page.locator(`[data-testid="executions-table"] tr[data-instance-id="${added[0]}"]`).waitFor({ timeout: 15_000 })
  })

  await step('last-10-after-sync', async () => {
    await page.goto(cfg.baseUrl + '/workflows')
    const row = page.locator('tr', { has: page.locator('[data-testid="workflow-link"]', { hasText: cfg.workflowName }) })
    await row.waitFor()
    // history-sync's cycle is 3 s in the test; the run takes about 2 s in the emulator
    await poll(async () => (await row.locator('.dot[data-state="SUCCESS"]').count()) >= 1, {
      timeout: 90_000,
      every: 3000,
      reload: true,
      what: 'a SUCCESS dot in the last-10 column',
    })
    await row.locator('.dot[data-state="SUCCESS"]').first().hover()
    await page.locator('.n-tooltip', { hasText: '成功' }).first().waitFor()
    // both states in the list too
    await expectText(row.locator('[data-testid="status-tag"]'), '平台：已上线')
    await expectText(row.locator('[data-testid="ds-state-tag"]'), 'DolphinScheduler：已上线')
  })

  await step('instance-tasks', async () => {
    await page.goto(`${cfg.baseUrl}/workflows/${result.workflowId}`)
    await testId('workflow-detail').waitFor()
    await page.locator('.n-tabs-tab', { hasText: '执行记录' }).first().click()
    const firstRow = page.locator('[data-testid="executions-table"] tr[data-instance-id]').first()
    await firstRow.waitFor({ timeout: 30_000 })
    await firstRow.click()
    const tasks = page.locator('[data-testid="task-instances"] tbody tr')
    await poll(async () => (await tasks.count()) === 3, { what: 'three task instances' })
  })

  await step('task-log', async () => {
    await page.locator('[data-testid="task-instances"] tbody tr').first().getByRole('button').click()
    await poll(async () => (await testId('task-log').innerText()).trim().length > 0, { what: 'log text' })
  })

  await step('english', async () => {
    await page.goto(cfg.baseUrl + '/workflows')
    await testId('lang-switch').click()
    await pickOption('English')
    await expectText(testId('app-title'), 'Workflow Orchestration')
    await expectText(page.locator('th'), 'Last 10 runs')
    // remembered across a reload
    await page.reload()
    await expectText(testId('app-title'), 'Workflow Orchestration')
    await expectText(page.locator('.n-menu'), 'Workflows')
  })

  await step('chinese-again', async () => {
    await testId('lang-switch').click()
    await pickOption('中文')
    await expectText(testId('app-title'), '工作流编排平台')
    await expectText(page.locator('th'), '最近 10 次执行')
  })

  await step('backfill', async () => {
    // issue 21 item 4: two days of the workflow, in parallel; each workflow's outcome with its DS instances
    const before = await instancesInDs()
    await page.goto(cfg.baseUrl + '/backfill')
    await testId('backfill-start').click()
    await expectText(testId('backfill-problems'), '至少选择一个工作流') // nothing chosen yet: nothing sent
    await testId('backfill-workflows').click()
    await pickOption(cfg.workflowName)
    await closeMenus()
    // typed (the picker takes a range once both ends parse), then the picker closed by a click elsewhere
    const days = testId('backfill-range').locator('input')
    await days.nth(0).click()
    await days.nth(0).fill('2025-01-01')
    await days.nth(1).fill('2025-01-02')
    await page.locator('h2').first().click()
    await poll(async () => (await days.nth(0).inputValue()) === '2025-01-01' && (await days.nth(1).inputValue()) === '2025-01-02', {
      what: 'the two days in the picker',
      every: 200,
      timeout: 5000,
    })
    await testId('backfill-mode').locator('.n-radio', { hasText: '并行' }).click()
    await testId('backfill-parallelism').locator('input').fill('2')
    await testId('backfill-parallelism').locator('input').blur()
    await testId('backfill-start').click()
    await page.locator('.n-dialog').getByRole('button', { name: '开始补数' }).click()
    const row = testId(`backfill-row-${result.workflowId}`)
    await expectText(row, '已启动')
    const links = row.locator('a[href*="/workflow/instances/"]')
    await poll(async () => (await links.count()) === 2, { what: 'two DS instance links' })
    const shown = (await links.allInnerTexts()).map((x) => Number(x.replace(/[^0-9]/g, '')))
    const added = (await instancesInDs()).filter((i) => !before.includes(i))
    if (JSON.stringify([...added].sort()) !== JSON.stringify([...shown].sort()))
      throw new Error(`the backfill must show the instances DS made: DS added ${JSON.stringify(added)}, the page shows ${shown}`)
    result.backfillInstances = added
  })

  const newTask = `${cfg.workflowName}_report`
  await step('task-list', async () => {
    await page.goto(cfg.baseUrl + '/tasks')
    const rows = page.locator('[data-testid="task-table"] tbody tr')
    await expectText(rows, t1.name)
    await expectText(rows.filter({ hasText: t2.name }), cfg.workflowName) // owner workflow shown
  })

  await step('task-metrics', async () => {
    // task-level metrics from the synced history: success rate · p90 and the last runs' dots; the row expands to them
    const row = page.locator('[data-testid="task-table"] tbody tr', { hasText: t1.name }).first()
    await poll(async () => (await row.locator('[data-testid="task-success-rate"]').count()) >= 1, {
      timeout: 90_000,
      every: 3000,
      reload: true,
      what: `the task metrics of ${t1.name}`,
    })
    const rate = await row.locator('[data-testid="task-success-rate"]').innerText()
    if (!/^\d+%$/.test(rate.trim())) throw new Error(`the success rate must read like 100%, not ${rate}`)
    await row.locator('[data-testid="task-run-dots"] .dot[data-state="SUCCESS"]').first().waitFor()
    await row.locator('.n-data-table-expand-trigger').click()
    const runs = page.locator('[data-testid="task-runs-table"] tbody tr')
    await runs.first().waitFor()
    await expectText(page.locator('[data-testid="task-runs-panel"]').first(), '成功率')
  })

  await step('register-task', async () => {
    await testId('register-task').click()
    await testId('task-dialog').waitFor()
    await testId('task-name').locator('input').fill(newTask)
    await testId('task-script').locator('textarea').fill('echo report')
    // its OpenLineage job identity: the integration's lineage of this job lands on the task (checked through the API)
    await testId('task-openlineage-namespace').locator('input').fill('spark://e2e')
    await testId('task-openlineage-name').locator('input').fill(newTask)
    await testId('task-save').click()
    await testId('task-dialog').waitFor({ state: 'hidden' })
    await expectText(page.locator('[data-testid="task-table"] tbody tr'), newTask)
  })

  const sqlTask = `${cfg.workflowName}_sql_check`
  await step('task-save-warning', async () => {
    // a SQL task whose datasource DolphinScheduler lacks is saved, with a warning
    await testId('register-task').click()
    await testId('task-dialog').waitFor()
    await testId('task-name').locator('input').fill(sqlTask)
    await testId('task-dialog').locator('.n-radio-button', { hasText: 'SQL' }).click()
    await testId('task-datasource').locator('input').fill('e2e_missing_ds')
    await testId('task-sql').locator('textarea').fill('select 1')
    await testId('task-save').click()
    await testId('task-dialog').waitFor({ state: 'hidden' })
    await expectText(testId('task-warnings'), 'e2e_missing_ds')
    await testId('task-warnings').locator('[data-code="unknown_datasource"]').waitFor()
  })

  await step('edit-workflow-v3', async () => {
    await page.goto(`${cfg.baseUrl}/workflows/${result.workflowId}/edit`)
    await testId('workflow-edit').waitFor()
    await poll(async () => (await page.locator('[data-task-row]').count()) === 3, { what: 'the three tasks' })
    await testId('task-picker').click()
    await pickOption(newTask)
    await closeMenus()
    const newId = await page.locator('[data-task-row]').last().getAttribute('data-task-row')
    await testId(`upstream-${newId}`).click()
    await pickOption(t3.name)
    await closeMenus()
    await poll(async () => (await page.locator('[data-testid="dag"] .dag-edge').count()) === 3, { what: 'three edges' })
    await testId('save-workflow').click()
    await page.waitForURL(new RegExp(`/workflows/${result.workflowId}$`))
    await poll(async () => (await page.locator('[data-testid="dag"] .dag-node').count()) === 4, { what: 'four nodes' })
  })

  await step('version-diff', async () => {
    await page.locator('.n-tabs-tab', { hasText: '版本历史' }).first().click()
    await page.getByRole('button', { name: '与上一版对比' }).first().click()
    await expectText(testId('diff-view'), newTask)
    await expectText(testId('diff-view'), '新增任务')
  })

  await step('migration-preview', async () => {
    await page.goto(cfg.baseUrl + '/migration')
    await testId('migration-task').click()
    await pickOption(newTask)
    await closeMenus()
    await testId('migration-target').click()
    await pickOption(cfg.otherWorkflow.name)
    await testId('migration-preview').click()
    const res = testId('migration-result')
    await res.waitFor()
    await poll(async () => (await res.locator('[data-testid="dag"]').count()) === 2, { what: 'two resulting DAGs' })
    await expectText(res, newTask)
    await testId('lineage-edges').waitFor()
  })

  await step('publish-failed', async () => {
    await page.goto(`${cfg.baseUrl}/workflows/${result.workflowId}`)
    await testId('workflow-detail').waitFor()
    // v3 (the edit) needs approval; the workflow stays online on the platform meanwhile
    await expectText(testId('action-approve'), 'v3')
    await testId('action-approve').click()
    await testId('action-approve').waitFor({ state: 'hidden' })
    // DolphinScheduler refuses the next release once (a business error: the publisher does not retry it)
    await dsFault({ action: 'ds_error', match: '/release$', dsCode: 50035, dsMsg: 'workflow dag is empty', times: 1 })
    await testId('open-publish').click()
    const dialog = testId('publish-dialog')
    await dialog.locator('[data-op="online"]').click()
    await testId('publish-send').click()
    await dialog.locator('.record-status[data-status="failed"]').first().waitFor({ timeout: 90_000 })
    await expectText(dialog.locator('.err'), '50035')
  })

  await step('publish-retried', async () => {
    const dialog = testId('publish-dialog')
    const failedId = Number(await dialog.locator('[data-testid="retry-record"]').first().getAttribute('data-record-id'))
    // two quick clicks, one retry
    await dialog.locator('[data-testid="retry-record"]').first().dblclick()
    await poll(
      async () => (await dialog.locator('tbody tr').first().locator('.record-status').getAttribute('data-status')) === 'success',
      { timeout: 90_000, every: 500, what: 'the retry record succeeded' },
    )
    await expectText(dialog.locator('tbody tr').first(), `#${failedId}`)
    await expectText(dialog, '已重试为 #')
    const records = (await api('GET', `/api/v1/workflows/${result.workflowId}/publish-records`)).items
    const retries = records.filter((r) => r.retry_of === failedId)
    if (retries.length !== 1) throw new Error(`one retry record expected for record ${failedId}: ${JSON.stringify(retries)}`)
    result.failedRecordId = failedId
  })

  await step('platform-offline', async () => {
    await page.keyboard.press('Escape')
    await testId('publish-dialog').waitFor({ state: 'hidden' })
    await poll(async () => (await attr(testId('ds-state-tag'), 'data-release')) === 'online', {
      timeout: 30_000,
      every: 1000,
      reload: true,
      what: 'DS online again after the retry',
    })
    await testId('action-offline').click()
    await page.locator('.confirm-offline').waitFor()
    await expectText(page.locator('.confirm-offline'), 'DolphinScheduler')
    await dialogButton('offline', '平台下线').click()
    await expectText(testId('status-tag'), '平台：已下线')
    // DS takes the workflow and its schedule offline too (a publish record "offline"); the page shows both states
    await poll(async () => (await attr(testId('ds-state-tag'), 'data-release')) === 'offline', {
      timeout: 60_000,
      every: 1500,
      reload: true,
      what: 'DolphinScheduler offline',
    })
    await expectText(testId('ds-state-tag'), 'DolphinScheduler：已下线')
    await testId('lifecycle-note').waitFor()
  })

  await step('run-refused-offline', async () => {
    const before = await instancesInDs()
    await testId('run-now').click()
    await dialogButton('run', '启动').click()
    await page.locator('[data-testid="error-alert"][data-code="platform-offline"]').waitFor()
    await expectText(testId('error-alert'), '拒绝运行')
    const after = await instancesInDs()
    if (after.length !== before.length) throw new Error(`an offline workflow got a DS instance: ${before} → ${after}`)
  })

  await step('archive-confirm', async () => {
    await testId('archive-workflow').click()
    await page.locator('.confirm-archive').waitFor()
    await expectText(page.locator('.confirm-archive'), '只读')
  })

  await step('archived', async () => {
    await dialogButton('archive', '归档').click()
    await page.locator('.confirm-archive').waitFor({ state: 'hidden' })
    await expectText(testId('status-tag'), '平台：已归档')
    await testId('archived-note').waitFor()
    await expectText(testId('ds-state-tag'), '已下线')
    if (await testId('run-now').count()) throw new Error('an archived workflow still offers run now')
  })

  await step('delete-draft-confirm', async () => {
    await page.goto(`${cfg.baseUrl}/workflows/${cfg.draftWorkflow.id}`)
    await expectText(testId('workflow-name'), cfg.draftWorkflow.name)
    await expectText(testId('ds-state-tag'), '未部署')
    await testId('delete-workflow').click()
    await page.locator('.confirm-delete').waitFor()
  })

  await step('draft-deleted', async () => {
    await dialogButton('delete', '删除').click()
    await page.waitForURL(/\/workflows$/)
    await page.locator('.n-message', { hasText: '已删除' }).first().waitFor()
    await testId('filter-name').locator('input').fill(cfg.draftWorkflow.name)
    await testId('filter-name').locator('input').press('Enter')
    await page.locator('[data-testid="workflow-table"] .n-data-table-empty').waitFor()
  })

  await step('delete-unassigned-task', async () => {
    await page.goto(`${cfg.baseUrl}/tasks?name=${encodeURIComponent(sqlTask)}`)
    const row = page.locator('[data-testid="task-table"] tbody tr', { hasText: sqlTask })
    await row.waitFor()
    await row.locator('[data-testid="delete-task"]').click()
    await page.locator('.confirm-delete-task').waitFor()
    await dialogButton('delete-task', '删除').click()
    await page.locator('.n-message', { hasText: '已删除' }).first().waitFor()
    await page.locator('[data-testid="task-table"] .n-data-table-empty').waitFor()
  })

  // --- auto-orchestration (issue 20): lineage seeded by the test ---------------------------------------------------
  const auto = cfg.auto
  const proposalRow = () => page.locator('tr[data-proposal-id]', { hasText: auto.p1.name })
  await step('proposals-listed', async () => {
    await page.goto(cfg.baseUrl + '/workflows')
    await testId('nav-proposals').click()
    await page.waitForURL(/\/proposals$/)
    await proposalRow().first().waitFor()
    const ids = (await proposalRow().first().getAttribute('data-task-ids')).split(',').map(Number).sort((a, b) => a - b)
    const want = [auto.p1.id, auto.p2.id].sort((a, b) => a - b)
    if (JSON.stringify(ids) !== JSON.stringify(want)) throw new Error(`proposal tasks ${ids}, expected ${want}`)
    await expectText(proposalRow().first(), '新建工作流')
    // p3's producer is in workflow up2: proposed as an addition to it
    await expectText(page.locator('tr[data-proposal-id]', { hasText: auto.p3.name }).first(), '加入工作流')
  })

  await step('proposal-preview', async () => {
    const id = await proposalRow().first().getAttribute('data-proposal-id')
    await testId(`proposal-open-${id}`).click()
    const preview = testId('proposal-preview')
    await preview.locator('[data-testid="dag"]').waitFor()
    await poll(async () => (await preview.locator('[data-testid="dag"] .dag-node').count()) === 3, { what: 'two tasks and the DEPENDENT node' })
    const external = preview.locator('[data-testid="dag"] [data-external="true"]')
    await expectText(external, auto.up.name)
    if ((await external.getAttribute('data-link')) !== `/workflows/${auto.up.workflowId}`) throw new Error('the DEPENDENT node links elsewhere')
    // the reasons: the lineage dependency tying p1 and p2, and the cut one kept as a DEPENDENT link
    await expectText(testId('proposal-reasons'), `${auto.p1.name} (#${auto.p1.id}) → ${auto.p2.name} (#${auto.p2.id})`)
    await expectText(testId('proposal-cut-workflows'), auto.up.name)
    await expectText(testId('proposal-cut-workflows'), '以 DEPENDENT 依赖保留')
    // the table p1 writes and p2 reads, named by lineage (the gateway asks lineage-resolver)
    await expectText(testId('proposal-tables'), auto.tyingTable)
  })

  await step('proposal-accepted', async () => {
    await testId('proposal-name').locator('input').fill(auto.workflowName)
    await testId('proposal-accept').click()
    await page.waitForURL(/\/workflows\/\d+$/)
    result.autoWorkflowId = Number(page.url().split('/').pop())
    await testId('workflow-detail').waitFor()
    await expectText(testId('workflow-name'), auto.workflowName)
    await expectText(testId('status-tag'), '草稿')
    // the new draft's DAG: p1 → p2 and the DEPENDENT node of up before p1, linking to up's workflow
    await poll(async () => (await page.locator('[data-testid="dag"] .dag-node').count()) === 3, { what: 'DAG with the DEPENDENT node' })
    await expectText(page.locator('[data-testid="dag"] [data-external="true"]'), auto.up.name)
  })

  await step('task-suggested-workflow', async () => {
    // p3 is in no workflow and its producer is in up2's: its detail offers that workflow, whose editor opens with p3
    await page.goto(`${cfg.baseUrl}/tasks?name=${encodeURIComponent(auto.p3.name)}`)
    const row = page.locator('[data-testid="task-table"] tbody tr', { hasText: auto.p3.name })
    await row.waitFor()
    await row.locator('[data-testid="edit-task"]').click()
    const offer = testId('task-dialog').locator('[data-testid="suggested-workflow"]')
    await offer.waitFor()
    if (Number(await offer.getAttribute('data-workflow-id')) !== auto.up2.workflowId) throw new Error('another workflow suggested')
    await offer.locator('[data-testid="suggested-add"]').click()
    await page.waitForURL(new RegExp(`/workflows/${auto.up2.workflowId}/edit\\?add=${auto.p3.id}$`))
    await page.locator(`[data-task-row="${auto.p3.id}"]`).waitFor()
    // with the edge its lineage gives: up2 → p3
    await expectText(testId(`upstream-${auto.p3.id}`), auto.up2.name)
    await poll(async () => (await page.locator('[data-testid="dag"] .dag-edge').count()) === 1, { what: 'the lineage edge' })
  })

  await step('editor-external-links', async () => {
    await page.goto(`${cfg.baseUrl}/workflows/${result.autoWorkflowId}/edit`)
    await testId('workflow-edit').waitFor()
    const links = testId('external-links')
    await links.locator(`[data-link-state="accepted"][data-link-upstream="${auto.up.id}"]`).waitFor()
    await expectText(links, auto.up.name)
    // add p3: lineage suggests a link on up2 (another workflow); accept it
    await testId('task-picker').click()
    await pickOption(auto.p3.name)
    await closeMenus()
    const suggested = links.locator(`[data-link-state="suggested"][data-link-upstream="${auto.up2.id}"]`)
    await suggested.waitFor()
    await testId(`link-accept-${auto.up2.id}`).click()
    await links.locator(`[data-link-state="accepted"][data-link-upstream="${auto.up2.id}"]`).waitFor()
    await poll(async () => (await page.locator('[data-testid="dag"] [data-external="true"]').count()) === 2, { what: 'two DEPENDENT nodes' })
  })

  await step('external-links-diff', async () => {
    await testId('save-workflow').click()
    await page.waitForURL(new RegExp(`/workflows/${result.autoWorkflowId}$`))
    await poll(async () => (await page.locator('[data-testid="dag"] [data-external="true"]').count()) === 2, { what: 'saved links' })
    await page.locator('.n-tabs-tab', { hasText: '版本历史' }).first().click()
    await page.getByRole('button', { name: '与上一版对比' }).first().click()
    await expectText(testId('diff-links'), auto.up2.name)
  })

  // --- table lineage and the editor's lineage check (issue 21 item 3): lineage seeded by the test --------------------
  const lin = cfg.lineage
  const [ta, tb, tc] = lin.tables
  await step('lineage-search', async () => {
    await page.goto(cfg.baseUrl + '/workflows')
    await testId('nav-lineage').click()
    await page.waitForURL(/\/lineage$/)
    await testId('lineage-search').locator('input').fill(tb.slice(0, -2))
    await page.locator(`[data-testid="lineage-matches"] [data-table="${tb}"]`).click()
    await page.waitForURL(/\/lineage\?table=/)
    await expectText(testId('lineage-writers'), lin.l2.name)
    await expectText(testId('lineage-readers'), lin.l3.name)
    await expectText(testId('lineage-upstream'), ta)
    await expectText(testId('lineage-downstream'), tc)
    await expectText(testId('lineage-workflows'), lin.workflowName)
    // the graph: tables a, b, c and tasks l1 (2 hops up), l2, l3
    await poll(async () => (await page.locator('[data-testid="dag"] .dag-node').count()) === 6, { what: 'three tables and three tasks' })
  })

  await step('lineage-impact', async () => {
    await page.locator(`[data-testid="lineage-upstream"] a`, { hasText: ta }).click()
    await page.waitForURL(/table=/)
    await expectText(testId('lineage-readers'), lin.l2.name)
    await page.locator('.n-tabs-tab', { hasText: '影响分析' }).first().click()
    await expectText(testId('impact-summary'), ta)
    await page.locator(`[data-testid="impact-tasks"] tr[data-task-id="${lin.l3.id}"]`).waitFor()
    await expectText(page.locator(`[data-testid="impact-tasks"] tr[data-task-id="${lin.l3.id}"]`), `${ta} → ${lin.l2.name} → ${tb} → ${lin.l3.name}`)
    // the workflow once, however many of its tasks are affected
    const rows = page.locator(`[data-testid="impact-workflows"] tr[data-workflow-id="${lin.workflowId}"]`)
    await rows.first().waitFor()
    if ((await rows.count()) !== 1) throw new Error('the affected workflow is listed more than once')
  })

  await step('editor-lineage-check', async () => {
    await page.goto(`${cfg.baseUrl}/workflows/${lin.workflowId}/edit`)
    const check = testId('lineage-check')
    const l1 = lin.l1.id
    const l2 = lin.l2.id
    const l3 = lin.l3.id
    await check.locator(`[data-flagged-edge="${l3}>${l2}"][data-reason="reverse"]`).waitFor()
    await check.locator(`[data-suggested-edge="${l1}>${l2}"]`).waitFor()
    // l2 → l3 would close a cycle with the drawn l3 → l2: listed, not addable yet
    await check.locator(`[data-suggested-edge="${l2}>${l3}"]`).waitFor()
    if (!(await testId(`accept-edge-${l2}-${l3}`).isDisabled())) throw new Error('a cycle-closing edge can be added')
    await page.locator(`[data-testid="dag"] [data-edge="${l3}>${l2}"][data-edge-state="flagged"]`).waitFor()
    await page.locator(`[data-testid="dag"] [data-edge="${l1}>${l2}"][data-edge-state="suggested"]`).waitFor()
    await testId(`accept-edge-${l1}-${l2}`).click()
    await expectText(testId(`upstream-${l2}`), lin.l1.name)
    await testId(`remove-edge-${l3}-${l2}`).click()
    await check.locator(`[data-flagged-edge="${l3}>${l2}"]`).waitFor({ state: 'detached' })
    // checked again without the wrong edge: l2 → l3 may be added now; ignore it for this session
    await poll(async () => !(await testId(`accept-edge-${l2}-${l3}`).isDisabled()), { what: 'l2 → l3 addable', every: 300 })
    await testId(`ignore-edge-${l2}-${l3}`).click()
    await check.locator(`[data-suggested-edge="${l2}>${l3}"]`).waitFor({ state: 'detached' })
    await testId('show-ignored').waitFor()
    await check.locator(`[data-testid="lineage-confirmed"]`).waitFor()
  })

  await step('editor-lineage-saved', async () => {
    await testId('save-workflow').click()
    await page.waitForURL(new RegExp(`/workflows/${lin.workflowId}$`))
    await poll(async () => (await page.locator('[data-testid="dag"] .dag-edge').count()) === 1, { what: 'the saved DAG' })
    // ignored stays ignored in this session: the editor lists l2 → l3 no more
    await page.goto(`${cfg.baseUrl}/workflows/${lin.workflowId}/edit`)
    await testId('lineage-check').locator('[data-testid="lineage-confirmed"]').waitFor()
    await testId('show-ignored').waitFor()
    if (await testId('lineage-check').locator(`[data-suggested-edge="${lin.l2.id}>${lin.l3.id}"]`).count())
      throw new Error('an ignored suggestion is back')
  })

  await step('switch-branches', async () => {
    // a SWITCH task's branch edges labelled by case and default, its cases in the node panel (then in the task editor)
    const sw = cfg.switchWorkflow
    await page.goto(`${cfg.baseUrl}/workflows/${sw.id}`)
    await testId('workflow-detail').waitFor()
    const dag = testId('dag')
    await expectText(dag.locator(`[data-edge-label="${sw.route.id}>${sw.eu.id}"]`), `1：${sw.condition}`)
    await expectText(dag.locator(`[data-edge-label="${sw.route.id}>${sw.rest.id}"]`), '默认')
    await dag.locator(`[data-task-id="${sw.route.id}"]`).click()
    await expectText(testId('node-panel'), `1. ${sw.condition} → ${sw.eu.name}`)
    await expectText(testId('node-panel'), `* → ${sw.rest.name}`)
  })

  await step('switch-editor', async () => {
    const sw = cfg.switchWorkflow
    await page.goto(`${cfg.baseUrl}/tasks?name=${encodeURIComponent(sw.route.name)}`)
    const row = page.locator('[data-testid="task-table"] tbody tr', { hasText: sw.route.name })
    await row.waitFor()
    await row.locator('[data-testid="edit-task"]').click()
    const dialog = testId('task-dialog')
    if ((await dialog.locator('[data-testid="task-switch-condition-0"] input').inputValue()) !== sw.condition)
      throw new Error('the case condition is not in the editor')
    await expectText(dialog.locator('[data-testid="task-switch-task-0"]'), sw.eu.name)
    await expectText(dialog.locator('[data-testid="task-switch-default"]'), sw.rest.name)
  })

  result.ok = true
} catch (e) {
  result.failed = String(e?.message ?? e)
} finally {
  await finish(result)
}
