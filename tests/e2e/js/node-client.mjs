// Send Segment calls through the real @segment/analytics-node library.
//
//   node node-client.mjs API_BASE_URL WRITE_KEY ['[{"type": "track", "userId": "u1", "event": "E"}, ...]']
//
// The calls are a JSON array on argv[4] or, when it is absent, on stdin. Each call names the
// library method in `type` (identify, track, page, screen, group, alias); the rest of the object
// is what that method takes (userId, anonymousId, event, name, groupId, previousId, properties,
// traits, context, timestamp, messageId, ...).
//
// Prints one JSON object on stdout once the library has flushed and closed:
//   {"sent": [{"type", "messageId"}...],     the events the library dispatched successfully
//    "failed": [{"type", "messageId", "reason"}...],
//    "responses": [{"url", "status", "events"}...],   every HTTP request the library made
//    "requests": [{"url", "headers"}...]}
// and exits 1 if any call failed.

import { Analytics } from '@segment/analytics-node'
import { readFileSync } from 'node:fs'

const TYPES = new Set(['identify', 'track', 'page', 'screen', 'group', 'alias'])

function readCalls() {
  const text = process.argv[4] ?? readFileSync(0, 'utf8')
  const calls = JSON.parse(text)
  if (!Array.isArray(calls)) throw new Error('calls must be a JSON array')
  for (const call of calls) {
    if (!TYPES.has(call?.type)) throw new Error(`unknown call type: ${JSON.stringify(call?.type)}`)
  }
  return calls
}

async function main() {
  const [api, writeKey] = process.argv.slice(2, 4)
  if (!api || !writeKey) {
    console.error('usage: node node-client.mjs API_BASE_URL WRITE_KEY [CALLS_JSON]')
    process.exit(2)
  }
  const calls = readCalls()
  // analytics-node resolves `path` against `host`: an API under a path (a CloudFront front door's
  // prefix) goes into `path`.
  const base = new URL(api)
  const analytics = new Analytics({
    writeKey,
    host: base.origin,
    path: base.pathname.replace(/\/$/, '') + '/v1/batch',
    flushAt: 3,
    flushInterval: 200,
    maxRetries: 3,
    httpRequestTimeout: 10000,
  })

  const sent = []
  const failed = []
  const responses = []
  const requests = []
  for (const type of TYPES) {
    analytics.on(type, (ctx) => sent.push({ type, messageId: ctx.event.messageId }))
  }
  analytics.on('error', (err) =>
    failed.push({
      type: err.ctx?.event?.type,
      messageId: err.ctx?.event?.messageId,
      reason: String(err.reason ?? err.code),
    })
  )
  analytics.on('http_request', (req) => {
    const headers = { ...req.headers }
    if (headers.Authorization) headers.Authorization = '<redacted>'
    requests.push({ url: req.url, headers })
  })
  analytics.on('http_response', (res) =>
    responses.push({ url: res.url, status: res.status, events: JSON.parse(res.body).batch.length })
  )

  for (const { type, ...args } of calls) {
    analytics[type](args)
  }
  await analytics.closeAndFlush({ timeout: 30000 })

  process.stdout.write(JSON.stringify({ sent, failed, responses, requests }) + '\n')
  process.exitCode = failed.length || sent.length !== calls.length ? 1 : 0
}

main().catch((err) => {
  console.error(err)
  process.exit(2)
})
