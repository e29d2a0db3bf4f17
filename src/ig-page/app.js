/* global document, fetch, URL, URLSearchParams */
// The IG lead's page (/ig): plain browser JavaScript, no framework, no build.
// It reads the IG lead's JSON APIs on the same origin with the HttpOnly
// session cookie: /audit/checkpoint and /audit/verify (integrity),
// /audit/report/* (disclosures and denials), /audit/alerts (awaiting review)
// and /fhir/AuditEvent (one child's history). Everything from the hub is
// written with textContent or as attributes, never as HTML.

const NHS_NUMBER_SYSTEM = 'https://fhir.nhs.uk/Id/nhs-number';
const SVG_NS = 'http://www.w3.org/2000/svg';
const FLOW_COLOURS = 8;
const HISTORY_PAGE_LIMIT = 20;

const byId = (id) => {
  const node = document.getElementById(id);
  if (node === null) throw new Error(`the page has no #${id}`);
  return node;
};

/** An element with attributes and children; strings become text nodes. */
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  setAttributes(node, attrs);
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    node.append(typeof child === 'string' || typeof child === 'number' ? String(child) : child);
  }
  return node;
}

function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  setAttributes(node, attrs);
  for (const child of children) node.append(child);
  return node;
}

function setAttributes(node, attrs) {
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    node.setAttribute(name, value === true ? '' : String(value));
  }
}

function unavailable(message) {
  return el('p', { class: message === 'not available' ? 'unavailable' : 'problem' }, message === 'not available' ? 'Not available on this hub yet.' : message);
}

function when(iso) {
  if (typeof iso !== 'string') return '';
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return date.toLocaleString('en-GB', { dateStyle: 'medium', timeStyle: 'medium', timeZone: 'Europe/London' });
}

function timeEl(iso) {
  return el('time', { datetime: iso }, when(iso));
}

function table(caption, headings, rows, testid) {
  return el(
    'table',
    { 'data-testid': testid },
    el('caption', {}, caption),
    el('thead', {}, el('tr', {}, headings.map((h) => el('th', { scope: 'col', class: h.num === true ? 'num' : undefined }, h.label)))),
    el('tbody', {}, rows),
  );
}

// ---------------------------------------------------------------------------
// Talking to the hub.

/** Signed out (401 anywhere): the data sections go, the sign-in notice shows. */
function signedOut() {
  byId('dashboard').hidden = true;
  byId('signed-out').hidden = false;
  const signOut = document.querySelector('form.sign-out');
  if (signOut !== null) signOut.hidden = true;
}

function problemText(body) {
  const issues = body !== null && typeof body === 'object' && Array.isArray(body.issue) ? body.issue : [];
  const texts = issues.map((i) => (typeof i.diagnostics === 'string' ? i.diagnostics : String(i.code ?? ''))).filter((t) => t !== '');
  return texts.length > 0 ? texts.join('; ') : undefined;
}

/** GET or POST on the hub; JSON either way. A 404 is "not available" (an API this hub does not have yet). */
async function api(url, init = {}) {
  let res;
  try {
    res = await fetch(url, { credentials: 'same-origin', ...init, headers: { Accept: 'application/json', ...(init.headers ?? {}) } });
  } catch (err) {
    return { ok: false, status: 0, message: `the hub did not answer (${err instanceof Error ? err.message : String(err)})` };
  }
  const text = await res.text();
  let body;
  try {
    body = text === '' ? undefined : JSON.parse(text);
  } catch {
    body = undefined;
  }
  if (res.ok) return { ok: true, status: res.status, body };
  if (res.status === 401) signedOut();
  const message = res.status === 404 ? 'not available' : (problemText(body) ?? `the hub answered ${res.status}`);
  return { ok: false, status: res.status, message };
}

// ---------------------------------------------------------------------------
// (a) Integrity: the latest signed checkpoint, and verifying the log now.

/** The last verification this page ran: { at, treeSize, checkpointsChecked, ok }. */
let lastVerified;

async function loadCheckpoint() {
  renderCheckpoint(await api('/audit/checkpoint'));
}

/** The integrity panel: the checkpoint answered (GET, or POST after a verification), and the last verification. */
function renderCheckpoint(r) {
  const box = byId('checkpoint');
  if (!r.ok) {
    box.replaceChildren(el('p', {}, 'Latest checkpoint: '), unavailable(r.message));
    return;
  }
  const c = r.body ?? {};
  box.replaceChildren(
    el('h3', {}, 'Latest signed checkpoint'),
    el(
      'dl',
      { class: 'facts' },
      el('dt', {}, 'Entries'),
      el('dd', { 'data-testid': 'checkpoint-size' }, String(c.treeSize ?? '')),
      el('dt', {}, 'Signed at'),
      el('dd', { 'data-testid': 'checkpoint-issued' }, timeEl(c.issued)),
      el('dt', {}, 'Root hash'),
      el('dd', {}, el('code', { 'data-testid': 'checkpoint-root' }, String(c.rootHash ?? ''))),
      el('dt', {}, 'Log'),
      el('dd', {}, String(c.origin ?? '')),
      el('dt', {}, 'Last verified'),
      el(
        'dd',
        { 'data-testid': 'checkpoint-verified', class: lastVerified === undefined ? 'muted' : lastVerified.ok ? 'ok' : 'problem' },
        lastVerified === undefined
          ? 'Not yet from this page: use Verify now.'
          : [timeEl(lastVerified.at), lastVerified.ok ? `: ${lastVerified.treeSize} entries intact, ${plural(lastVerified.checkpointsChecked, 'checkpoint')} matched` : ': FAILED'],
      ),
    ),
    typeof c.note === 'string'
      ? el('details', {}, el('summary', {}, 'The signed note (keep a copy outside the hub)'), el('pre', { class: 'note', 'data-testid': 'checkpoint-note' }, c.note),
        typeof c.verifierKey === 'string' ? el('p', {}, 'Verifier key: ', el('code', {}, c.verifierKey)) : null)
      : null,
  );
}

/**
 * Verify now: the whole stored log against every signed checkpoint; then, if it
 * is intact, a checkpoint of the log as it stands is signed (the one to keep)
 * and the panel shows it, so what the panel says and what was verified agree.
 */
async function verifyNow() {
  const button = byId('verify');
  const out = byId('verify-result');
  button.disabled = true;
  out.className = '';
  out.textContent = 'Verifying the whole log…';
  try {
    const r = await api('/audit/verify', { method: 'POST' });
    if (!r.ok) {
      out.className = r.message === 'not available' ? 'unavailable' : 'problem';
      out.textContent = r.message === 'not available' ? 'Verification is not available on this hub yet.' : `Could not verify: ${r.message}`;
      await loadCheckpoint();
      return;
    }
    const v = r.body ?? {};
    lastVerified = { at: new Date().toISOString(), ok: v.ok === true, treeSize: v.treeSize, checkpointsChecked: v.checkpointsChecked };
    if (v.ok === true) {
      out.className = 'ok';
      out.textContent = `Log verified: ${v.treeSize} entries, ${plural(v.checkpointsChecked, 'checkpoint')}`;
      // Signing can be refused (a log the hub will not sign over answers 409): the latest checkpoint then.
      const signed = await api('/audit/checkpoint', { method: 'POST' });
      if (signed.ok) renderCheckpoint(signed);
      else await loadCheckpoint();
    } else {
      out.className = 'problem';
      const at = v.index === undefined ? '' : ` at index ${v.index}`;
      out.textContent = `Log FAILED${at}: ${v.problem ?? 'unknown problem'}${v.detail === undefined ? '' : ` (${v.detail})`}`;
      await loadCheckpoint();
    }
  } finally {
    button.disabled = false;
  }
}

/** "1 checkpoint", "3 checkpoints". */
function plural(n, noun, nouns = `${noun}s`) {
  return `${n} ${Number(n) === 1 ? noun : nouns}`;
}

// ---------------------------------------------------------------------------
// (b) Disclosures over time, (c) denials: the monthly reports.

/** Organisation code → { name, type } from the hub's registry (/audit/organisations), and the hub's own code. */
const organisations = new Map();
let hubCode = 'EYHUB';

async function loadOrganisations() {
  const r = await api('/audit/organisations');
  if (!r.ok) return;
  for (const o of Array.isArray(r.body?.organisations) ? r.body.organisations : []) organisations.set(String(o.code), { name: String(o.name ?? ''), type: String(o.type ?? '') });
  if (typeof r.body?.hub === 'string') hubCode = r.body.hub;
}

/** "Ocean Children's Centre (CC-OCEAN)": the registry's name and the code; the code alone if the registry has no name. */
function organisationLabel(code, nameFromRow) {
  if (code === undefined || code === null || code === '') return 'unknown organisation';
  const name = organisations.get(String(code))?.name || nameFromRow;
  return name ? `${name} (${code})` : String(code);
}

function monthOf(date) {
  return `${date.getUTCFullYear()}-${String(date.getUTCMonth() + 1).padStart(2, '0')}`;
}

/** Every month from `from` to `to` (YYYY-MM), at most five years. */
function monthsBetween(from, to) {
  const months = [];
  const [fy, fm] = from.split('-').map(Number);
  const cursor = new Date(Date.UTC(fy, fm - 1, 1));
  while (monthOf(cursor) <= to && months.length < 60) {
    months.push(monthOf(cursor));
    cursor.setUTCMonth(cursor.getUTCMonth() + 1);
  }
  return months;
}

const MONTH_NAMES = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** 2026-03 → "Mar 26", for the chart's axis. */
function shortMonth(month) {
  const [year, m] = month.split('-');
  return `${MONTH_NAMES[Number(m) - 1] ?? m} ${year.slice(2)}`;
}

function partnerName(row) {
  return organisationLabel(row.organisationCode, row.organisationName);
}

async function loadReports() {
  const from = byId('period-from').value;
  const to = byId('period-to').value;
  const query = new URLSearchParams({ from, to }).toString();
  byId('disclosures-csv').setAttribute('href', `/audit/report/disclosures?${query}`);
  const [disclosures, denials] = await Promise.all([api(`/audit/report/disclosures?${query}`), api(`/audit/report/denials?${query}`)]);
  renderDisclosures(disclosures, monthsBetween(from, to));
  renderDenials(denials);
}

function renderDisclosures(r, months) {
  const chart = byId('disclosures-chart');
  const box = byId('disclosures-table');
  if (!r.ok) {
    chart.replaceChildren();
    box.replaceChildren(unavailable(r.message));
    return;
  }
  const rows = Array.isArray(r.body?.rows) ? r.body.rows : [];
  chart.replaceChildren(...disclosureChart(rows, months));
  if (rows.length === 0) {
    box.replaceChildren(el('p', { class: 'muted' }, 'No disclosures in this period.'));
    return;
  }
  const sorted = [...rows].sort((a, b) => String(b.month).localeCompare(String(a.month)) || partnerName(a).localeCompare(partnerName(b)) || String(a.flow).localeCompare(String(b.flow)));
  box.replaceChildren(
    table(
      'Disclosures by partner and flow, per month',
      [{ label: 'Month' }, { label: 'Partner' }, { label: 'Type' }, { label: 'Protocol' }, { label: 'Flow' }, { label: 'Disclosures', num: true }, { label: 'Records', num: true }, { label: 'People', num: true }],
      sorted.map((row) =>
        el(
          'tr',
          { 'data-testid': 'disclosure-row' },
          el('td', { class: 'nowrap' }, String(row.month)),
          el('td', {}, partnerName(row)),
          el('td', {}, String(row.organisationType ?? '')),
          el('td', {}, String(row.protocol ?? '')),
          el('td', {}, String(row.flow ?? '')),
          el('td', { class: 'num' }, String(row.disclosureEvents ?? 0)),
          el('td', { class: 'num' }, String(row.records ?? 0)),
          el('td', { class: 'num' }, String(row.people ?? 0)),
        ),
      ),
      'disclosures-by-partner',
    ),
  );
}

/** An SVG bar per month, stacked by flow (the count of disclosure events); the table beside it has the numbers. */
function disclosureChart(rows, months) {
  const flows = [...new Set(rows.map((row) => String(row.flow ?? '')))].sort();
  const totals = new Map(months.map((m) => [m, new Map()]));
  for (const row of rows) {
    const month = totals.get(String(row.month));
    if (month === undefined) continue;
    const flow = String(row.flow ?? '');
    month.set(flow, (month.get(flow) ?? 0) + Number(row.disclosureEvents ?? 0));
  }
  const peak = Math.max(1, ...[...totals.values()].map((m) => [...m.values()].reduce((a, b) => a + b, 0)));
  const left = 40;
  const top = 10;
  const plot = 160;
  const slot = months.length <= 12 ? 48 : 24;
  const width = left + slot * months.length + 10;
  const height = top + plot + 40;
  const y = (n) => top + plot - (plot * n) / peak;
  const title = svg('title', { id: 'chart-title' }, `Disclosure events per month, ${months[0] ?? ''} to ${months.at(-1) ?? ''}, stacked by flow`);
  const chart = svg('svg', { class: 'chart', viewBox: `0 0 ${width} ${height}`, width, height, role: 'img', 'aria-labelledby': 'chart-title', 'data-testid': 'chart' }, title);
  for (const tick of [0, Math.round(peak / 2), peak]) {
    chart.append(svg('line', { class: 'grid', x1: left, x2: width - 10, y1: y(tick), y2: y(tick) }));
    chart.append(svg('text', { x: left - 4, y: y(tick) + 4, 'text-anchor': 'end' }, String(tick)));
  }
  chart.append(svg('line', { class: 'axis', x1: left, x2: width - 10, y1: top + plot, y2: top + plot }));
  months.forEach((month, i) => {
    const x = left + i * slot + 6;
    let base = 0;
    for (const [f, flow] of flows.entries()) {
      const n = totals.get(month)?.get(flow) ?? 0;
      if (n === 0) continue;
      chart.append(
        svg('rect', { class: `bar flow-${f % FLOW_COLOURS}`, x, y: y(base + n), width: slot - 12, height: y(base) - y(base + n), 'data-month': month, 'data-flow': flow },
          svg('title', {}, `${month}, ${flow}: ${n}`)),
      );
      base += n;
    }
    // Every month labelled when few, else every third.
    if (months.length <= 12 || i % 3 === 0) {
      chart.append(svg('text', { x: x + (slot - 12) / 2, y: top + plot + 14, 'text-anchor': 'middle' }, shortMonth(month)));
    }
  });
  const legend = el('ul', { class: 'legend', 'aria-label': 'Flows' },
    flows.map((flow, f) => el('li', {}, el('span', { class: `swatch flow-${f % FLOW_COLOURS}`, 'aria-hidden': 'true' }), flow)));
  return [chart, flows.length > 0 ? legend : el('p', { class: 'muted' }, 'No disclosures to chart.')];
}

function renderDenials(r) {
  const box = byId('denials-table');
  if (!r.ok) {
    box.replaceChildren(unavailable(r.message));
    return;
  }
  const rows = Array.isArray(r.body?.rows) ? r.body.rows : [];
  if (rows.length === 0) {
    box.replaceChildren(el('p', { class: 'muted' }, 'No denials in this period.'));
    return;
  }
  const sorted = [...rows].sort((a, b) => String(b.month).localeCompare(String(a.month)) || Number(b.denialEvents ?? 0) - Number(a.denialEvents ?? 0));
  box.replaceChildren(
    table(
      'Denials by requester and reason, per month',
      [{ label: 'Month' }, { label: 'Organisation' }, { label: 'Client' }, { label: 'Reason' }, { label: 'Denials', num: true }, { label: 'People', num: true }],
      sorted.map((row) =>
        el(
          'tr',
          { 'data-testid': 'denial-row' },
          el('td', { class: 'nowrap' }, String(row.month)),
          el('td', {}, partnerName(row)),
          el('td', {}, String(row.clientId ?? '')),
          el('td', {}, String(row.reason ?? '')),
          el('td', { class: 'num' }, String(row.denialEvents ?? 0)),
          el('td', { class: 'num' }, String(row.people ?? 0)),
        ),
      ),
      'denials-by-reason',
    ),
  );
}

// ---------------------------------------------------------------------------
// (d) Alerts awaiting review.

const ALERT_KINDS = { 'safeguarding-override': 'Safeguarding override', 'denial-burst': 'Burst of denials' };

function patientsOf(value) {
  let list = value;
  if (typeof list === 'string') {
    try {
      list = JSON.parse(list);
    } catch {
      list = [list];
    }
  }
  return Array.isArray(list) ? list.map(String) : [];
}

async function loadAlerts() {
  renderAlerts(await api('/audit/alerts?status=open'));
}

function renderAlerts(r) {
  const box = byId('alerts-list');
  if (!r.ok) {
    box.replaceChildren(unavailable(r.message));
    return;
  }
  const alerts = Array.isArray(r.body?.alerts) ? r.body.alerts : [];
  byId('alerts-heading').textContent = `Awaiting review (${r.body?.open ?? alerts.length})`;
  if (alerts.length === 0) {
    box.replaceChildren(el('p', { class: 'muted', 'data-testid': 'alerts-none' }, 'Nothing awaiting review.'));
    return;
  }
  box.replaceChildren(
    table(
      'Alerts awaiting review, newest first',
      [{ label: 'Raised' }, { label: 'Kind' }, { label: 'Organisation' }, { label: 'Client' }, { label: 'About' }, { label: 'Reason' }, { label: 'Review' }],
      alerts.map((alert, i) => alertRow(alert, i)),
      'alerts-table',
    ),
  );
}

function alertRow(alert, i) {
  const noteId = `alert-note-${i}`;
  const note = el('input', { type: 'text', id: noteId, name: 'note', maxlength: 1000, 'data-testid': 'alert-note' });
  const button = el('button', { type: 'button', 'data-testid': 'alert-review' }, 'Mark reviewed');
  const row = el(
    'tr',
    { 'data-testid': 'alert-row', 'data-alert-id': String(alert.id) },
    el('td', {}, timeEl(alert.raised)),
    el('td', {}, ALERT_KINDS[alert.kind] ?? String(alert.kind ?? '')),
    el('td', { 'data-testid': 'alert-organisation' }, organisationLabel(alert.organisationCode)),
    el('td', {}, String(alert.clientId ?? '')),
    el('td', {}, el('ul', { class: 'plain' }, patientsOf(alert.patients).map((p) => el('li', {}, el('code', {}, p))))),
    el('td', {}, String(alert.reason ?? '')),
    el('td', {}, el('label', { for: noteId }, 'Note '), note, ' ', button),
  );
  button.addEventListener('click', () => {
    void review(alert, note, button, row);
  });
  return row;
}

async function review(alert, note, button, row) {
  const status = byId('alerts-status');
  const text = note.value.trim();
  if (text === '') {
    note.setAttribute('aria-invalid', 'true');
    status.className = 'error';
    status.textContent = 'Write a note saying what you found before marking the alert reviewed.';
    note.focus();
    return;
  }
  note.removeAttribute('aria-invalid');
  button.disabled = true;
  const r = await api(`/audit/alerts/${encodeURIComponent(String(alert.id))}/review`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ note: text }),
  });
  if (!r.ok) {
    button.disabled = false;
    status.className = 'problem';
    status.textContent = `Could not mark the alert reviewed: ${r.message}`;
    return;
  }
  status.className = 'ok';
  status.textContent = `Alert marked reviewed${r.body?.reviewedBy ? ` by ${r.body.reviewedBy}` : ''}.`;
  row.remove();
  await loadAlerts();
}

// ---------------------------------------------------------------------------
// (e) One child's access history, by NHS number.

/** Why this is not an NHS number (10 digits, modulus 11 check digit), or undefined. */
function nhsNumberProblem(digits) {
  if (!/^\d{10}$/.test(digits)) return 'An NHS number has 10 digits.';
  let sum = 0;
  for (let i = 0; i < 9; i += 1) sum += Number(digits[i]) * (10 - i);
  const check = 11 - (sum % 11);
  const expected = check === 11 ? 0 : check;
  if (expected === 10 || expected !== Number(digits[9])) return 'That is not a valid NHS number (its check digit does not match).';
  return undefined;
}

const codeOf = (codeable) => codeable?.coding?.[0]?.code ?? codeable?.code;
const detailOf = (entity, type) => entity?.detail?.find((d) => d.type === type)?.valueString;

/** What a record is when the audit event does not say (requests, writes, events before descriptions were kept). */
const RECORD_KINDS = {
  Patient: 'a registration',
  EpisodeOfCare: 'an episode of care',
  Observation: 'an observation',
  Immunization: 'an immunisation',
  QuestionnaireResponse: 'an early help assessment (CAF)',
  CarePlan: 'an early help action plan',
  RelatedPerson: 'a family member',
  Consent: 'a consent',
  Communication: 'a notice from the hub',
  Task: 'a follow-up',
  ImmunizationRecommendation: 'an immunisation schedule',
  Practitioner: 'a practitioner',
  AuditEvent: 'an audit event',
};

/** "Patient/123/_history/2" → "a registration (version 2)", when the event has no description of it. */
function recordKind(reference) {
  const [type, , history, version] = String(reference).split('/');
  const kind = RECORD_KINDS[type] ?? `a ${type} record`;
  return history === '_history' && version !== undefined && version !== '1' ? `${kind} (version ${version})` : kind;
}

const REFERENCE_IN_TEXT = /[A-Z][A-Za-z]+\/[A-Za-z0-9\-.]{1,64}(?:\/_history\/[A-Za-z0-9\-.]{1,64})?/g;

/**
 * The hub's free text (an event's outcomeDesc) as the IG lead reads it: each record reference
 * as what it is (the reference in its title), each registered organisation code standing as a word by its name.
 */
function readable(text) {
  const codes = [...organisations.keys()].sort((a, b) => b.length - a.length).map((c) => c.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  const pattern = new RegExp(`${REFERENCE_IN_TEXT.source}${codes.length === 0 ? '' : `|(?<=^|[\\s,])(?:${codes.join('|')})(?=$|[\\s,.;])`}`, 'g');
  const nodes = [];
  let last = 0;
  for (const m of String(text).matchAll(pattern)) {
    nodes.push(text.slice(last, m.index));
    nodes.push(organisations.has(m[0]) ? organisationLabel(m[0]) : el('span', { title: m[0], 'data-reference': m[0] }, recordKind(m[0])));
    last = m.index + m[0].length;
  }
  nodes.push(text.slice(last));
  return nodes;
}

/** How the IG lead reads one decision: what the disclosure report counts as a disclosure, and what it does not. */
const DECISION_KINDS = {
  disclosure: { label: 'Disclosed', className: 'decision-permit' },
  denial: { label: 'Denied', className: 'decision-deny' },
  'read-back': { label: 'Read back', className: 'decision-other', note: 'the organisation reading what it wrote: not a disclosure' },
  notice: { label: 'Notice delivered', className: 'decision-other', note: 'a notice the hub addressed to this organisation: not a disclosure' },
  permit: { label: 'Permitted', className: 'decision-other' },
};

const INTERACTIONS = {
  read: 'Read',
  vread: 'Read a version',
  'history-instance': 'History',
  'search-type': 'Search',
  create: 'Create',
  update: 'Update',
  capabilities: 'Capabilities',
  operation: 'Operation',
  110122: 'Sign-in',
};
const OUTCOMES = { 0: 'succeeded', 4: 'refused', 8: 'failed', 12: 'failed' };

/** What the history reads of one AuditEvent. */
function summarise(event) {
  const entities = Array.isArray(event.entity) ? event.entity : [];
  const agents = Array.isArray(event.agent) ? event.agent : [];
  const organisation = agents.find((a) => a.type?.coding?.some((c) => c.code === 'requesting-organisation'));
  const client = agents.find((a) => a.requestor === true);
  const decision = entities.find((e) => e.type?.code === 'decision');
  const flow = entities.find((e) => e.type?.code === 'protocol-flow');
  const effect = detailOf(decision, 'effect');
  const basis = detailOf(decision, 'basis');
  // The disclosure report counts permits resting on a protocol flow; a read-back (originator) or a delivered notice (addressed) is not one.
  const kind = decision === undefined ? undefined : effect === 'deny' ? 'denial' : flow !== undefined ? 'disclosure' : basis === 'originator' ? 'read-back' : basis === 'addressed' ? 'notice' : 'permit';
  return {
    recorded: event.recorded,
    requestId: entities.find((e) => e.type?.code === 'XrequestId')?.what?.identifier?.value,
    organisationCode: organisation?.who?.identifier?.value,
    organisationType: codeOf(organisation?.role?.[0]),
    client: client?.who?.identifier?.value,
    purpose: codeOf(event.purposeOfEvent?.[0]),
    subtype: event.subtype?.[0]?.code,
    kind,
    reason: detailOf(decision, 'reason'),
    overrideReason: detailOf(decision, 'override-reason'),
    override: (event.meta?.tag ?? []).some((t) => t.code === 'safeguarding-override'),
    flow: flow === undefined ? undefined : `${detailOf(flow, 'protocol') ?? ''} v${detailOf(flow, 'version') ?? ''}: ${detailOf(flow, 'flow') ?? ''}`,
    consents: entities.filter((e) => e.type?.code === 'Consent').map((e) => e.what?.reference).filter(Boolean),
    records: entities
      .filter((e) => e.type?.code === '2' && e.role?.code === '4' && typeof e.what?.reference === 'string')
      .map((e) => ({ reference: e.what.reference, description: typeof e.description === 'string' ? e.description : undefined })),
    outcome: event.outcome,
    outcomeDesc: event.outcomeDesc,
  };
}

/**
 * One access: the audit log writes a request event and a decision event (or
 * several) for one request of one client; they share the request id. The hub's
 * own work in the same request (a withdrawal notice) is its own access.
 */
function accessesOf(summaries) {
  const accesses = new Map();
  for (const s of summaries) {
    const key = s.requestId === undefined ? `event:${accesses.size}` : `${s.requestId}|${s.organisationCode ?? ''}|${s.client ?? ''}`;
    const access = accesses.get(key) ?? { requestId: s.requestId, events: [] };
    access.events.push(s);
    accesses.set(key, access);
  }
  return [...accesses.values()].map((a) => {
    const events = [...a.events].sort((x, y) => String(x.recorded).localeCompare(String(y.recorded)));
    const first = events[0];
    const records = new Map();
    for (const e of events) {
      for (const r of e.records) {
        const known = records.get(r.reference);
        if (known === undefined || (known.description === undefined && r.description !== undefined)) records.set(r.reference, r);
      }
    }
    return {
      requestId: a.requestId,
      recorded: first.recorded,
      organisationCode: events.find((e) => e.organisationCode !== undefined)?.organisationCode,
      organisationType: events.find((e) => e.organisationType !== undefined)?.organisationType,
      client: events.find((e) => e.client !== undefined)?.client,
      purpose: events.find((e) => e.purpose !== undefined)?.purpose,
      requests: events.filter((e) => e.kind === undefined),
      decisions: events.filter((e) => e.kind !== undefined),
      records: [...records.values()],
      events: events.length,
    };
  });
}

function whoCell(a) {
  const isHub = a.organisationCode === hubCode;
  return el(
    'td',
    {},
    el('div', { 'data-testid': 'history-organisation' }, a.organisationCode === undefined ? 'Not signed in' : organisationLabel(a.organisationCode)),
    a.organisationType === undefined ? null : el('div', { class: 'muted' }, a.organisationType === 'hub-operator' ? 'the hub' : a.organisationType),
    el(
      'div',
      { class: 'muted', 'data-testid': 'history-client' },
      a.client !== undefined ? ['client ', el('code', {}, a.client)] : isHub ? 'the hub itself, on its own account' : 'no client (no valid token)',
    ),
  );
}

function decisionBlock(d) {
  const kind = DECISION_KINDS[d.kind];
  return el(
    'div',
    { class: 'decision', 'data-testid': 'history-decision', 'data-kind': d.kind },
    el('span', { class: kind.className, 'data-testid': 'history-effect' }, kind.label),
    d.reason === undefined ? null : [' (', el('span', { 'data-testid': 'history-reason' }, d.reason), ')'],
    kind.note === undefined ? null : el('span', { class: 'muted' }, `: ${kind.note}`),
    d.override ? [' ', el('span', { class: 'tag-override' }, 'safeguarding override')] : null,
    d.flow === undefined ? null : el('div', {}, 'Flow: ', el('code', { 'data-testid': 'history-flow' }, d.flow)),
    d.consents.length === 0
      ? null
      : el('div', {}, 'Resting on ', d.consents.map((c, i) => [i > 0 ? ', ' : '', el('span', { title: c, 'data-testid': 'history-consent', 'data-reference': c }, recordKind(c))])),
    d.overrideReason === undefined ? null : el('div', {}, 'Override reason: ', el('q', { 'data-testid': 'history-override' }, d.overrideReason)),
    d.records.length > 1 ? el('div', { class: 'muted' }, `${d.records.length} records`) : null,
  );
}

function whatCell(a) {
  const requests = a.requests.map((r) =>
    el(
      'div',
      { 'data-testid': 'history-request' },
      `${INTERACTIONS[r.subtype] ?? r.subtype ?? 'Request'} ${OUTCOMES[r.outcome] ?? `(outcome ${r.outcome ?? '?'})`}`,
      // The decisions below say why; the request's own description only when there are none.
      a.decisions.length === 0 && r.outcomeDesc ? el('div', { class: 'muted', 'data-testid': 'history-detail' }, readable(r.outcomeDesc)) : null,
    ),
  );
  return el('td', {}, requests, a.decisions.map(decisionBlock));
}

/**
 * The records, as what they are (the reference in the title and under "References"). Where the access
 * has decisions, a record the request named but none of them did was decided in an event about someone
 * else (the history holds the events naming this person): counted, not listed as theirs.
 */
function recordsCell(a) {
  if (a.records.length === 0 && a.decisions.length === 0) return el('td', {});
  const decided = new Set(a.decisions.flatMap((d) => d.records.map((r) => r.reference)));
  const mine = a.decisions.length === 0 ? a.records : a.records.filter((r) => decided.has(r.reference));
  const others = a.records.length - mine.length;
  const consents = [...new Set(a.decisions.flatMap((d) => d.consents))];
  return el(
    'td',
    {},
    el('ul', { class: 'plain' }, mine.map((r) => el('li', { title: r.reference, 'data-testid': 'history-record', 'data-reference': r.reference }, r.description ?? recordKind(r.reference)))),
    others === 0 ? null : el('div', { class: 'muted' }, `and ${plural(others, 'record')} about someone else in the same request`),
    el('details', { class: 'references', 'data-testid': 'history-references' }, el('summary', {}, mine.length + consents.length === 1 ? 'Reference' : 'References'),
      el('ul', { class: 'plain' }, [...mine.map((r) => r.reference), ...consents].map((reference) => el('li', {}, el('code', {}, reference))))),
  );
}

function historyRow(a) {
  const kinds = new Set(a.decisions.map((d) => d.kind));
  return el(
    'tr',
    { 'data-testid': 'history-row', 'data-request-id': a.requestId, 'data-events': a.events, class: [...kinds].map((k) => `access-${k}`).join(' ') || 'access-request' },
    el('td', { class: 'nowrap' }, timeEl(a.recorded)),
    whoCell(a),
    el('td', {}, a.purpose ?? ''),
    whatCell(a),
    recordsCell(a),
  );
}

/** The counts above the history: disclosures and denials as the reports count them (decision events), the rest apart. */
function historySummary(digits, events, accesses, truncated) {
  const decisions = accesses.flatMap((a) => a.decisions);
  const count = (kind) => decisions.filter((d) => d.kind === kind).length;
  const n = (kind, noun, nouns) => el('span', { 'data-testid': `history-${kind}` }, plural(count(kind), noun, nouns));
  const others = [
    count('read-back') > 0 ? n('read-back', 'read-back by the organisation that wrote the record', 'read-backs by the organisation that wrote the record') : null,
    count('notice') > 0 ? n('notice', 'notice delivered', 'notices delivered') : null,
  ].filter(Boolean);
  return el(
    'p',
    { 'data-testid': 'history-summary' },
    `NHS number ${digits}: `,
    el('span', { 'data-testid': 'history-accesses' }, plural(accesses.length, 'access', 'accesses')),
    ` (${plural(events.length, 'audit event')})`,
    truncated ? ` (the first ${events.length} only: narrow the search)` : '',
    '. ',
    n('disclosure', 'disclosure'),
    ' and ',
    n('denial', 'denial'),
    ', counted as the disclosure and denial reports count them',
    others.length === 0 ? '.' : ['; not disclosures: ', others.map((o, i) => [i > 0 ? ', ' : '', o]), '.'],
  );
}

/** The next page of a searchset, as a path on this hub. */
function nextOf(bundle) {
  const next = (bundle?.link ?? []).find((l) => l.relation === 'next')?.url;
  if (typeof next !== 'string') return undefined;
  const url = new URL(next, document.baseURI);
  return `${url.pathname}${url.search}`;
}

async function lookUp(event) {
  event.preventDefault();
  const input = byId('nhs-number');
  const error = byId('nhs-error');
  const box = byId('child-history');
  const digits = input.value.replace(/[\s-]/g, '');
  const problem = nhsNumberProblem(digits);
  if (problem !== undefined) {
    input.setAttribute('aria-invalid', 'true');
    error.textContent = problem;
    box.replaceChildren();
    input.focus();
    return;
  }
  input.removeAttribute('aria-invalid');
  error.textContent = '';
  box.replaceChildren(el('p', {}, 'Searching the audit log…'));
  const params = new URLSearchParams({ 'patient:identifier': `${NHS_NUMBER_SYSTEM}|${digits}`, _sort: '-date', _count: '100' });
  let url = `/fhir/AuditEvent?${params.toString()}`;
  const events = [];
  let pages = 0;
  let truncated = false;
  while (url !== undefined) {
    const r = await api(url, { headers: { Accept: 'application/fhir+json' } });
    if (!r.ok) {
      box.replaceChildren(unavailable(r.message === 'not available' ? r.message : `The audit log search failed: ${r.message}`));
      return;
    }
    for (const entry of r.body?.entry ?? []) if (entry.resource?.resourceType === 'AuditEvent') events.push(entry.resource);
    pages += 1;
    url = nextOf(r.body);
    if (url !== undefined && pages >= HISTORY_PAGE_LIMIT) {
      truncated = true;
      url = undefined;
    }
  }
  const accesses = accessesOf(events.map(summarise)).sort((a, b) => String(b.recorded).localeCompare(String(a.recorded)));
  box.replaceChildren(
    historySummary(digits, events, accesses, truncated),
    accesses.length === 0
      ? el('p', { class: 'muted' }, 'The audit log holds nothing about this NHS number.')
      : table(
        `Every access to the records of NHS number ${digits}, newest first`,
        [{ label: 'When' }, { label: 'Who' }, { label: 'Purpose' }, { label: 'What happened' }, { label: 'Records' }],
        accesses.map(historyRow),
        'history-table',
      ),
  );
}

// ---------------------------------------------------------------------------
// (f) Follow-up work and exceptions, (g) the commissioners' figures.

const KIND_LABELS = {
  'missed-dose': 'Missed dose',
  'overdue-dose': 'Overdue dose',
  'birth-without-booking': 'Birth with no booking',
  'pregnancy-overdue': 'Pregnancy past its due date',
};
const EXCEPTION_KINDS = new Set(['birth-without-booking', 'pregnancy-overdue']);
const OPEN = new Set(['requested', 'received', 'accepted', 'ready', 'in-progress', 'on-hold']);

async function loadFollowUps() {
  const query = new URLSearchParams({ from: byId('period-from').value, to: byId('period-to').value, _format: 'json' }).toString();
  const r = await api(`/audit/report/follow-ups?${query}`);
  const work = byId('follow-ups-table');
  const exceptions = byId('exceptions-table');
  if (!r.ok) {
    byId('follow-ups-summary').textContent = '';
    work.replaceChildren(unavailable(r.message));
    exceptions.replaceChildren(unavailable(r.message));
    return;
  }
  const rows = Array.isArray(r.body?.rows) ? r.body.rows : [];
  const sum = (list, key) => list.reduce((n, row) => n + Number(row[key] ?? 0), 0);
  const open = rows.filter((row) => OPEN.has(String(row.status)));
  byId('follow-ups-summary').textContent =
    `${sum(rows, 'tasks')} raised, ${sum(open, 'tasks')} still open, ${sum(rows, 'stalled')} stalled, ${sum(rows, 'completedWithin28Days')} completed within 28 days.`;
  work.replaceChildren(followUpTable(rows.filter((row) => !EXCEPTION_KINDS.has(String(row.kind))), 'Follow-up work by month raised, kind, owner and status', 'No follow-up work in this period.', 'follow-up-row'));
  exceptions.replaceChildren(followUpTable(rows.filter((row) => EXCEPTION_KINDS.has(String(row.kind))), 'Exception reports by month raised, kind, owner and status', 'No exceptions in this period.', 'exception-row'));
}

function followUpTable(rows, caption, empty, testid) {
  if (rows.length === 0) return el('p', { class: 'muted' }, empty);
  const sorted = [...rows].sort((a, b) => String(b.month).localeCompare(String(a.month)) || String(a.kind).localeCompare(String(b.kind)) || partnerName(a).localeCompare(partnerName(b)));
  return table(
    caption,
    [{ label: 'Month' }, { label: 'Kind' }, { label: 'Owner' }, { label: 'Status' }, { label: 'Tasks', num: true }, { label: 'Stalled', num: true }, { label: 'Done in 28 days', num: true }],
    sorted.map((row) =>
      el(
        'tr',
        { 'data-testid': testid },
        el('td', { class: 'nowrap' }, String(row.month)),
        el('td', {}, KIND_LABELS[row.kind] ?? String(row.kind)),
        el('td', {}, partnerName(row)),
        el('td', {}, `${String(row.status)}${row.businessStatus ? ` (${String(row.businessStatus)})` : ''}`),
        el('td', { class: 'num' }, String(row.tasks ?? 0)),
        el('td', { class: Number(row.stalled ?? 0) > 0 ? 'num warn' : 'num' }, String(row.stalled ?? 0)),
        el('td', { class: 'num' }, String(row.completedWithin28Days ?? 0)),
      ),
    ),
  );
}

/** The last day of a month (YYYY-MM) as YYYY-MM-DD. */
function lastDay(month) {
  const [y, m] = month.split('-').map(Number);
  return new Date(Date.UTC(y, m, 0)).toISOString().slice(0, 10);
}

async function loadFigures() {
  const from = byId('period-from').value;
  const to = byId('period-to').value;
  const query = new URLSearchParams({ periodStart: `${from}-01`, periodEnd: lastDay(to) }).toString();
  const r = await api(`/fhir/Measure/missed-doses/$evaluate-measure?${query}`);
  const box = byId('figures-chart');
  if (!r.ok) {
    box.replaceChildren(unavailable(r.message));
    return;
  }
  const stratifiers = Array.isArray(r.body?.group?.[0]?.stratifier) ? r.body.group[0].stratifier : [];
  const byMonth = stratifiers.find((s) => s.code?.[0]?.coding?.[0]?.code === 'month');
  const counts = new Map();
  for (const stratum of Array.isArray(byMonth?.stratum) ? byMonth.stratum : []) {
    const population = stratum.population?.[0];
    counts.set(String(stratum.value?.text ?? ''), typeof population?.count === 'number' ? population.count : 'withheld');
  }
  box.replaceChildren(...figuresChart(counts, monthsBetween(from, to)));
}

/** Missed doses per month as bars; a withheld month is marked, never drawn as a number. */
function figuresChart(counts, months) {
  const numbers = [...counts.values()].filter((n) => typeof n === 'number');
  const peak = Math.max(5, ...numbers);
  const left = 40;
  const top = 10;
  const plot = 120;
  const slot = months.length <= 12 ? 48 : 24;
  const width = left + slot * months.length + 10;
  const height = top + plot + 40;
  const y = (n) => top + plot - (plot * n) / peak;
  const title = svg('title', { id: 'figures-title' }, `Missed doses per month, ${months[0] ?? ''} to ${months.at(-1) ?? ''}; counts from 1 to 4 withheld`);
  const chart = svg('svg', { class: 'chart', viewBox: `0 0 ${width} ${height}`, width, height, role: 'img', 'aria-labelledby': 'figures-title', 'data-testid': 'figures-svg' }, title);
  for (const tick of [0, Math.round(peak / 2), peak]) {
    chart.append(svg('line', { class: 'grid', x1: left, x2: width - 10, y1: y(tick), y2: y(tick) }));
    chart.append(svg('text', { x: left - 4, y: y(tick) + 4, 'text-anchor': 'end' }, String(tick)));
  }
  chart.append(svg('line', { class: 'axis', x1: left, x2: width - 10, y1: top + plot, y2: top + plot }));
  let withheld = 0;
  months.forEach((month, i) => {
    const x = left + i * slot + 6;
    const n = counts.get(month);
    if (typeof n === 'number' && n > 0) {
      chart.append(svg('rect', { class: 'bar flow-0', x, y: y(n), width: slot - 12, height: y(0) - y(n), 'data-month': month, 'data-count': n }, svg('title', {}, `${month}: ${n} missed doses`)));
    } else if (n === 'withheld') {
      withheld += 1;
      chart.append(svg('text', { class: 'withheld', x: x + (slot - 12) / 2, y: top + plot - 4, 'text-anchor': 'middle', 'data-month': month, 'data-withheld': 'true' }, '*', svg('title', {}, `${month}: withheld (a small number)`)));
    }
    if (months.length <= 12 || i % 3 === 0) chart.append(svg('text', { x: x + (slot - 12) / 2, y: top + plot + 14, 'text-anchor': 'middle' }, shortMonth(month)));
  });
  const note = el('p', { class: 'muted' }, withheld > 0 ? `* withheld in ${withheld} month(s): a count from 1 to 4, or one a total would reveal.` : 'No month withheld.');
  return [chart, note];
}

// ---------------------------------------------------------------------------

function init() {
  const now = new Date();
  const yearAgo = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - 11, 1));
  byId('period-from').value = monthOf(yearAgo);
  byId('period-to').value = monthOf(now);
  byId('period').addEventListener('submit', (event) => {
    event.preventDefault();
    void loadReports();
    void loadFollowUps();
    void loadFigures();
  });
  byId('verify').addEventListener('click', () => {
    void verifyNow();
  });
  byId('child-form').addEventListener('submit', (event) => {
    void lookUp(event);
  });
  void firstLoad().finally(() => {
    document.body.dataset['loaded'] = 'true';
  });
}

/**
 * The panels that load once signed in, after the organisations' names are known: each fills its own
 * <section> of index.html. A new panel (follow-ups, exceptions, the commissioners' figures) adds its
 * section there and its loader here.
 */
const PANEL_LOADERS = [loadReports, loadFollowUps, loadFigures];

/** Signed in? The alerts answer first (a 401 there shows the sign-in notice and asks nothing more). */
async function firstLoad() {
  const alerts = await api('/audit/alerts?status=open');
  if (alerts.status === 401) return;
  // Every organisation is shown by its registry name: the names first.
  await loadOrganisations();
  await Promise.all([loadCheckpoint(), ...PANEL_LOADERS.map((load) => load())]);
  renderAlerts(alerts);
}

init();
