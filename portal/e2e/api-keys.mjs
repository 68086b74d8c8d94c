// The admin's API-keys screen (issue 22 item 3) in a browser against a running platform (tests/e2e/
// test_portal_api_keys.py starts it), driven with playwright-core and the system's Chromium. E2E_CONFIG (JSON):
//   { baseUrl, token (the admin's), viewerToken (a viewer's key), chromium, outDir, keyName }
// Sign in as the admin, open "API keys" from the navigation, create a key for a machine (role publisher, scope
// workflows:read, 30 days) whose secret is shown once (copied to the clipboard), use it through the API (reads: 200;
// a publish call outside its scope: 403 insufficient-scope), see its last use in the list, revoke it after the
// confirmation and see it refused (401); a viewer sees no "API keys" in the navigation and the screen says so.
// Every step takes a screenshot (NN-step.png; NN-step-FAILED.png when it fails). The last line on stdout is a JSON
// summary: { ok, steps: [{ name, ok, ms, screenshot, error? }], keyId, keyPrefix, failed?, consoleErrors }.
import { openBrowser } from './harness.mjs'

const cfg = JSON.parse(process.env.E2E_CONFIG ?? '{}')
const { context, page, steps, step, finish } = await openBrowser(cfg, { locale: 'en-US', tag: 'e2e api-keys' })
const result = { ok: false, steps, keyId: null, keyPrefix: null }
await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: cfg.baseUrl })
// English labels (the portal's default is Chinese; the language is remembered in localStorage)
await context.addInitScript(() => {
  if (!localStorage.getItem('wp.locale')) localStorage.setItem('wp.locale', 'en')
})

const testId = (id) => page.locator(`[data-testid="${id}"]`)
async function pickOption(text) {
  await page.locator('.n-base-select-menu:visible').first().waitFor()
  await page.locator('.n-base-select-menu:visible .n-base-select-option', { hasText: text }).first().click()
}
async function expectText(locator, text) {
  await locator.filter({ hasText: text }).first().waitFor({ state: 'visible' })
}
/** A call with a given key, as a machine makes it: the status and the problem's body. */
async function callWith(key, method, path, body) {
  const res = await fetch(cfg.baseUrl + path, {
    method,
    headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  const text = await res.text()
  return { status: res.status, body: text ? JSON.parse(text) : null }
}
function expectStatus(answer, status, what) {
  if (answer.status !== status) throw new Error(`${what}: HTTP ${answer.status} ${JSON.stringify(answer.body)}`)
}
async function signIn(token) {
  await page.goto(cfg.baseUrl + '/login')
  await testId('token-input').locator('input').fill(token)
  await testId('login-submit').click()
  await page.waitForURL(/\/workflows$/)
  await testId('me').waitFor()
}

let secret = null
const keyRow = () => page.locator('[data-testid="api-key-table"] tbody tr', { hasText: cfg.keyName })

try {
  await step('admin-nav', async () => {
    await signIn(cfg.token)
    await testId('nav-api-keys').click()
    await page.waitForURL(/\/admin\/api-keys$/)
    await testId('api-key-table').waitFor()
    await expectText(testId('api-key-table'), 'bootstrap') // the bootstrap admin key, made by the platform
  })

  await step('create-dialog', async () => {
    await testId('new-api-key').click()
    await testId('key-name').locator('input').fill(cfg.keyName)
    await testId('key-roles').click()
    await pickOption('publisher')
    await page.keyboard.press('Escape')
    await testId('key-scopes').click()
    await pickOption('workflows:read')
    await page.keyboard.press('Escape')
    await page.locator('[data-testid="key-expiry"] .n-radio', { hasText: '30 days' }).click()
  })

  await step('secret-shown-once', async () => {
    await testId('create-key').click()
    await testId('secret-warning').waitFor()
    secret = await testId('api-key-secret').locator('input').inputValue()
    if (!secret || secret.length < 40) throw new Error(`no secret shown: ${secret}`)
    await testId('copy-secret').click()
    await expectText(testId('copy-secret'), 'Copied')
    const clip = await page.evaluate(() => navigator.clipboard.readText())
    if (clip !== secret) throw new Error('the clipboard does not hold the secret')
    result.keyPrefix = secret.slice(0, 8)
  })

  await step('secret-gone', async () => {
    await testId('close-secret').click()
    await testId('api-key-dialog').waitFor({ state: 'hidden' })
    await keyRow().waitFor()
    if ((await page.content()).includes(secret)) throw new Error('the secret is still on the page after closing')
    await expectText(keyRow(), `${result.keyPrefix}…`)
    await expectText(keyRow(), 'workflows:read')
    await expectText(keyRow(), 'never') // not used yet
    await page.reload()
    await keyRow().waitFor()
    if ((await page.content()).includes(secret)) throw new Error('the secret came back with a reload')
  })

  await step('key-used-through-the-api', async () => {
    expectStatus(await callWith(secret, 'GET', '/api/v1/workflows'), 200, 'a read with the new key')
    const me = await callWith(secret, 'GET', '/api/v1/me')
    expectStatus(me, 200, '/me with the new key')
    if (me.body.name !== cfg.keyName) throw new Error(`the key acts as ${me.body.name}`)
    result.keyId = me.body.key_id
    // the role publisher allows it; the key's scopes (workflows:read) do not
    const outside = await callWith(secret, 'POST', '/api/v1/workflows/batch-run', { workflow_ids: [1] })
    expectStatus(outside, 403, 'a publish call outside the scope')
    if (outside.body.type !== '/problems/insufficient-scope' || outside.body.scope !== 'publish')
      throw new Error(`not the scope's refusal: ${JSON.stringify(outside.body)}`)
    await page.reload()
    await keyRow().waitFor()
    // its last use is in the list now (the "Last used" column is no longer "never")
    const cells = await keyRow().locator('td').allInnerTexts()
    if (cells.filter((c) => c.trim() === 'never').length) throw new Error(`last use not shown: ${cells.join(' | ')}`)
  })

  await step('revoke-confirm', async () => {
    await testId(`revoke-key-${result.keyId}`).click()
    await page.locator('.confirm-revoke-key').waitFor()
    await expectText(page.locator('.confirm-revoke-key'), `${result.keyPrefix}…`)
  })

  await step('revoked-and-refused', async () => {
    await page.locator('.confirm-revoke-key').getByRole('button', { name: 'Revoke' }).click()
    await keyRow().waitFor({ state: 'detached' }) // the list shows active and expired keys
    await testId('show-revoked').click()
    await expectText(testId(`key-status-${result.keyId}`), 'revoked')
    // refused at once by the gateway that revoked it (another gateway process: within GATEWAY_KEY_CACHE_TTL_S)
    const refused = await callWith(secret, 'GET', '/api/v1/workflows')
    expectStatus(refused, 401, 'the revoked key')
    if (refused.body.detail !== 'this API key has been revoked') throw new Error(JSON.stringify(refused.body))
  })

  await step('viewer-no-admin-screen', async () => {
    await testId('logout').click()
    await signIn(cfg.viewerToken)
    if (await testId('nav-api-keys').count()) throw new Error('a viewer sees the API keys in the navigation')
    await page.goto(cfg.baseUrl + '/admin/api-keys')
    await testId('api-keys-admin-only').waitFor()
    if (await testId('new-api-key').count()) throw new Error('a viewer sees the create button')
  })

  result.ok = true
} catch (e) {
  result.failed = String(e?.message ?? e)
} finally {
  await finish(result)
}
