// The live events page: entries arrive over server-sent events from /events, newest first.
// Everything is built with textContent: nothing a client sent is ever parsed as HTML.
'use strict'

const MAX_SHOWN = 1000 // entries kept on the page (the server keeps its own ring)
const KINDS = { request: 'API', upstream: 'MetaRouter', batch: 'Forwarder', 'dead-letter': 'Dead letter' }
const entries = [] // newest last
const forwarded = new Map() // messageId -> the event as the upstream received it
let hiddenBefore = 0

const $ = (id) => document.getElementById(id)
const filters = { type: $('filter-type'), outcome: $('filter-outcome'), text: $('filter-text') }

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag)
  for (const [key, value] of Object.entries(attrs)) {
    if (key === 'class') node.className = value
    else if (key.startsWith('data-')) node.setAttribute(key, value)
    else node[key] = value
  }
  for (const child of children) {
    if (child !== null && child !== undefined) node.append(child)
  }
  return node
}

const badge = (text, cls) => el('span', { class: `badge ${cls}` }, text)
const nameOf = (e) => e.event || e.name || e.groupId || e.previousId || ''
const whoOf = (e) => (e.userId ? `userId ${e.userId}` : e.anonymousId ? `anonymousId ${e.anonymousId}` : '')
const plural = (n, word) => `${n} ${word}${n === 1 ? '' : 's'}`
const clock = (t) => new Date(t * 1000).toLocaleTimeString([], { hour12: false })
const PLAN = {
  observe: 'Tracking plan (observe): violations are counted; events are forwarded unchanged.',
  flag: 'Tracking plan (flag): events are forwarded with their violations in context.violations.',
  omit: 'Tracking plan (omit): events are forwarded with their violations in context.violations, unplanned properties removed.',
  block: 'Tracking plan (block): events with violations are answered 200 and held in the quarantine queue, never forwarded.'
}
const violationList = (list) => el('ul', { class: 'violations' }, ...list.map((v) => el('li', {}, `${v.kind} ${v.path}: ${v.message}`)))

function outcomes(entry) {
  const counts = new Map()
  for (const e of entry.events) counts.set(e.outcome, (counts.get(e.outcome) || 0) + 1)
  if (!counts.size) counts.set(entry.outcome, 0)
  const shown = [...counts].map(([o, n]) => badge(n > 1 || entry.events.length > 1 ? `${n} ${o}` : o, `o-${o}`))
  const flagged = entry.events.filter((e) => e.violations?.length && e.outcome !== 'blocked').length
  if (flagged) shown.push(badge(`${flagged} with violations`, 'o-violations'))
  return shown
}

function headline(entry) {
  const events = entry.events
  const first = events.slice(0, 3).map((e) => `${e.type}${nameOf(e) ? ' ' + nameOf(e) : ''}`)
  let text = first.join(', ') + (events.length > 3 ? ` +${events.length - 3} more` : '')
  if (entry.kind === 'batch') text = `${plural(entry.messages, 'message')}, ${plural(events.length, 'event')}` + (text ? ` · ${text}` : '')
  if (entry.kind === 'dead-letter') text = `${entry.reason}` + (text ? ` · ${text}` : '')
  if (!text && entry.error) text = `${entry.error.code || ''} ${entry.error.message}`.trim()
  const who = events.length === 1 ? whoOf(events[0]) : ''
  return el('span', { class: 'summary' }, text || '—', who ? el('span', { class: 'who' }, who) : null)
}

function routeCell(entry) {
  const route = entry.route ? `${entry.method ? entry.method + ' ' : ''}${entry.route}` : ''
  return el('span', { class: 'route' }, route, entry.status ? el('span', { class: 'status' }, String(entry.status)) : null)
}

function eventBody(entry, e) {
  const body = e.body || (e.messageId && forwarded.get(e.messageId))
  if (body) return el('pre', { class: 'json' }, JSON.stringify(body, null, 2))
  if (e.outcome === 'rejected') return el('p', { class: 'note' }, 'Rejected at ingest: never forwarded.')
  if (e.outcome === 'dropped') return el('p', { class: 'note' }, `Dropped at ingest (${e.reason}): answered 200, never forwarded.`)
  if (e.outcome === 'blocked') return el('p', { class: 'note' }, 'Blocked by the tracking plan: answered 200, held in the quarantine queue with its violations, never forwarded.')
  return el('p', { class: 'note' }, 'Not forwarded yet: the event as forwarded appears here once MetaRouter has it.')
}

function details(entry) {
  const box = el('div', { class: 'details' })
  if (entry.error) box.append(el('p', { class: 'error-line' }, `${entry.error.code ? entry.error.code + ': ' : ''}${entry.error.message}`))
  if (entry.detail) box.append(el('p', { class: 'error-line' }, entry.detail))
  if (entry.note) box.append(el('p', { class: 'note' }, entry.note))
  if (PLAN[entry.plan]) box.append(el('p', { class: 'note' }, PLAN[entry.plan]))
  if (entry.kind === 'batch') {
    box.append(el('p', { class: 'note' }, `${plural(entry.messages, 'SQS message')}; ${entry.redelivered} left for SQS to redeliver.`))
  }
  if (!entry.events.length) return box
  const table = el('table', {}, el('thead', {}, el('tr', {},
    ...['#', 'type', 'name', 'user', 'messageId', 'outcome', 'consent', 'why'].map((h) => el('th', {}, h)))))
  const body = el('tbody')
  entry.events.forEach((e, index) => {
    const why = e.errors?.length
      ? el('ul', { class: 'errors' }, ...e.errors.map((x) => el('li', {}, `${x.field || '(event)'}: ${x.message}`)))
      : e.violations?.length
        ? violationList(e.violations)
        : e.reason || (e.status && e.status !== entry.status ? `status ${e.status}` : '')
    const row = el('tr', { class: 'event', 'data-message-id': e.messageId || '', 'data-outcome': e.outcome || '' },
      el('td', {}, String(index)), el('td', {}, badge(e.type, 't')), el('td', {}, nameOf(e)),
      el('td', { class: 'mono' }, e.userId || e.anonymousId || ''), el('td', { class: 'mono' }, e.messageId || ''),
      el('td', {}, badge(e.outcome, `o-${e.outcome}`)), el('td', { class: 'consent' }, e.consent || ''), el('td', {}, why))
    const more = el('tr', { class: 'json-row', hidden: true }, el('td', { colSpan: 8 }))
    row.addEventListener('click', (ev) => {
      ev.stopPropagation()
      more.hidden = !more.hidden
      if (!more.hidden) more.firstChild.replaceChildren(eventBody(entry, e))
    })
    body.append(row, more)
  })
  table.append(body)
  box.append(table)
  return box
}

function render(entry) {
  const item = el('li', { class: 'entry', 'data-kind': entry.kind, 'data-outcome': entry.outcome, 'data-id': String(entry.id) })
  const row = el('div', { class: 'row' },
    el('span', { class: 'time' }, clock(entry.time)),
    el('span', { class: 'kind' }, KINDS[entry.kind] || entry.kind),
    routeCell(entry), headline(entry), el('span', {}, ...outcomes(entry)))
  row.addEventListener('click', () => item.classList.toggle('open'))
  item.append(row, details(entry))
  entry.search = JSON.stringify(entry).toLowerCase()
  entry.node = item
  return item
}

function matches(entry) {
  const type = filters.type.value
  const outcome = filters.outcome.value
  const text = filters.text.value.trim().toLowerCase()
  if (entry.id <= hiddenBefore) return false
  if (type && !entry.events.some((e) => e.type === type)) return false
  if (outcome && entry.outcome !== outcome && !entry.events.some((e) => e.outcome === outcome)) return false
  return !text || entry.search.includes(text)
}

function refresh() {
  let shown = 0
  for (const entry of entries) {
    entry.node.hidden = !matches(entry)
    if (!entry.node.hidden) shown++
  }
  $('count').textContent = `${shown} of ${entries.length}`
  $('empty').hidden = entries.length > 0
}

function add(entry) {
  if (entry.kind === 'upstream') {
    for (const e of entry.events) if (e.messageId && e.body && e.outcome === 'forwarded') forwarded.set(e.messageId, e.body)
  }
  entries.push(entry)
  $('entries').prepend(render(entry))
  entry.node.hidden = !matches(entry)
  while (entries.length > MAX_SHOWN) entries.shift().node.remove()
  if (forwarded.size > MAX_SHOWN * 10) forwarded.delete(forwarded.keys().next().value)
  $('count').textContent = `${entries.filter((x) => !x.node.hidden).length} of ${entries.length}`
  $('empty').hidden = true
}

for (const input of Object.values(filters)) input.addEventListener('input', refresh)
$('clear').addEventListener('click', () => {
  hiddenBefore = entries.length ? entries[entries.length - 1].id : hiddenBefore
  refresh()
})

const stream = new EventSource('/events')
const connection = $('connection')
stream.onopen = () => { connection.dataset.state = 'live'; connection.textContent = 'live' }
stream.onerror = () => { connection.dataset.state = 'connecting'; connection.textContent = 'reconnecting…' }
stream.onmessage = (message) => add(JSON.parse(message.data))
refresh()
