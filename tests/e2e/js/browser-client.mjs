// Drive @segment/analytics-next in headless Chromium (playwright-core, the system's chromium).
//
//   node browser-client.mjs PAGE_URL API_BASE_URL WRITE_KEY STRATEGY ['[{"type", "args": [...]}...]']
//
// Opens PAGE_URL (the test page in page/, served from another origin than the API), loads
// analytics-next pointed at API_BASE_URL with STRATEGY ('standard' | 'batching'), makes the
// calls (a JSON array on argv[6] or stdin: analytics[type](...args)), waits until the network
// to the API is quiet, and prints one JSON object on stdout:
//   {"version", "userAgent",
//    "results": [{"type", "messageId", "failed"}...],        from the returned Context objects
//    "network": [{"id", "url", "method", "type", "initiator", "preflightFor", "status",
//                 "requestHeaders", "responseHeaders", "error", "corsError", "finished"}...],
//                                                every request, CORS preflights included
//    "console": [{"type", "text"}...], "pageErrors": [...]}
//
// Nothing is intercepted (Playwright answers CORS preflights itself when routing is on): the
// browser talks to the real servers, and the Chrome DevTools Protocol's Network domain reports
// what it did, preflights included (initiator type "preflight", naming the request they were for).

import { chromium } from 'playwright-core'
import { readFileSync } from 'node:fs'

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium'
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
]
const QUIET_MS = 800
const MAX_WAIT_MS = 20000

function lower(headers) {
  return Object.fromEntries(Object.entries(headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]))
}

async function main() {
  const [pageUrl, api, writeKey, strategy] = process.argv.slice(2, 6)
  if (!pageUrl || !api || !writeKey || !['standard', 'batching'].includes(strategy)) {
    console.error('usage: node browser-client.mjs PAGE_URL API_BASE_URL WRITE_KEY standard|batching [CALLS_JSON]')
    process.exit(2)
  }
  const calls = JSON.parse(process.argv[6] ?? readFileSync(0, 'utf8'))

  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS })
  try {
    const context = await browser.newContext()
    const page = await context.newPage()
    const consoleMessages = []
    const pageErrors = []
    page.on('console', (msg) => consoleMessages.push({ type: msg.type(), text: msg.text() }))
    page.on('pageerror', (err) => pageErrors.push(String(err)))

    const requests = new Map()
    let lastActivity = Date.now()
    const entry = (id) => {
      lastActivity = Date.now()
      if (!requests.has(id)) requests.set(id, { id, finished: false })
      return requests.get(id)
    }
    const cdp = await context.newCDPSession(page)
    cdp.on('Network.requestWillBeSent', (e) => {
      const r = entry(e.requestId)
      Object.assign(r, {
        url: e.request.url,
        method: e.request.method,
        type: e.type,
        // A CORS preflight names the request it was made for.
        initiator: e.initiator?.type ?? null,
        preflightFor: e.initiator?.type === 'preflight' ? e.initiator.requestId ?? null : null,
        requestHeaders: { ...lower(e.request.headers), ...r.requestHeaders },
      })
    })
    cdp.on('Network.requestWillBeSentExtraInfo', (e) => {
      // The headers as they went on the wire (cookies, Origin, ... included).
      const r = entry(e.requestId)
      r.requestHeaders = { ...r.requestHeaders, ...lower(e.headers) }
    })
    cdp.on('Network.responseReceived', (e) => {
      const r = entry(e.requestId)
      r.status = e.response.status
      r.responseHeaders = { ...lower(e.response.headers), ...r.responseHeaders }
    })
    cdp.on('Network.responseReceivedExtraInfo', (e) => {
      const r = entry(e.requestId)
      r.status = r.status ?? e.statusCode
      r.responseHeaders = { ...r.responseHeaders, ...lower(e.headers) }
    })
    cdp.on('Network.loadingFinished', (e) => {
      entry(e.requestId).finished = true
    })
    cdp.on('Network.loadingFailed', (e) => {
      const r = entry(e.requestId)
      Object.assign(r, { finished: true, error: e.errorText, corsError: e.corsErrorStatus ?? null })
      if (e.type) r.type = r.type ?? e.type
    })
    await cdp.send('Network.enable')

    await page.goto(pageUrl, { waitUntil: 'load' })
    const { version } = await page.evaluate((cfg) => window.loadAnalytics(cfg), { api, writeKey, strategy })
    const results = await page.evaluate((c) => window.runCalls(c), calls)

    // Wait until every request to the API has finished and nothing new happened for a while.
    const deadline = Date.now() + MAX_WAIT_MS
    for (;;) {
      const pending = [...requests.values()].filter((r) => !r.finished && (r.url ?? '').startsWith(api))
      if (!pending.length && Date.now() - lastActivity >= QUIET_MS) break
      if (Date.now() > deadline) break
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    const userAgent = await page.evaluate(() => navigator.userAgent)
    await context.close()

    const network = [...requests.values()]
    process.stdout.write(
      JSON.stringify({ version, userAgent, results, network, console: consoleMessages, pageErrors }) + '\n'
    )
  } finally {
    await browser.close()
  }
}

main().catch((err) => {
  console.error(err)
  process.exit(2)
})
