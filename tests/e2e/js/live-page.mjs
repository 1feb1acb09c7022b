// Watch the local stack's live events page in headless Chromium (playwright-core, the system's chromium).
//
//   node live-page.mjs LIVE_URL
//
// Opens LIVE_URL and prints {"connected": true} once the page's event stream is open. Then
// reads one JSON object on stdin:
//   {"expect": [{"kind", "messageId", "outcome"}...], "open": {"kind", "messageId"},
//    "filter": {"type"?, "outcome"?, "text"?}}
// waits until the page lists every expected event with that outcome in an entry of that kind,
// clicks the "open" entry and its event (as a person would), applies each filter in turn, and
// prints one JSON object (``filtered``: the entries left visible by each filter):
//   {"found": bool, "entries": [{"kind", "outcome", "status", "events": [{"messageId", "outcome",
//    "consent", "why"}...]}...], "opened": "<the text shown for the clicked event>", "html", "text",
//    "pageErrors": [...], "console": [...]}

import { chromium } from 'playwright-core'
import { readFileSync } from 'node:fs'

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium'
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking']
const MAX_WAIT_MS = 45000

async function main() {
  const [liveUrl] = process.argv.slice(2)
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS })
  try {
    const page = await browser.newPage()
    const pageErrors = []
    const consoleMessages = []
    page.on('pageerror', (err) => pageErrors.push(String(err)))
    page.on('console', (msg) => consoleMessages.push({ type: msg.type(), text: msg.text() }))
    await page.goto(liveUrl, { waitUntil: 'load' })
    await page.waitForSelector('#connection[data-state="live"]', { timeout: 10000 })
    process.stdout.write(JSON.stringify({ connected: true }) + '\n')

    const { expect, open, filter } = JSON.parse(readFileSync(0, 'utf8'))
    const selector = (e) => `li.entry[data-kind="${e.kind}"] tr.event[data-message-id="${e.messageId}"][data-outcome="${e.outcome}"]`
    let found = false
    const deadline = Date.now() + MAX_WAIT_MS
    while (Date.now() < deadline) {
      const present = await Promise.all(expect.map((e) => page.locator(selector(e)).count()))
      if (present.every((n) => n > 0)) { found = true; break }
      await page.waitForTimeout(200)
    }

    let opened = ''
    if (found && open) {
      const entry = page.locator(`li.entry[data-kind="${open.kind}"]`, {
        has: page.locator(`tr.event[data-message-id="${open.messageId}"]`),
      }).first()
      await entry.locator('.row').click()
      const row = entry.locator(`tr.event[data-message-id="${open.messageId}"]`)
      await row.click()
      opened = await row.locator('xpath=following-sibling::tr[1]').innerText()
    }

    const entries = await page.$$eval('li.entry', (items) => items.map((li) => ({
      kind: li.dataset.kind,
      outcome: li.dataset.outcome,
      status: li.querySelector('.route .status')?.textContent ?? null,
      events: [...li.querySelectorAll('tr.event')].map((tr) => ({
        messageId: tr.dataset.messageId,
        outcome: tr.dataset.outcome,
        consent: tr.querySelector('td.consent')?.textContent ?? null,
        why: tr.lastElementChild.textContent,
      })),
    })))
    // The filters, as a person uses them: what stays visible for each.
    const visible = () => page.$$eval('li.entry:not([hidden])', (items) => items.map((li) => ({
      kind: li.dataset.kind,
      outcomes: [...li.querySelectorAll('tr.event')].map((tr) => tr.dataset.outcome),
      types: [...li.querySelectorAll('tr.event .badge.t')].map((b) => b.textContent),
      text: li.textContent,
    })))
    const filtered = {}
    for (const [name, value] of Object.entries(filter ?? {})) {
      if (name === 'text') await page.fill('#filter-text', value)
      else await page.selectOption(`#filter-${name}`, value)
      filtered[name] = await visible()
      if (name === 'text') await page.fill('#filter-text', '')
      else await page.selectOption(`#filter-${name}`, '')
    }

    const html = await page.content()
    const text = await page.evaluate(() => document.body.innerText)
    process.stdout.write(JSON.stringify({ found, entries, opened, filtered, html, text, pageErrors, console: consoleMessages }) + '\n')
  } finally {
    await browser.close()
  }
}

main().catch((err) => {
  console.error(err)
  process.exit(2)
})
