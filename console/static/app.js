// The audit console: sign-in, the views (find, timeline, the audit questions, history, pictures,
// verify) and the routing between them (the location's hash: #/<view>?<parameters>, so that every
// view can be linked and reloaded). Views call the server's Connect JSON surface (api.js) and
// check what they show against the signed log (trust.js, verify.js).

import { t, setLanguage, language, localTime, localDateStart } from './i18n.js';
import { call, all, token, setToken, CallError } from './api.js';
import * as trust from './trust.js';
import { incidentChart, heatmap, growthChart } from './charts.js';

const main = document.getElementById('main');
let caller = null;

// ---------------------------------------------------------------------------------------------
// DOM helpers

/** An element: `h('a', {href, class, onclick}, children...)`; strings become text. */
function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else if (k === 'class') node.className = v;
    else if (k === 'dataset') Object.assign(node.dataset, v);
    else if (v === true) node.setAttribute(k, '');
    else node.setAttribute(k, String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

function link(route, params, ...children) {
  return h('a', { href: href(route, params) }, ...children);
}

function href(route, params = {}) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '' && v !== null) q.set(k, v);
  const s = q.toString();
  return `#/${route}${s ? `?${s}` : ''}`;
}

function go(route, params) {
  location.hash = href(route, params);
}

function show(...nodes) {
  main.replaceChildren(...nodes.filter((n) => n !== null && n !== undefined && n !== false));
}

function failure(e) {
  const code = e instanceof CallError ? e.code : 'error';
  return h('p', { class: 'error', 'data-error': code }, `${t('error')}: `, e.message);
}

function field(name, label, input) {
  return h('label', { for: name }, label, input);
}

function input(name, value = '', attrs = {}) {
  return h('input', { name, id: name, value: value ?? '', ...attrs });
}

function formValues(form) {
  const out = {};
  for (const [k, v] of new FormData(form).entries()) if (v !== '') out[k] = v;
  return out;
}

function today() {
  return new Intl.DateTimeFormat('sv-SE', { timeZone: 'Asia/Ho_Chi_Minh' }).format(new Date());
}

// ---------------------------------------------------------------------------------------------
// Alarms and the trust bar

const alarm = document.getElementById('alarm');
const trustbar = document.getElementById('trustbar');

/** Shows a verification failure loudly, naming the position. */
function raise(position, reason) {
  alarm.hidden = false;
  const line = h('div', { class: 'mismatch-line', 'data-position': position || '' },
    `${t('tampered')} — ${t('position')} ${position || '?'}: ${reason}`);
  alarm.append(line);
}

function clearAlarm() {
  alarm.hidden = true;
  alarm.replaceChildren();
}

function showTrust(cp) {
  const key = trust.pinnedKeyText();
  if (!key) {
    trustbar.replaceChildren(h('span', {}, t('needKey'), ' '), link('verify', {}, t('navVerify')));
    return;
  }
  const parts = [h('span', {}, `${t('pinnedKey')}: `, h('code', {}, key.split('+').slice(0, 2).join('+')))];
  if (cp) {
    parts.push(' · ', h('span', { class: 'ok', id: 'trust-checkpoint' },
      `${t('checkpoint')} ${t('treeSize')} ${cp.treeSize} ✓`));
    if (cp.consistency === 'grew' || cp.consistency === 'same') parts.push(' · ', h('span', { class: 'ok' }, t('consistent')));
  }
  trustbar.replaceChildren(...parts);
}

function mayReadLog() {
  return Boolean(caller) && ['ROLE_AUDITOR', 'ROLE_INTEGRATION', 'ROLE_ADMINISTRATOR'].includes(caller.role);
}

/**
 * Verifies the events a view shows (`rows`: position → {eventType, aggregateId, occurredAt,
 * recordedAt, badge (element to mark), row (tr), onSigned(event)}), marking each and raising the
 * alarm on any failure.
 */
async function verifyRows(rows, status) {
  if (!rows.size) return;
  if (!trust.pinnedKeyText()) {
    status.replaceChildren(t('needKey'));
    return;
  }
  if (!mayReadLog()) {
    status.replaceChildren(t('needAuditor'));
    return;
  }
  status.replaceChildren(t('loading'));
  const shown = new Map([...rows].map(([p, r]) => [p, r.shown]));
  let outcome;
  try {
    outcome = await trust.verifyShown(shown);
  } catch (e) {
    if (e instanceof trust.Mismatch) {
      raise(e.position, e.reason);
      status.replaceChildren(h('span', { class: 'badge bad' }, t('mismatch')), ' ', e.message);
    } else status.replaceChildren(failure(e));
    return;
  }
  showTrust(outcome.checkpoint);
  let bad = 0;
  for (const [p, r] of rows) {
    const result = outcome.results.get(p);
    if (result.ok) {
      r.badge.replaceChildren(h('span', { class: 'badge ok', title: `leaf ${result.leaf}` }, `✓ ${t('verified')}`));
      if (r.onSigned) r.onSigned(result.event);
    } else if (result.pending) {
      r.badge.replaceChildren(h('span', { class: 'badge wait', title: result.reason }, t('notVerified')));
    } else {
      bad += 1;
      r.badge.replaceChildren(h('span', { class: 'badge bad', title: result.reason }, `✗ ${t('mismatch')}`));
      r.row.classList.add('mismatch');
      raise(p, result.reason);
    }
  }
  status.replaceChildren(bad
    ? h('span', { class: 'badge bad' }, `${bad} × ${t('mismatch')}`)
    : h('span', { class: 'badge ok', id: 'all-verified' }, `✓ ${t('allVerified')} (${t('treeSize')} ${outcome.checkpoint.treeSize})`));
}

// ---------------------------------------------------------------------------------------------
// Values: ids become links to what they name, instants are shown in UTC+7

const ID_KINDS = [
  [/^(park_?id|parkIds?|park_ids)$/i, 'Park'],
  [/^(company_?ids?|companyIds?|company)$/i, 'InfrastructureCompany'],
  [/^(tenant_?ids?|tenantIds?)$/i, 'Tenant'],
  [/authority_?id|authorityId|successor_?id|successorId|predecessors|referred_?to_?authority_?id|assignee_authority/i, 'Authority'],
  [/^(inspection_?id|inspectionId)$/i, 'Inspection'],
  [/^(incident_?id|incidentId)$/i, 'Incident'],
  [/^(consultation_?id|consultationId)$/i, 'IndustryConsultation'],
  [/^(exchange_?id|exchangeId)$/i, 'InformationExchange'],
  [/^(alert_?id|alertId)$/i, 'MonitoringAlert'],
  [/^(agreement_?id|agreementId|superseded_?by|supersededBy)$/i, 'CoordinationAgreement'],
  [/^(plan_?id|planId)$/i, 'AnnualPlan'],
  [/^(dossier_?id|dossierId)$/i, 'AdministrativeProcedure'],
];
const SUBJECTS = { Park: 'park', InfrastructureCompany: 'company', Tenant: 'tenant', Authority: 'authority' };
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

function kindOf(key) {
  for (const [pattern, kind] of ID_KINDS) if (pattern.test(key)) return kind;
  return null;
}

/** An aggregate id as links to its history (and timeline, for a subject). */
function idLinks(kind, id) {
  const parts = [link('history', { type: kind, id }, h('code', {}, id))];
  if (SUBJECTS[kind]) parts.push(' ', link('timeline', { type: SUBJECTS[kind], id }, '⟶'));
  return h('span', { class: 'id' }, parts);
}

function value(key, v) {
  if (v === undefined || v === null) return '';
  if (typeof v === 'string') {
    const kind = kindOf(key || '');
    if (kind && UUID.test(v)) return idLinks(kind, v);
    if (INSTANT.test(v)) return h('span', { title: v }, localTime(v));
    return v;
  }
  if (typeof v === 'boolean') return v ? '✓' : '—';
  if (Array.isArray(v)) {
    if (v.every((x) => typeof x !== 'object')) return v.map((x, i) => [i ? ', ' : '', value(key, x)]);
    return h('details', {}, h('summary', {}, `${v.length} ×`), table(v));
  }
  if (typeof v === 'object') return grid(v);
  return String(v);
}

/** An object as a two-column grid of its fields. */
function grid(obj) {
  return h('div', { class: 'grid2' },
    Object.entries(obj).flatMap(([k, v]) => [h('span', {}, k), h('span', {}, k === 'breaches' ? breachBadges(v) : value(k, v))]));
}

function breachBadges(list) {
  return (list || []).map((b) => h('span', { class: 'limit', title: b.detail || '' }, b.limit || b.code || '?'));
}

/** Whether a row of an answer records a breach (of a legal limit or a service level). */
function breached(row) {
  if (Array.isArray(row.breaches) && row.breaches.length) return true;
  if (row.breach) return true;
  if (['late', 'overdue', 'flagged', 'verifiedLate', 'pollutionLevelExceeds', 'outsideAllowed'].some((k) => row[k] === true)) return true;
  if (row.lateness) return true;
  if (row.status === 'REMEDIATION_STATUS_OVERDUE') return true;
  if (row.notification && (row.notification.late || row.notification.overdue)) return true;
  // A row whose parts breach (an inspection whose finding's remediation was verified late).
  return Object.values(row).some((v) => Array.isArray(v) && v.some((x) => x && typeof x === 'object' && breached(x)));
}

/** The limits a row breaches, as badges with what each limit says. */
function limitsOf(row) {
  const out = [];
  if (Array.isArray(row.breaches)) out.push(...breachBadges(row.breaches));
  if (row.breach) out.push(...breachBadges([row.breach]));
  if (row.lateness) out.push(h('span', { class: 'limit', title: row.dueOn ? `due ${row.dueOn}` : '' }, row.lateness));
  if (row.flagged) out.push(h('span', { class: 'limit', title: 'the park rules in force exclude it' }, row.excludedBy ? `excluded: ${row.excludedBy}` : 'flagged'));
  for (const flag of ['late', 'overdue', 'verifiedLate', 'pollutionLevelExceeds', 'outsideAllowed']) {
    if (row[flag] === true && !(flag === 'late' && row.notification)) out.push(h('span', { class: 'limit', title: row.dueOn || row.remediationDueOn || row.deadline || '' }, flag));
  }
  if (row.status === 'REMEDIATION_STATUS_OVERDUE') out.push(h('span', { class: 'limit' }, `remediation overdue ${row.daysOverdue || ''} d`));
  for (const [k, v] of Object.entries(row)) {
    if (k === 'breaches' || !Array.isArray(v)) continue;
    for (const x of v) if (x && typeof x === 'object' && breached(x)) out.push(h('span', { class: 'muted' }, `${k}: `), limitsOf(x));
  }
  if (row.notification && row.notification.late) out.push(h('span', { class: 'limit', title: `${row.notification.allowedHours} h` }, `notification late (> ${row.notification.allowedHours} h)`));
  return out;
}

/** Rows of an answer as a table: one column per field; breaches first and highlighted. */
function table(rows) {
  if (!rows.length) return h('p', { class: 'muted' }, t('noRows'));
  const columns = [];
  for (const r of rows) for (const k of Object.keys(r)) if (!columns.includes(k) && k !== 'breaches') columns.push(k);
  const anyBreach = rows.some(breached);
  return h('table', { class: 'answer' },
    h('thead', {}, h('tr', {}, anyBreach ? h('th', {}, t('limit')) : null, columns.map((c) => h('th', {}, c)))),
    h('tbody', {}, rows.map((r) => h('tr', { class: breached(r) ? 'breach' : '' },
      anyBreach ? h('td', {}, limitsOf(r)) : null,
      columns.map((c) => h('td', { class: typeof r[c] === 'number' || /^-?\d+$/.test(r[c] ?? 'x') ? 'num' : '' }, value(c, r[c])))))));
}

// ---------------------------------------------------------------------------------------------
// Pickers for the ids forms ask for

let parksCache = null;
async function parks() {
  parksCache ||= all('DirectoryService', 'ListParks', {}, 'parks');
  return parksCache;
}
let companiesCache = null;
async function companies() {
  companiesCache ||= all('DirectoryService', 'ListCompanies', {}, 'companies');
  return companiesCache;
}

function selectOf(name, options, selected, required) {
  return h('select', { name, id: name, required },
    h('option', { value: '' }, '—'),
    options.map(([v, label]) => h('option', { value: v, selected: v === selected }, label)));
}

async function parkSelect(name, selected, required) {
  const list = await parks();
  return selectOf(name, list.map((p) => [p.parkId, `${p.code} — ${p.name}`]), selected, required);
}

async function companySelect(name, selected) {
  const list = await companies();
  return selectOf(name, list.map((c) => [c.companyId, `${c.enterpriseCode} — ${c.name}`]), selected);
}

/** A text field for an id that suggests matches from the directory as one types. */
function idInput(name, value, lister, required) {
  const listId = `${name}-options`;
  const datalist = h('datalist', { id: listId });
  const box = input(name, value, { list: listId, required, placeholder: t('searchHint'), size: 38 });
  let timer;
  box.addEventListener('input', () => {
    clearTimeout(timer);
    const q = box.value.trim();
    if (q.length < 2 || UUID.test(q)) return;
    timer = setTimeout(async () => {
      try {
        const items = await lister(q);
        datalist.replaceChildren(...items.map(([id, label]) => h('option', { value: id }, label)));
      } catch { /* suggestions only */ }
    }, 250);
  });
  return [box, datalist];
}

const listers = {
  tenant: async (q) => (await call('DirectoryService', 'ListTenants', { query: q, pageSize: 20 })).tenants?.map((x) => [x.tenantId, `${x.enterpriseCode} — ${x.name}`]) || [],
  authority: async (q) => (await call('DirectoryService', 'ListAuthorities', { query: q, pageSize: 20 })).authorities?.map((x) => [x.authorityId, x.name]) || [],
  company: async (q) => (await call('DirectoryService', 'ListCompanies', { query: q, pageSize: 20 })).companies?.map((x) => [x.companyId, `${x.enterpriseCode} — ${x.name}`]) || [],
  park: async (q) => (await call('DirectoryService', 'ListParks', { query: q, pageSize: 20 })).parks?.map((x) => [x.parkId, `${x.code} — ${x.name}`]) || [],
};

// ---------------------------------------------------------------------------------------------
// Sign-in

function signInView(message) {
  const box = h('textarea', { name: 'token', id: 'token', required: true, autocomplete: 'off', spellcheck: 'false' });
  const form = h('form', { id: 'signin', onsubmit: async (e) => {
    e.preventDefault();
    setToken(box.value.trim());
    await start();
  } }, field('token', t('token'), box), h('button', { type: 'submit' }, t('signIn')));
  show(h('h2', {}, t('signIn')), message ? h('p', { class: 'error' }, message) : null, form);
  document.getElementById('nav').hidden = true;
  document.getElementById('who').replaceChildren();
}

function nav(active) {
  const items = [['find', 'navFind'], ['timeline', 'navTimeline'], ['audit', 'navAudit'], ['history', 'navHistory'], ['pictures', 'navPictures'], ['verify', 'navVerify']];
  const bar = document.getElementById('nav');
  bar.hidden = false;
  bar.replaceChildren(...items.map(([r, l]) => h('a', { href: href(r), id: `nav-${r}`, class: r === active ? 'active' : '' }, t(l))));
  const who = document.getElementById('who');
  who.replaceChildren(
    h('span', { id: 'caller' }, `${t('signedInAs')} ${caller.principalId || ''} · ${t('role')}: ${(caller.role || '').replace('ROLE_', '').toLowerCase()}`),
    ' ',
    h('button', { type: 'button', id: 'signout', onclick: () => { setToken(''); caller = null; signInView(); } }, t('signOut')),
  );
}

// ---------------------------------------------------------------------------------------------
// Find

async function findView(p) {
  const form = h('form', { id: 'find', onsubmit: (e) => { e.preventDefault(); go('find', formValues(form)); } },
    field('q', t('searchHint'), input('q', p.q, { size: 40 })),
    h('button', { type: 'submit' }, t('search')));
  const out = h('div', { id: 'find-results' });
  show(h('h2', {}, t('navFind')), form, out);
  if (!p.q) return;
  const q = { query: p.q, pageSize: 50 };
  const sections = [
    ['parks', 'ListParks', 'parks', (x) => [h('td', {}, x.code), h('td', {}, x.name), h('td', {}, x.location), h('td', {}, idLinks('Park', x.parkId)),
      h('td', {}, link('timeline', { type: 'park', id: x.parkId }, t('openTimeline')), ' · ', link('find', { q: p.q, park: x.parkId }, t('responsibilityOn')))]],
    ['companies', 'ListCompanies', 'companies', (x) => [h('td', {}, x.enterpriseCode), h('td', {}, x.name), h('td', {}, x.address), h('td', {}, idLinks('InfrastructureCompany', x.companyId)), h('td', {}, link('timeline', { type: 'company', id: x.companyId }, t('openTimeline')))]],
    ['tenants', 'ListTenants', 'tenants', (x) => [h('td', {}, x.enterpriseCode), h('td', {}, x.name), h('td', {}, value('parkId', x.parkId)), h('td', {}, idLinks('Tenant', x.tenantId)), h('td', {}, link('timeline', { type: 'tenant', id: x.tenantId }, t('openTimeline')))]],
    ['authorities', 'ListAuthorities', 'authorities', (x) => [h('td', {}, x.kind), h('td', {}, x.name), h('td', {}, x.jurisdiction), h('td', {}, idLinks('Authority', x.authorityId)), h('td', {}, link('timeline', { type: 'authority', id: x.authorityId }, t('openTimeline')))]],
  ];
  for (const [label, method, key, row] of sections) {
    const section = h('section', { id: `find-${label}` }, h('h3', {}, t(label)));
    out.append(section);
    try {
      const items = (await call('DirectoryService', method, q))[key] || [];
      section.append(items.length ? h('table', {}, h('tbody', {}, items.map((x) => h('tr', {}, row(x))))) : h('p', { class: 'muted' }, t('noRows')));
    } catch (e) {
      section.append(failure(e));
    }
  }
  if (p.park) out.prepend(await responsibilityPanel(p.park, p.date || today(), p));
}

async function responsibilityPanel(parkId, date, p) {
  const form = h('form', { id: 'responsibility', onsubmit: (e) => { e.preventDefault(); go('find', { ...p, ...formValues(form), park: parkId }); } },
    field('date', t('responsibilityOn'), input('date', date, { type: 'date', required: true })),
    h('button', { type: 'submit' }, t('show')));
  const panel = h('div', { class: 'panel', id: 'responsibility-panel' }, form);
  try {
    const r = await call('AuditQueryService', 'GetParkResponsibility', { parkId, date });
    panel.append(h('h3', {}, `${r.parkCode} — ${r.parkName} · ${r.date}`), h('div', { class: 'grid2' },
      h('span', {}, t('responsibleAuthority')), h('span', {}, r.responsibleAuthority ? [r.responsibleAuthority.name, ' ', idLinks('Authority', r.responsibleAuthority.authorityId)] : t('none')),
      h('span', {}, t('assignedAuthority')), h('span', {}, r.assignedAuthority ? [r.assignedAuthority.name, ` (${r.assignedFrom || ''})`] : t('none')),
      h('span', {}, t('company')), h('span', {}, r.company ? [r.company.name, ' ', idLinks('InfrastructureCompany', r.company.companyId)] : t('none')),
      h('span', {}, t('agreement')), h('span', {}, r.agreement ? grid(r.agreement) : t('none'))));
  } catch (e) {
    panel.append(failure(e));
  }
  return panel;
}

// ---------------------------------------------------------------------------------------------
// Timeline (audit question 1)

const SUBJECT_TYPES = { park: 'SUBJECT_TYPE_PARK', company: 'SUBJECT_TYPE_COMPANY', tenant: 'SUBJECT_TYPE_TENANT', authority: 'SUBJECT_TYPE_AUTHORITY' };

function payloadView(json) {
  let parsed;
  try {
    parsed = typeof json === 'string' ? JSON.parse(json) : json;
  } catch {
    return h('pre', {}, String(json));
  }
  return h('div', { class: 'payload' }, value('', parsed));
}

async function timelineView(p) {
  const type = p.type || 'park';
  const lister = listers[type] || listers.park;
  const form = h('form', { id: 'timeline', onsubmit: (e) => { e.preventDefault(); go('timeline', formValues(form)); } },
    field('type', t('subjectType'), selectOf('type', [['park', t('park')], ['company', t('company')], ['tenant', t('tenant')], ['authority', t('authority')]], type, true)),
    field('id', t('subjectId'), idInput('id', p.id, lister, true)),
    field('from', t('fromDate'), input('from', p.from, { type: 'date' })),
    field('to', t('toDate'), input('to', p.to, { type: 'date' })),
    field('types', t('eventTypes'), input('types', p.types, { size: 30 })),
    h('button', { type: 'submit' }, t('show')));
  const status = h('div', { id: 'verify-status' });
  const out = h('div', { id: 'timeline-results' });
  show(h('h2', {}, t('q1')), form, h('p', { class: 'muted' }, t('timesUtc7')), status, out);
  if (!p.id) return;
  let answer;
  try {
    answer = await call('AuditService', 'GetTimeline', {
      subjectType: SUBJECT_TYPES[type], subjectId: p.id,
      fromTime: localDateStart(p.from), toTime: localDateStart(p.to),
      eventTypes: (p.types || '').split(',').map((s) => s.trim()).filter(Boolean),
      pageSize: Number(p.size || 100), pageToken: p.page || '',
    });
  } catch (e) {
    out.append(failure(e));
    return;
  }
  const entries = answer.entries || [];
  const rows = new Map();
  const body = h('tbody', {});
  for (const e of entries) {
    const position = Number(e.position);
    const badge = h('td', { class: 'verify' }, h('span', { class: 'badge wait' }, t('notVerified')));
    const detail = h('td', { colspan: 8 }, payloadView(e.payloadJson));
    const row = h('tr', { class: 'entry', 'data-position': position },
      h('td', { class: 'num' }, link('history', { type: e.aggregateType, id: e.aggregateId, at: position }, String(position))),
      h('td', { title: e.occurredAt }, localTime(e.occurredAt)),
      h('td', { title: e.recordedAt }, localTime(e.recordedAt)),
      h('td', {}, h('strong', {}, e.eventType)),
      h('td', {}, e.aggregateType, ' ', idLinks(e.aggregateType, e.aggregateId)),
      h('td', {}, e.actor ? `${e.actor.principal || ''} (${e.actor.role || ''})` : ''),
      h('td', {}, e.actingAuthorityId ? idLinks('Authority', e.actingAuthorityId) : ''),
      badge);
    const detailRow = h('tr', { class: 'detail' }, detail);
    body.append(row, detailRow);
    rows.set(position, {
      row, badge,
      shown: { eventType: e.eventType, aggregateId: e.aggregateId, occurredAt: e.occurredAt, recordedAt: e.recordedAt },
      onSigned: (event) => detail.replaceChildren(
        h('div', { class: 'muted' }, `${t('signedBytes')} ✓`), payloadView(new TextDecoder().decode(event.payload)),
        h('details', {}, h('summary', {}, t('metadata')), payloadView(new TextDecoder().decode(event.metadata)))),
    });
  }
  out.append(h('table', { class: 'timeline' },
    h('thead', {}, h('tr', {}, [t('position'), `${t('occurredAt')} (UTC+7)`, `${t('recordedAt')} (UTC+7)`, t('eventType'), t('aggregate'), t('actor'), t('actingAuthority'), t('verified')].map((c) => h('th', {}, c)))),
    body));
  if (!entries.length) out.append(h('p', { class: 'muted' }, t('noRows')));
  if (answer.nextPageToken) out.append(link('timeline', { ...p, page: answer.nextPageToken }, t('next')));
  status.append(h('button', { type: 'button', class: 'quiet', id: 'verify-shown', onclick: () => verifyRows(rows, status) }, t('verifyShown')));
  // Checks what is shown, or says why it cannot (no key pinned, or a role that may not read the log).
  await verifyRows(rows, status);
}

// ---------------------------------------------------------------------------------------------
// The audit questions

const QUESTIONS = [
  { id: 'q1', route: 'timeline' },
  { id: 'q2', method: 'GetTenantInspectionRecord', rows: 'inspections', fields: [
    ['tenantId', 'tenant', { required: true }], ['fromDate', 'date'], ['toDate', 'date'], ['asOfDate', 'date']] },
  { id: 'q3', method: 'ListRepeatedInspections', rows: 'entities', fields: [
    ['fromYear', 'number', { required: true, value: '2025' }], ['toYear', 'number'], ['parkId', 'park'], ['companyId', 'company'], ['tenantId', 'tenant']] },
  { id: 'q4', method: 'ListConsultations', rows: 'consultations', fields: [['parkId', 'park'], ['onlyFlagged', 'checkbox']] },
  { id: 'q5', method: 'GetIncidentTimeline', fields: [['incidentId', 'text', { required: true }], ['asOfTime', 'datetime']] },
  { id: 'q6', method: 'ListLateInformationRequests', rows: 'requests', fields: [['companyId', 'company'], ['year', 'number'], ['parkId', 'park'], ['asOf', 'datetime']] },
  { id: 'q7', method: 'ListUnfollowedAlerts', rows: 'alerts', everyRow: 'alert_not_followed_up', fields: [
    ['withinDays', 'number', { required: true, value: '7' }], ['parkId', 'park'], ['companyId', 'company'], ['fromDate', 'date'], ['toDate', 'date'], ['asOfDate', 'date']] },
  { id: 'q8', method: 'GetParkResponsibility', fields: [['parkId', 'park', { required: true }], ['date', 'date', { required: true, value: today() }]] },
  { id: 'q9', method: 'ListLateAnnualReports', rows: 'reports', fields: [['year', 'number', { required: true, value: String(new Date().getUTCFullYear() - 1) }], ['parkId', 'park'], ['asOfDate', 'date']] },
  { id: 'q10', method: 'GetProcedureProcessingTimes', rows: 'procedures', fields: [['splitDate', 'date', { required: true, value: '2025-07-01' }], ['procedureCode', 'text']] },
  { id: 'q11', route: 'history' },
  { id: 'qBreaches', method: 'ListBreaches', rows: 'breaches', fields: [['fromDate', 'date', { required: true, value: '2023-01-01' }], ['toDate', 'date', { required: true, value: today() }], ['parkId', 'park'], ['companyId', 'company'], ['authorityId', 'authority']] },
];

async function questionField([name, kind, opts = {}], p) {
  const v = p[name] ?? opts.value ?? '';
  let control;
  if (kind === 'park') control = await parkSelect(name, v, opts.required);
  else if (kind === 'company') control = await companySelect(name, v);
  else if (kind === 'tenant' || kind === 'authority') control = idInput(name, v, listers[kind], opts.required);
  else if (kind === 'checkbox') control = h('input', { type: 'checkbox', name, id: name, value: 'true', checked: v === 'true' });
  else if (kind === 'datetime') control = input(name, v, { type: 'datetime-local', step: 1 });
  else control = input(name, v, { type: kind === 'number' ? 'number' : kind === 'date' ? 'date' : 'text', required: opts.required, min: kind === 'number' ? 0 : undefined, size: kind === 'text' ? 38 : undefined });
  return field(name, name, control);
}

/** A form's values as the method's request: numbers, booleans and UTC+7 instants converted. */
function request(question, values) {
  const body = {};
  for (const [name, kind] of question.fields) {
    const v = values[name];
    if (v === undefined || v === '') continue;
    if (kind === 'number') body[name] = Number(v);
    else if (kind === 'checkbox') body[name] = v === 'true';
    else if (kind === 'datetime') body[name] = new Date(`${v.length === 16 ? `${v}:00` : v}+07:00`).toISOString();
    else body[name] = v;
  }
  return body;
}

async function auditView(p) {
  const q = QUESTIONS.find((x) => x.id === p.q) || null;
  const menu = h('ul', { id: 'questions' }, QUESTIONS.map((x) => h('li', {},
    x.route ? link(x.route, {}, t(x.id)) : h('a', { href: href('audit', { q: x.id }), id: `question-${x.id}`, class: q && q.id === x.id ? 'active' : '' }, t(x.id)))));
  if (!q) {
    show(h('h2', {}, t('navAudit')), menu);
    return;
  }
  const values = Object.fromEntries(Object.entries(p).filter(([k]) => k !== 'q' && k !== 'run'));
  const form = h('form', { id: 'question', onsubmit: (e) => { e.preventDefault(); go('audit', { q: q.id, ...formValues(form), run: '1' }); } },
    await Promise.all(q.fields.map((f) => questionField(f, values))),
    h('button', { type: 'submit', id: 'run' }, t('run')));
  const out = h('div', { id: 'answer' });
  show(h('h2', {}, t(q.id)), form, h('p', { class: 'muted' }, t('timesUtc7')), out, h('details', {}, h('summary', {}, t('navAudit')), menu));
  if (!p.run) return;
  out.append(t('loading'));
  try {
    const body = request(q, values);
    const answer = q.rows
      ? { [q.rows]: await all('AuditQueryService', q.method, body, q.rows, 2000) }
      : await call('AuditQueryService', q.method, body);
    const rows = answer[q.rows];
    // Every row of some answers is itself the breach (an alert nobody followed up within N days).
    if (q.everyRow) for (const r of rows) r.breaches = [{ limit: q.everyRow, detail: `${body.withinDays} days` }];
    out.replaceChildren(q.rows ? renderRows(rows) : renderSingle(q, answer));
  } catch (e) {
    out.replaceChildren(failure(e));
  }
}

function renderRows(rows) {
  const breaches = rows.filter(breached).length;
  return h('div', {}, h('p', { id: 'answer-count' }, `${rows.length} · ${t('breaches')}: `, h('strong', { class: breaches ? 'breach-count' : '' }, String(breaches))), table(rows));
}

function renderSingle(q, answer) {
  const parts = [];
  if (q.id === 'q5') parts.push(incidentPicture(answer));
  parts.push(h('div', { class: `panel ${breached(answer) ? 'breach' : ''}` }, breached(answer) ? h('p', {}, limitsOf(answer)) : null, grid(answer)));
  return h('div', {}, parts);
}

function incidentPicture(answer) {
  const milestones = (answer.milestones || []).map((m) => ({ label: m.kind.replace('INCIDENT_MILESTONE_KIND_', ''), at: Date.parse(m.at) }));
  const n = answer.notification || {};
  const deadline = n.deadline ? Date.parse(n.deadline) : null;
  for (const m of milestones) m.late = m.label === 'FIRST_NOTIFICATION' && deadline && m.at > deadline;
  if (!milestones.length) return h('p', { class: 'muted' }, t('noRows'));
  return h('div', { class: 'panel', id: 'incident-picture' }, h('h3', {}, t('incidentPicture')),
    incidentChart(milestones, deadline, (ms) => localTime(new Date(ms).toISOString()), { title: t('incidentPicture'), deadline: t('deadline') }));
}

// ---------------------------------------------------------------------------------------------
// History (audit question 11)

const AGGREGATE_TYPES = ['Authority', 'InfrastructureCompany', 'Park', 'Tenant', 'CoordinationAgreement', 'AnnualPlan', 'InformationExchange', 'IndustryConsultation', 'Inspection', 'Incident', 'MonitoringAlert', 'Dissemination', 'AdministrativeProcedure', 'Principal'];

/** What changed between two states: [path, before, after] for each leaf that differs. */
function diff(before, after, path = '') {
  if (JSON.stringify(before) === JSON.stringify(after)) return [];
  const objects = before && after && typeof before === 'object' && typeof after === 'object' && !Array.isArray(before) && !Array.isArray(after);
  if (!objects) return [[path || '(state)', before, after]];
  const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])];
  return keys.flatMap((k) => diff(before[k], after[k], path ? `${path}.${k}` : k));
}

function diffView(changes) {
  if (!changes.length) return h('span', { class: 'muted' }, '—');
  return h('ul', { class: 'diff' }, changes.slice(0, 30).map(([path, a, b]) => h('li', {}, h('code', {}, path), ': ',
    a === undefined ? '' : h('span', { class: 'diff-del' }, JSON.stringify(a)), ' ',
    b === undefined ? '' : h('span', { class: 'diff-add' }, JSON.stringify(b)))));
}

async function historyView(p) {
  const form = h('form', { id: 'history', onsubmit: (e) => { e.preventDefault(); go('history', formValues(form)); } },
    field('type', t('aggregateType'), selectOf('type', AGGREGATE_TYPES.map((x) => [x, x]), p.type || 'Park', true)),
    field('id', t('aggregateId'), input('id', p.id, { required: true, size: 38 })),
    field('at', t('atPosition'), input('at', p.at, { type: 'number', min: 1 })),
    field('by', `${t('recordedBy')} (UTC+7)`, input('by', p.by, { type: 'datetime-local', step: 1 })),
    field('date', t('happenedBy'), input('date', p.date, { type: 'date' })),
    h('button', { type: 'submit' }, t('show')));
  const status = h('div', { id: 'verify-status' });
  const out = h('div', { id: 'history-results' });
  show(h('h2', {}, t('q11')), form, status, out);
  if (!p.id) return;
  const known = p.at ? { atPosition: p.at } : p.by ? { recordedBy: new Date(`${p.by.length === 16 ? `${p.by}:00` : p.by}+07:00`).toISOString() } : p.date ? { happenedByDate: p.date } : {};
  let answer;
  try {
    answer = await call('AuditQueryService', 'GetAggregateHistory', { aggregateType: p.type || 'Park', aggregateId: p.id, ...known });
  } catch (e) {
    out.append(failure(e));
    return;
  }
  let state = {};
  try { state = JSON.parse(answer.stateJson || '{}'); } catch { /* shown raw below */ }
  const entries = answer.entries || [];
  const rows = new Map();
  const body = h('tbody', {});
  const diffCells = [];
  for (const e of entries) {
    const position = Number(e.position);
    const badge = h('td', {}, h('span', { class: 'badge wait' }, t('notVerified')));
    const changes = h('td', { class: 'changes' }, h('span', { class: 'muted' }, '…'));
    const row = h('tr', { 'data-position': position },
      h('td', { class: 'num' }, link('history', { type: answer.aggregateType, id: answer.aggregateId, at: position }, String(position))),
      h('td', { class: 'num' }, e.aggregateVersion),
      h('td', {}, h('strong', {}, e.eventType)),
      h('td', { title: e.occurredAt }, localTime(e.occurredAt)),
      h('td', { title: e.recordedAt }, localTime(e.recordedAt)),
      h('td', {}, `${e.principal || ''} (${e.role || ''})`, e.organisation ? [' ', value('authorityId', e.organisation)] : ''),
      h('td', {}, h('details', {}, h('summary', {}, t('details')), payloadView(e.payloadJson))),
      changes, badge);
    body.append(row);
    diffCells.push([position, changes]);
    rows.set(position, { row, badge, shown: { eventType: e.eventType, aggregateId: answer.aggregateId, occurredAt: e.occurredAt, recordedAt: e.recordedAt } });
  }
  out.append(
    h('div', { class: 'panel' }, h('h3', {}, `${answer.aggregateType} ${answer.aggregateId} · ${t('version')} ${answer.version}`),
      h('details', { open: true }, h('summary', {}, t('state')), payloadView(state))),
    h('table', { class: 'history' },
      h('thead', {}, h('tr', {}, [t('position'), t('version'), t('eventType'), `${t('occurredAt')} (UTC+7)`, `${t('recordedAt')} (UTC+7)`, t('actor'), t('details'), t('changes'), t('verified')].map((c) => h('th', {}, c)))),
      body));
  status.append(h('button', { type: 'button', class: 'quiet', id: 'verify-shown', onclick: () => verifyRows(rows, status) }, t('verifyShown')));
  // What changed at each step: the state after each event against the state before it, as the
  // server folds them (only for a history in stream order: a happened-by date need not be a prefix).
  if (!known.happenedByDate) stepDiffs(answer, diffCells);
  // Checks what is shown, or says why it cannot (no key pinned, or a role that may not read the log).
  await verifyRows(rows, status);
}

async function stepDiffs(answer, cells) {
  let before = {};
  for (const [position, cell] of cells.slice(0, 60)) {
    try {
      const at = await call('AuditQueryService', 'GetAggregateHistory', { aggregateType: answer.aggregateType, aggregateId: answer.aggregateId, atPosition: String(position) });
      const after = JSON.parse(at.stateJson || '{}');
      cell.replaceChildren(diffView(diff(before, after)));
      before = after;
    } catch (e) {
      cell.replaceChildren(failure(e));
      return;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Pictures

async function picturesView(p) {
  const incidentForm = h('form', { id: 'incident-form', onsubmit: (e) => { e.preventDefault(); go('pictures', { ...p, ...formValues(incidentForm) }); } },
    field('park', t('park'), await parkSelect('park', p.park)),
    field('incident', t('incidentId'), input('incident', p.incident, { size: 38 })),
    h('button', { type: 'submit' }, t('draw')));
  const incidents = h('div', { id: 'incidents' });
  const heat = h('div', { id: 'inspections-picture' }, t('loading'));
  const growth = h('div', { id: 'growth-picture' }, t('loading'));
  show(h('h2', {}, t('navPictures')),
    h('section', { class: 'panel' }, h('h3', {}, t('incidentPicture')), incidentForm, incidents),
    h('section', { class: 'panel' }, h('h3', {}, t('inspectionsPicture')), heat),
    h('section', { class: 'panel' }, h('h3', {}, t('growthPicture')), growth));
  const jobs = [drawInspections(heat), drawGrowth(growth)];
  if (p.park) jobs.push(listIncidents(p, incidents));
  if (p.incident) {
    jobs.push(call('AuditQueryService', 'GetIncidentTimeline', { incidentId: p.incident })
      .then((a) => incidents.append(incidentPicture(a), h('div', { class: 'panel' }, limitsOf(a), grid(a.notification || {}))))
      .catch((e) => incidents.append(failure(e))));
  }
  await Promise.all(jobs);
}

async function listIncidents(p, into) {
  try {
    const answer = await call('AuditService', 'GetTimeline', { subjectType: 'SUBJECT_TYPE_PARK', subjectId: p.park, eventTypes: ['IncidentReported'], pageSize: 200 });
    const list = answer.entries || [];
    into.prepend(h('ul', { id: 'incident-list' }, list.map((e) => h('li', {}, link('pictures', { park: p.park, incident: e.aggregateId }, `${localTime(e.occurredAt)} · ${e.aggregateId}`)))),
      list.length ? '' : h('p', { class: 'muted' }, t('noRows')));
  } catch (e) {
    into.prepend(failure(e));
  }
}

async function drawInspections(into) {
  try {
    const list = await parks();
    const counts = new Map();
    const years = new Set();
    let next = 0;
    async function worker() {
      while (next < list.length) {
        const park = list[next++];
        const entries = await all('AuditService', 'GetTimeline', { subjectType: 'SUBJECT_TYPE_PARK', subjectId: park.parkId, eventTypes: ['InspectionPlanned'] }, 'entries', 20000);
        for (const e of entries) {
          const year = localTime(e.occurredAt).slice(0, 4);
          years.add(year);
          counts.set(`${park.code}|${year}`, (counts.get(`${park.code}|${year}`) || 0) + 1);
        }
      }
    }
    await Promise.all([worker(), worker(), worker(), worker()]);
    const columns = [...years].sort();
    into.replaceChildren(heatmap(list.map((x) => x.code), columns, (r, c) => counts.get(`${r}|${c}`) || 0, t('inspectionsPicture')));
  } catch (e) {
    into.replaceChildren(failure(e));
  }
}

async function drawGrowth(into) {
  if (!mayReadLog()) {
    into.replaceChildren(t('needAuditor'));
    return;
  }
  try {
    const cp = await call('AuditService', 'GetCheckpoint', {});
    const size = Number(cp.treeSize);
    const samples = [];
    for (let i = 1; i <= 100; i += 1) samples.push(Math.max(1, Math.round((size * i) / 100)));
    const events = [...(await trust.storedEvents(samples)).values()];
    const recorded = events.map((e) => [Date.parse(e.recordedAt), Number(e.position)]);
    const byBusiness = events.map((e) => Date.parse(e.occurredAt)).sort((a, b) => a - b).map((ms, k, arr) => [ms, Math.round(((k + 1) / arr.length) * size)]);
    into.replaceChildren(
      growthChart([{ name: t('occurredAt'), colour: '#0b5cad', points: byBusiness }], (ms) => localTime(new Date(ms).toISOString()).slice(0, 10), t('growthPicture')),
      growthChart([{ name: t('recordedAt'), colour: '#1b6e3a', points: recorded }], (ms) => localTime(new Date(ms).toISOString()), t('growthPicture')),
      h('p', { class: 'muted' }, `${size} ${t('events')}`));
  } catch (e) {
    into.replaceChildren(failure(e));
  }
}

// ---------------------------------------------------------------------------------------------
// Verify

async function verifyView() {
  const key = trust.pinnedKeyText();
  const box = h('textarea', { id: 'verifier-key', name: 'key', spellcheck: 'false' }, key);
  const message = h('div', { id: 'key-message' });
  const pinForm = h('form', { id: 'pin', onsubmit: async (e) => {
    e.preventDefault();
    try {
      await trust.pinKey(box.value);
      verifyView();
    } catch (err) {
      message.replaceChildren(failure(err));
    }
  } }, field('verifier-key', t('verifierKey'), box), h('button', { type: 'submit', id: 'pin-key' }, t('pinKey')),
  h('button', { type: 'button', class: 'quiet', id: 'pin-server-key', onclick: async () => {
    try {
      const answer = await call('AuditService', 'GetVerifierKey', {});
      await trust.pinKey(answer.verifierKey);
      verifyView();
    } catch (err) {
      message.replaceChildren(failure(err));
    }
  } }, t('useServerKey')),
  key ? h('button', { type: 'button', class: 'quiet', id: 'forget-key', onclick: () => { trust.forgetKey(); verifyView(); } }, t('forgetKey')) : null);
  const result = h('div', { id: 'checkpoint-result' });
  const last = trust.lastCheckpoint();
  show(h('h2', {}, t('navVerify')), pinForm, message,
    key ? h('p', {}, `${t('pinnedKey')}: `, h('code', { id: 'pinned-key' }, key), h('br'), h('span', { class: 'muted' }, t('keyWarning'))) : h('p', {}, t('needKey')),
    last ? h('p', { class: 'muted' }, `${t('lastSeen')}: ${t('treeSize')} ${last.treeSize} (${localTime(last.checkedAt)})`) : null,
    key ? h('button', { type: 'button', id: 'verify-now', onclick: () => checkNow(result) }, t('verifyNow')) : null,
    result);
  showTrust(null);
  if (key) await checkNow(result);
}

async function checkNow(into) {
  into.replaceChildren(t('loading'));
  try {
    const cp = await trust.checkpoint();
    showTrust(cp);
    into.replaceChildren(h('div', { class: 'panel', id: 'checkpoint-ok' },
      h('p', {}, h('span', { class: 'badge ok' }, `✓ ${t('checkpoint')}`), ` ${cp.origin} · ${t('treeSize')} ${cp.treeSize}`),
      h('p', {}, cp.consistency === 'first' ? '' : `✓ ${t('consistent')} (${cp.previous.treeSize} → ${cp.treeSize})`),
      h('pre', { id: 'checkpoint-note' }, cp.note)));
  } catch (e) {
    if (e instanceof trust.Mismatch) raise(e.position, e.reason);
    into.replaceChildren(failure(e));
  }
}

// ---------------------------------------------------------------------------------------------
// Routing

const VIEWS = { find: findView, timeline: timelineView, audit: auditView, history: historyView, pictures: picturesView, verify: verifyView };

async function route() {
  if (!caller) return;
  const [path, query] = location.hash.replace(/^#\/?/, '').split('?');
  const name = VIEWS[path] ? path : 'find';
  const params = Object.fromEntries(new URLSearchParams(query || ''));
  nav(name);
  clearAlarm();
  showTrust(null);
  main.dataset.view = name;
  main.dataset.ready = 'false';
  try {
    await VIEWS[name](params);
  } catch (e) {
    main.append(failure(e));
  }
  main.dataset.ready = 'true';
}

function labelPage() {
  document.title = t('title');
  document.getElementById('title').textContent = t('title');
  document.getElementById('footer').textContent = t('timesUtc7');
  for (const b of document.querySelectorAll('.lang button')) b.setAttribute('aria-pressed', String(b.dataset.lang === language()));
}

async function start() {
  labelPage();
  if (!token()) {
    signInView();
    return;
  }
  try {
    caller = await call('PrincipalService', 'GetCaller', {});
  } catch (e) {
    setToken('');
    caller = null;
    signInView(e.message);
    return;
  }
  await route();
}

for (const b of document.querySelectorAll('.lang button')) {
  b.addEventListener('click', () => {
    setLanguage(b.dataset.lang);
    labelPage();
    if (caller) route();
    else signInView();
  });
}
window.addEventListener('hashchange', route);
setLanguage(language());
start();
