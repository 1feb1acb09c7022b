// The README's screenshot of the live events page: node screenshot-live.mjs LIVE_URL OUT.png
// (headless Chromium at 1280 px wide; the newest request entry opened, as a person would).

import { chromium } from 'playwright-core'

const [liveUrl, out] = process.argv.slice(2)
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--hide-scrollbars'],
})
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 760 }, deviceScaleFactor: 1 })
  await page.goto(liveUrl, { waitUntil: 'load' })
  await page.waitForSelector('li.entry')
  await page.waitForTimeout(500)
  const batch = page.locator('li.entry[data-kind="request"]', { hasText: '/v1/batch' }).first()
  await batch.locator('.row').click()
  await page.screenshot({ path: out, type: 'png' })
} finally {
  await browser.close()
}
