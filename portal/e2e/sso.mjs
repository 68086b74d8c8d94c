// Sign-in with the company account (issue 22) in a real browser, through Keycloak's own login page, against a
// running platform whose gateway signs people in at the devstack's Keycloak (tests/e2e/test_sso.py). Configuration as
// JSON in E2E_CONFIG: { baseUrl, chromium, outDir, workflow: { id, name }, people: { editor, approver, viewer:
// { username, password } } }. The editor edits the workflow (version 2), the approver approves it, the viewer sees no
// button that changes anything and is refused (403) when forcing an approval, and sign-out ends the session (the old
// cookie is refused). Every step takes a screenshot (sso-NN-step.png). The last stdout line is a JSON summary:
// { ok, steps: [{ name, ok, ms, screenshot, error? }], failed? , consoleErrors }.
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { chromium } from 'playwright-core'

const cfg = JSON.parse(process.env.E2E_CONFIG ?? '{}')
const out = cfg.outDir
mkdirSync(out, { recursive: true })
const steps = []
const result = { ok: false, steps }
const log = (msg) => process.stderr.write(`[e2e-sso] ${msg}\n`)

const browser = await chromium.launch({
  executablePath: cfg.chromium,
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-dev-shm-usage'],
})
const context = await browser.newContext({ viewport: { width: 1440, height: 900 }, locale: 'en-US' })
const page = await context.newPage()
page.setDefaultTimeout(30_000)
const consoleErrors = []
page.on('pageerror', (e) => consoleErrors.push(String(e)))

let n = 0
async function step(name, fn) {
  n += 1
  const file = `sso-${String(n).padStart(2, '0')}-${name}`
  const started = Date.now()
  log(`step ${file}`)
  try {
    await fn()
    await page.waitForTimeout(300)
    await page.screenshot({ path: join(out, `${file}.png`), fullPage: true })
    steps.push({ name, ok: true, ms: Date.now() - started, screenshot: `${file}.png` })
  } catch (e) {
    await page.screenshot({ path: join(out, `${file}-FAILED.png`), fullPage: true }).catch(() => {})
    steps.push({ name, ok: false, ms: Date.now() - started, screenshot: `${file}-FAILED.png`, error: String(e?.stack ?? e) })
    throw e
  }
}
const testId = (id) => page.locator(`[data-testid="${id}"]`)
const wf = cfg.workflow
const detail = `${cfg.baseUrl}/workflows/${wf.id}`

function expect(cond, what) {
  if (!cond) throw new Error(`expected: ${what}`)
}

/** The portal's sign-in page → Keycloak's login form, filled in → back in the portal as that person. */
async function signIn(person) {
  await page.goto(`${cfg.baseUrl}/login`)
  await testId('sso-login').click()
  await page.locator('#username').waitFor()
  expect(!page.url().startsWith(cfg.baseUrl), `Keycloak's own login page, not the portal (${page.url()})`)
  await page.locator('#username').fill(person.username)
  await page.locator('#password').fill(person.password)
  await page.locator('#kc-login').click()
  await page.waitForURL((u) => u.href.startsWith(`${cfg.baseUrl}/workflows`))
  await testId('me').filter({ hasText: person.username }).waitFor()
  const stored = await page.evaluate(() => localStorage.getItem('wp.token'))
  expect(stored === null, 'no token in localStorage for a person signed in with the company account')
}

async function signOut() {
  await testId('logout').click()
  await page.waitForURL((u) => u.href.startsWith(`${cfg.baseUrl}/login`))
  await testId('sso-login').waitFor()
}

async function csrfToken() {
  return (await context.cookies(cfg.baseUrl)).find((c) => c.name === 'platform_csrf')?.value ?? null
}

try {
  await step('sign-in-page', async () => {
    await page.goto(`${cfg.baseUrl}/login`)
    await testId('sso-login').waitFor()
    await testId('token-input').waitFor() // the API-token field stays (admins, machines)
  })

  await step('editor-signs-in', async () => {
    await signIn(cfg.people.editor)
    const session = (await context.cookies(cfg.baseUrl)).find((c) => c.name === 'platform_session')
    expect(session && session.httpOnly && session.sameSite === 'Lax', 'an httpOnly SameSite=Lax session cookie')
  })

  await step('editor-edits', async () => {
    await page.goto(detail)
    await testId('edit-workflow').click()
    await testId('wf-description').locator('textarea').fill('edited by the editor, signed in with the company account')
    await testId('save-workflow').click()
    await page.waitForURL((u) => u.pathname === `/workflows/${wf.id}`)
    await testId('workflow-detail').waitFor()
    expect((await testId('action-approve').count()) === 0, 'an editor sees no approve button')
  })

  await step('editor-signs-out', async () => {
    await signOut()
  })

  await step('approver-approves', async () => {
    await signIn(cfg.people.approver)
    await page.goto(detail)
    expect((await testId('edit-workflow').count()) === 0, 'an approver sees no edit button')
    await testId('action-approve').click()
    await testId('action-approve').waitFor({ state: 'detached' })
    await signOut()
  })

  let oldCookies = []
  await step('viewer-sees-no-changes', async () => {
    await signIn(cfg.people.viewer)
    await page.goto(detail)
    await testId('workflow-detail').waitFor()
    for (const id of ['edit-workflow', 'open-publish', 'run-now', 'delete-workflow', 'archive-workflow']) {
      expect((await testId(id).count()) === 0, `a viewer sees no ${id} button`)
    }
    expect((await page.locator('[data-testid^="action-"]').count()) === 0, 'a viewer sees no workflow action')
    await page.goto(`${cfg.baseUrl}/workflows`)
    await testId('workflow-table').waitFor()
    expect((await testId('new-workflow').count()) === 0, 'a viewer sees no new-workflow button')
  })

  await step('viewer-forcing-a-change-gets-403', async () => {
    const csrf = await csrfToken()
    expect(csrf, 'the session CSRF cookie')
    const answer = await page.evaluate(
      async ({ id, csrf }) => {
        const r = await fetch(`/api/v1/workflows/${id}/approve`, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf },
          body: JSON.stringify({ version_no: 2 }),
        })
        return { status: r.status, body: await r.json() }
      },
      { id: wf.id, csrf },
    )
    expect(answer.status === 403 && answer.body.type === '/problems/forbidden', `403 forbidden, got ${JSON.stringify(answer)}`)
    oldCookies = await context.cookies(cfg.baseUrl)
  })

  await step('sign-out-ends-the-session', async () => {
    await signOut()
    const cookie = oldCookies.map((c) => `${c.name}=${c.value}`).join('; ')
    const r = await fetch(`${cfg.baseUrl}/api/v1/me`, { headers: { Cookie: cookie } })
    const body = await r.json()
    expect(r.status === 401 && body.type === '/problems/session-ended', `the old cookie refused, got ${r.status}`)
    // the portal, opened with that old cookie, sends the person to sign in with the message
    await context.addCookies(oldCookies.filter((c) => c.name === 'platform_session'))
    await page.goto(`${cfg.baseUrl}/workflows`)
    await testId('login-reason').waitFor()
  })
  result.ok = true
} catch (e) {
  result.failed = String(e?.message ?? e)
} finally {
  result.consoleErrors = consoleErrors
  await browser.close()
  process.stdout.write(`${JSON.stringify(result)}\n`)
}
