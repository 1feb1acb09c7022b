// analytics-next on a page served from the API's own origin, in headless Chromium, with the consent
// platform's cookie in the browser: does each beacon carry it, as a visitor's choices change?
//
//   node first-party-consent.mjs PAGE_URL API_BASE_URL WRITE_KEY
//
// Reads on stdin a JSON list of steps [{"cookie": {"name", "value"}, "gpc": bool, "event": "Name"}]:
// for each, the browser's cookie is set as the consent platform writes it (for the page's own
// host), Sec-GPC: 1 is sent or not, and analytics-next tracks the event. Prints one JSON object:
// {"steps": [{"event", "messageId", "failed"}], "posts": [{"url", "status", "cookie", "gpc"}],
//  "pageErrors": [...], "console": [...]}.

import { chromium } from 'playwright-core'
import { readFileSync } from 'node:fs'

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium'
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking']

async function quiet(pending, ms = 800, max = 20000) {
  const deadline = Date.now() + max
  while (Date.now() < deadline) {
    if (pending.size === 0 && Date.now() - pending.last >= ms) return
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

async function main() {
  const [pageUrl, api, writeKey] = process.argv.slice(2, 5)
  if (!pageUrl || !api || !writeKey) {
    console.error('usage: node first-party-consent.mjs PAGE_URL API_BASE_URL WRITE_KEY < steps.json')
    process.exit(2)
  }
  const steps = JSON.parse(readFileSync(0, 'utf8'))
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS })
  try {
    const context = await browser.newContext()
    const page = await context.newPage()
    const consoleMessages = []
    const pageErrors = []
    page.on('console', (msg) => consoleMessages.push({ type: msg.type(), text: msg.text() }))
    page.on('pageerror', (err) => pageErrors.push(String(err)))
    const pending = new Set()
    pending.last = Date.now()
    const posts = []
    page.on('request', (r) => {
      if (r.url().startsWith(api)) {
        pending.add(r)
        pending.last = Date.now()
      }
    })
    const settle = (r) => {
      pending.delete(r)
      pending.last = Date.now()
    }
    page.on('requestfinished', async (r) => {
      if (r.url().startsWith(api) && r.method() === 'POST' && !r.url().endsWith('/v1/m')) {
        const headers = await r.allHeaders()
        const response = await r.response()
        posts.push({ url: r.url(), status: response?.status(), cookie: headers.cookie ?? null, gpc: headers['sec-gpc'] ?? null })
      }
      settle(r)
    })
    page.on('requestfailed', settle)

    await page.goto(pageUrl, { waitUntil: 'load' })
    await page.evaluate((cfg) => window.loadAnalytics(cfg), { api, writeKey, strategy: 'standard' })
    const done = []
    for (const step of steps) {
      // As the consent platform's script writes it: for the page's host, the whole site's path.
      await context.addCookies([{ name: step.cookie.name, value: step.cookie.value, url: pageUrl }])
      await page.setExtraHTTPHeaders(step.gpc ? { 'Sec-GPC': '1' } : {})
      const [result] = await page.evaluate((c) => window.runCalls(c), [{ type: 'track', args: [step.event] }])
      await quiet(pending)
      done.push({ event: step.event, messageId: result.messageId, failed: result.failed })
    }
    await context.close()
    process.stdout.write(JSON.stringify({ steps: done, posts, console: consoleMessages, pageErrors }) + '\n')
  } finally {
    await browser.close()
  }
}

main().catch((err) => {
  console.error(err)
  process.exit(2)
})
