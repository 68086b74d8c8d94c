// Browser scenario against a running platform (started by tests/e2e/conftest.py), driven with playwright-core and
// the system's Chromium. Configuration comes as JSON in E2E_CONFIG:
//   { baseUrl, token, chromium, outDir, workflowName, tasks: [{ id, name }] }   (tasks: 3, in chain order)
// Every step takes a screenshot (NN-step.png; NN-step-FAILED.png when it fails). The last line on stdout is a JSON
// summary: { ok, steps: [{ name, ok, ms, screenshot, error? }], workflowId, failed? }.
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { chromium } from 'playwright-core'

const cfg = JSON.parse(process.env.E2E_CONFIG ?? '{}')
const out = cfg.outDir
mkdirSync(out, { recursive: true })
const steps = []
const result = { ok: false, steps, workflowId: null }
const log = (msg) => process.stderr.write(`[e2e] ${msg}\n`)

const browser = await chromium.launch({
  executablePath: cfg.chromium,
  headless: true,
  // playwright-core gives every launch a fresh temporary profile (user data dir)
  args: [
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--disable-dev-shm-usage',
  ],
})
const context = await browser.newContext({ viewport: { width: 1440, height: 900 }, locale: 'zh-CN' })
const page = await context.newPage()
page.setDefaultTimeout(20_000)
const consoleErrors = []
page.on('console', (m) => {
  if (m.type() === 'error') consoleErrors.push(m.text())
})
page.on('pageerror', (e) => consoleErrors.push(String(e)))

let n = 0
async function step(name, fn) {
  n += 1
  const file = `${String(n).padStart(2, '0')}-${name}`
  const started = Date.now()
  log(`step ${file}`)
  try {
    await fn()
    await page.waitForTimeout(350) // let transitions settle before the screenshot
    await page.screenshot({ path: join(out, `${file}.png`), fullPage: true })
    steps.push({ name, ok: true, ms: Date.now() - started, screenshot: `${file}.png` })
  } catch (e) {
    await page.screenshot({ path: join(out, `${file}-FAILED.png`), fullPage: true }).catch(() => {})
    steps.push({ name, ok: false, ms: Date.now() - started, screenshot: `${file}-FAILED.png`, error: String(e?.stack ?? e) })
    throw e
  }
}

const testId = (id) => page.locator(`[data-testid="${id}"]`)
async function pickOption(text) {
  await page.locator('.n-base-select-menu:visible .n-base-select-option', { hasText: text }).first().click()
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

  await step('approved', async () => {
    await testId('action-approve').click()
    await expectText(testId('status-tag'), '已审批')
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

  await step('published', async () => {
    await page.keyboard.press('Escape')
    await testId('publish-dialog').waitFor({ state: 'hidden' })
    await poll(
      async () =>
        (await testId('publish-status-tag').first().innerText()).includes('已发布') &&
        (await testId('run-now').isEnabled()),
      { timeout: 60_000, every: 2000, reload: true, what: 'publish status "published" and a DS workflow code' },
    )
  })

  await step('run-now', async () => {
    await testId('run-now').click()
    await page.getByRole('button', { name: '启动' }).click()
    await page.locator('.n-message', { hasText: '已启动' }).first().waitFor()
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

  const newTask = `${cfg.workflowName}_report`
  await step('task-list', async () => {
    await page.goto(cfg.baseUrl + '/tasks')
    const rows = page.locator('[data-testid="task-table"] tbody tr')
    await expectText(rows, t1.name)
    await expectText(rows.filter({ hasText: t2.name }), cfg.workflowName) // owner workflow shown
  })

  await step('register-task', async () => {
    await testId('register-task').click()
    await testId('task-dialog').waitFor()
    await testId('task-name').locator('input').fill(newTask)
    await testId('task-script').locator('textarea').fill('echo report')
    await testId('task-save').click()
    await testId('task-dialog').waitFor({ state: 'hidden' })
    await expectText(page.locator('[data-testid="task-table"] tbody tr'), newTask)
  })

  await step('edit-workflow-v2', async () => {
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
  })

  result.ok = true
} catch (e) {
  result.failed = String(e?.message ?? e)
} finally {
  result.consoleErrors = consoleErrors.slice(0, 20)
  await browser.close()
  process.stdout.write(JSON.stringify(result) + '\n')
}
process.exit(result.ok ? 0 : 1)
