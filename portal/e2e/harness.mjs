// What every browser scenario of portal/e2e needs: the system's Chromium through playwright-core (a fresh temporary
// profile per launch), a page whose console errors are collected, and `step(name, fn)`, which screenshots each step
// (NN-step.png; NN-step-FAILED.png when it fails) and records it in `steps`, and `finish(result)`, which prints the
// scenario's JSON summary as its last line on stdout.
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { chromium } from 'playwright-core'

/** A browser on cfg.chromium with one page (1440×900, `locale`); screenshots go to cfg.outDir. */
export async function openBrowser(cfg, { locale = 'zh-CN', tag = 'e2e' } = {}) {
  mkdirSync(cfg.outDir, { recursive: true })
  const log = (msg) => process.stderr.write(`[${tag}] ${msg}\n`)
  const browser = await chromium.launch({
    executablePath: cfg.chromium,
    headless: true,
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
  const context = await browser.newContext({ viewport: { width: 1440, height: 900 }, locale })
  const page = await context.newPage()
  page.setDefaultTimeout(20_000)
  const consoleErrors = []
  page.on('console', (m) => {
    if (m.type() === 'error') consoleErrors.push(m.text())
  })
  page.on('pageerror', (e) => consoleErrors.push(String(e)))

  const steps = []
  let n = 0
  async function step(name, fn) {
    n += 1
    const file = `${String(n).padStart(2, '0')}-${name}`
    const started = Date.now()
    log(`step ${file}`)
    try {
      await fn()
      await page.waitForTimeout(350) // let transitions settle before the screenshot
      await page.screenshot({ path: join(cfg.outDir, `${file}.png`), fullPage: true })
      steps.push({ name, ok: true, ms: Date.now() - started, screenshot: `${file}.png` })
    } catch (e) {
      await page.screenshot({ path: join(cfg.outDir, `${file}-FAILED.png`), fullPage: true }).catch(() => {})
      steps.push({ name, ok: false, ms: Date.now() - started, screenshot: `${file}-FAILED.png`, error: String(e?.stack ?? e) })
      throw e
    }
  }
  /** Close the browser, print the summary (`result` with the first console errors) as the last line on stdout and
   *  exit (1 unless `result.ok`). */
  async function finish(result) {
    result.consoleErrors = consoleErrors.slice(0, 20)
    await browser.close()
    process.stdout.write(JSON.stringify(result) + '\n')
    process.exit(result.ok ? 0 : 1)
  }
  return { browser, context, page, consoleErrors, steps, step, log, finish }
}
