// Test page helpers, driven by browser-client.mjs through page.evaluate().
//
// window.loadAnalytics({api, writeKey, strategy, stores}) loads @segment/analytics-next with
// settings given inline (nothing is fetched from Segment's CDN) and the Segment.io destination
// pointed at the edge's API (`api`, e.g. http://127.0.0.1:3000, or a path under a site such as
// http://localhost:3000/mr). strategy is 'standard' (one text/plain POST per event to /v1/i,
// /v1/t, ...) or 'batching' (POSTs to /v1/b). Without `stores` nothing is kept on the client;
// with it (['localStorage', 'cookie'], ...) analytics-next keeps its identity there.
//
// window.runCalls([{type, args}]) calls analytics[type](...args) for each and resolves to
// [{type, messageId, failed}] from the returned Context objects.
;(function () {
  'use strict'

  let analytics = null

  window.loadAnalytics = async function ({ api, writeKey, strategy, stores }) {
    const url = new URL(api)
    const segmentio = {
      apiKey: writeKey,
      apiHost: url.host + url.pathname.replace(/\/$/, '') + '/v1',
      protocol: url.protocol.replace(':', ''),
      deliveryStrategy:
        strategy === 'batching'
          ? { strategy: 'batching', config: { size: 10, timeout: 300 } }
          : { strategy: 'standard' },
    }
    const [instance] = await window.AnalyticsNext.AnalyticsBrowser.load(
      {
        writeKey,
        // Lazily loaded chunks come from this page's server, never from cdn.segment.com.
        cdnURL: window.location.origin,
        cdnSettings: {
          integrations: { 'Segment.io': segmentio },
          // Client telemetry goes to /v1/m on the edge (which answers it without queueing).
          metrics: { sampleRate: 1, flushTimer: 250 },
        },
      },
      {
        // The Segment.io settings as init options too: they also route telemetry to the edge.
        integrations: { 'Segment.io': segmentio },
        disableClientPersistence: !stores,
        ...(stores ? { storage: { stores } } : {}),
        retryQueue: true,
      }
    )
    analytics = instance
    return { version: instance.VERSION }
  }

  window.anonymousId = function () {
    return analytics.user().anonymousId()
  }

  window.runCalls = async function (calls) {
    if (!analytics) throw new Error('call loadAnalytics first')
    const results = []
    for (const { type, args } of calls) {
      const ctx = await analytics[type](...args)
      const failed = ctx.failedDelivery()
      results.push({
        type: ctx.event.type,
        messageId: ctx.event.messageId,
        failed: failed ? String(failed.reason) : null,
      })
    }
    return results
  }
})()
