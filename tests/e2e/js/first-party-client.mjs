// analytics-next on a page served from the same origin as the API (under a path prefix), in
// headless Chromium: does the anonymousId come back from the edge's own cookie?
//
//   node first-party-client.mjs PAGE_URL API_BASE_URL WRITE_KEY
//
// 1. Opens PAGE_URL with analytics-next keeping its identity in localStorage only (it writes no
//    cookie itself), sends a page and a track event, and waits for the API to go quiet.
// 2. Reads the browser's cookies: any ajs_anonymous_id is the edge's Set-Cookie.
// 3. Clears localStorage (what Safari does to script-written storage after 7 days), reloads,
//    loads analytics-next as sites do (localStorage and cookies), sends a track event.
// Prints one JSON object: {"first": {anonymousId, messageIds}, "cookies": [...],
// "second": {anonymousId, messageIds}, "posts": [{url, status, setCookie}], "now": <epoch s>,
// "console": [...], "pageErrors": [...]}.

import { chromium } from 'playwright-core'

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium'
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking']

async function quiet(pending, ms = 800, max = 20000) {
  const deadline = Date.now() + max
  while (Date.now() < deadline) {
    if (pending.size === 0 && Date.now() - pending.last >= ms) return
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

async function visit(page, config, calls) {
  await page.evaluate((cfg) => window.loadAnalytics(cfg), config)
  const results = await page.evaluate((c) => window.runCalls(c), calls)
  const anonymousId = await page.evaluate(() => window.anonymousId())
  return { anonymousId, messageIds: results.map((r) => r.messageId), failed: results.map((r) => r.failed) }
}

async function main() {
  const [pageUrl, api, writeKey] = process.argv.slice(2, 5)
  if (!pageUrl || !api || !writeKey) {
    console.error('usage: node first-party-client.mjs PAGE_URL API_BASE_URL WRITE_KEY')
    process.exit(2)
  }
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
      if (r.url().startsWith(api) && r.method() === 'POST') {
        const response = await r.response()
        posts.push({ url: r.url(), status: response?.status(), setCookie: (await response?.headerValue('set-cookie')) ?? null })
      }
      settle(r)
    })
    page.on('requestfailed', settle)

    await page.goto(pageUrl, { waitUntil: 'load' })
    const base = { api, writeKey, strategy: 'standard' }
    const first = await visit(page, { ...base, stores: ['localStorage'] }, [
      { type: 'page', args: ['Docs', 'First visit'] },
      { type: 'track', args: ['First Visit'] },
    ])
    await quiet(pending)
    const cookies = await context.cookies()

    await page.evaluate(() => window.localStorage.clear())
    await page.reload({ waitUntil: 'load' })
    const second = await visit(page, { ...base, stores: ['localStorage', 'cookie'] }, [
      { type: 'track', args: ['Came Back'] },
    ])
    await quiet(pending)
    await context.close()
    process.stdout.write(
      JSON.stringify({
        first,
        cookies,
        second,
        posts,
        now: Date.now() / 1000,
        console: consoleMessages,
        pageErrors,
      }) + '\n'
    )
  } finally {
    await browser.close()
  }
}

main().catch((err) => {
  console.error(err)
  process.exit(2)
})
