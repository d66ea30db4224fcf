// The audit console in headless Chromium against a real server with a generated province: sign in,
// pin the verifier key, find a park and its responsibility, open its timeline and see every event
// verified, run every audit question, open a history with what changed at each step, draw the
// pictures, switch language; then, through a proxy that alters one byte of one stored event, one
// hash of one inclusion proof, the time a timeline shows for one event, or one hash of a
// consistency proof, see the page flag it, naming the position. Screenshots of the main pages go to KCN_SCREENSHOTS.
//
// Run by tests/api/console.rs, which starts the server and gives, in the environment:
//   KCN_CONSOLE_URL   the server's base URL (http://127.0.0.1:<port>)
//   KCN_AUDITOR_TOKEN an auditor's bearer token; KCN_ADMIN_TOKEN the administrator's;
//   KCN_BOARD_TOKEN   a Board officer's; KCN_COMPANY_TOKEN an officer's of company KCN_COMPANY_ID
//   KCN_VERIFIER_KEY  the log's verifier key, as an auditor would receive it out of band
//   KCN_SCREENSHOTS   where to write the screenshots
//   KCN_NOW           the server's clock, when it is not the real one (a test server's is fixed)
//   KCN_TEST_CHROMIUM      the browser (default /usr/bin/chromium)

import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import http from 'node:http';
import { chromium } from 'playwright-core';

const base = need('KCN_CONSOLE_URL');
const auditorToken = need('KCN_AUDITOR_TOKEN');
const adminToken = need('KCN_ADMIN_TOKEN');
const verifierKey = need('KCN_VERIFIER_KEY');
const boardToken = need('KCN_BOARD_TOKEN');
const companyToken = need('KCN_COMPANY_TOKEN');
const companyId = need('KCN_COMPANY_ID');
const shots = process.env.KCN_SCREENSHOTS || 'screenshots';
const chromiumPath = process.env.KCN_TEST_CHROMIUM || '/usr/bin/chromium';
// The server's clock (a test server's is fixed): the acts this script records happen at it.
const now = process.env.KCN_NOW ? Date.parse(process.env.KCN_NOW) : Date.now();

function need(name) {
  const v = process.env[name];
  if (!v) {
    console.error(`FAIL  ${name} is not set (tests/api/console.rs sets it)`);
    process.exit(2);
  }
  return v;
}

const watchdog = setTimeout(() => {
  console.error('FAIL  timed out after 600 s');
  process.exit(2);
}, 600_000);
watchdog.unref();

// ---------------------------------------------------------------------------------------------
// The API, called directly, to find ids the steps use (as an auditor would pick them on the page)

async function api(method, body, bearer = auditorToken) {
  const r = await fetch(`${base}/kcn.ledger.v1.${method}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${bearer}` },
    body: JSON.stringify(body),
  });
  const json = await r.json();
  if (!r.ok) throw new Error(`${method}: ${json.code} ${json.message}`);
  return json;
}

const parks = (await api('DirectoryService/ListParks', { pageSize: 1000 })).parks;
assert.ok(parks.length > 10, 'the province has parks');
// The park with the most events in its first timeline page is the one the steps look at.
let park = parks[0];
let parkEntries = [];
for (const p of parks) {
  const entries = (await api('AuditService/GetTimeline', { subjectType: 'SUBJECT_TYPE_PARK', subjectId: p.parkId, pageSize: 60 })).entries || [];
  if (entries.length > parkEntries.length) {
    park = p;
    parkEntries = entries;
  }
  if (entries.length >= 60) break;
}
assert.ok(parkEntries.length >= 10, 'a park with a timeline');
let incident = null;
for (const p of parks) {
  const entries = (await api('AuditService/GetTimeline', { subjectType: 'SUBJECT_TYPE_PARK', subjectId: p.parkId, eventTypes: ['IncidentReported'], pageSize: 1 })).entries || [];
  if (entries.length) {
    incident = { park: p.parkId, id: entries[0].aggregateId };
    break;
  }
}
assert.ok(incident, 'the province has an incident');
const repeated = (await api('AuditQueryService/ListRepeatedInspections', { fromYear: 2023, toYear: 2026, pageSize: 10 })).entities || [];
assert.ok(repeated.length, 'some tenant was inspected more than once a year');
// A tenant whose inspections breached a legal limit, for question 2's highlighted rows.
const registered = (await api('AuditQueryService/ListBreaches', { fromDate: '2023-01-01', toDate: '2026-12-31', pageSize: 1000 })).breaches || [];
const breachedInspection = registered.find((b) => b.aggregateType === 'Inspection' && b.tenantId);
assert.ok(breachedInspection, 'some inspection breached a limit');
const inspectedTenant = breachedInspection.tenantId;
const year = Number(repeated[0].year);

// ---------------------------------------------------------------------------------------------
// The tampering proxy: forwards to the server, altering what `tamper` says

let tamper = null; // { kind: 'payload' | 'proof' | 'consistency', position }
const tampered = [];
const proxy = http.createServer((req, res) => {
  forward(req, res).catch((e) => {
    console.error('proxy:', e);
    res.writeHead(502);
    res.end();
  });
});

async function forward(req, res) {
  if (process.env.KCN_DEBUG) console.error("proxy", req.method, req.url);
  const chunks = [];
  for await (const c of req) chunks.push(c);
  const body = Buffer.concat(chunks);
  const headers = { ...req.headers };
  delete headers.host;
  delete headers['content-length'];
  const upstream = await fetch(`${base}${req.url}`, { method: req.method, headers, body: req.method === 'GET' || req.method === 'HEAD' ? undefined : body });
  let out = Buffer.from(await upstream.arrayBuffer());
  if (tamper && upstream.ok && req.method === 'POST') out = alter(req.url, body, out);
  const h = {};
  upstream.headers.forEach((v, k) => { if (k !== 'content-length' && k !== 'content-encoding' && k !== 'transfer-encoding') h[k] = v; });
  res.writeHead(upstream.status, h);
  res.end(out);
}

/** Alters one byte of the stored event, or one hash of a proof, for the position `tamper` names. */
function alter(url, requestBody, responseBody) {
  if (process.env.KCN_DEBUG) console.error("alter", url, JSON.stringify(tamper));
  const json = JSON.parse(responseBody.toString('utf8'));
  if (tamper.kind === 'payload' && url.endsWith('.AuditService/GetEvents')) {
    if (process.env.KCN_DEBUG) console.error("events", (json.events || []).map((e) => e.position).join());
    for (const e of json.events || []) {
      if (Number(e.position) !== tamper.position) continue;
      const bytes = Buffer.from(e.payload, 'base64');
      // One byte of the payload: a digit or letter becomes another, so the JSON stays valid.
      const i = bytes.findIndex((b, k) => k > 2 && ((b >= 0x30 && b <= 0x38) || (b >= 0x61 && b <= 0x79)));
      bytes[i] += 1;
      e.payload = bytes.toString('base64');
      tampered.push(`payload of ${e.position}`);
      if (process.env.KCN_DEBUG) console.error("altered", e.position, i);
    }
  }
  if (tamper.kind === 'shown' && url.endsWith('.AuditService/GetTimeline')) {
    // The listing lies about when an event happened; the stored event is left alone.
    for (const e of json.entries || []) {
      if (Number(e.position) !== tamper.position) continue;
      e.occurredAt = new Date(Date.parse(e.occurredAt) - 86_400_000).toISOString();
      tampered.push(`business time shown for ${e.position}`);
    }
  }
  if (tamper.kind === 'proof' && url.endsWith('.AuditService/GetInclusionProof')) {
    const asked = JSON.parse(requestBody.toString('utf8'));
    if (Number(asked.position) === tamper.position && json.hashes && json.hashes.length) {
      const h = Buffer.from(json.hashes[0], 'base64');
      h[7] ^= 0x01;
      json.hashes[0] = h.toString('base64');
      tampered.push(`inclusion proof of ${tamper.position}`);
    }
  }
  if (tamper.kind === 'consistency' && url.endsWith('.AuditService/GetConsistencyProof') && json.hashes && json.hashes.length) {
    const h = Buffer.from(json.hashes[json.hashes.length - 1], 'base64');
    h[0] ^= 0x80;
    json.hashes[json.hashes.length - 1] = h.toString('base64');
    tampered.push('consistency proof');
  }
  return Buffer.from(JSON.stringify(json));
}
await new Promise((resolve) => proxy.listen(0, '127.0.0.1', resolve));
// The proxy answers on "localhost", a secure context as the server's 127.0.0.1 is, so WebCrypto works.
const proxyBase = `http://localhost:${proxy.address().port}`;

// ---------------------------------------------------------------------------------------------
// The browser

await fs.mkdir(shots, { recursive: true });
const browser = await chromium.launch({ executablePath: chromiumPath, args: ['--no-sandbox'] });
let failed = false;
const step = async (name, fn) => {
  const started = Date.now();
  try {
    await fn();
    console.log(`ok    ${name} (${Date.now() - started} ms)`);
  } catch (e) {
    failed = true;
    console.error(`FAIL  ${name}: ${e.stack || e}`);
    // What the page said, for whoever reads the failure.
    for (const p of browser.contexts().flatMap((c) => c.pages())) {
      const said = await p.evaluate(() => `${location.hash} | ${document.getElementById('alarm').textContent} | ${document.getElementById('main').textContent}`).catch(() => '');
      console.error(`      page: ${said.slice(0, 2000)}`);
    }
  }
};

async function newPage(origin) {
  const context = await browser.newContext({ viewport: { width: 1440, height: 1000 }, locale: 'vi-VN' });
  const page = await context.newPage();
  // A debug server on a machine busy with the rest of the test suite can be slow.
  page.setDefaultTimeout(120_000);
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => { if (m.type() === 'error' && !/Failed to load resource/.test(m.text())) errors.push(m.text()); });
  await page.goto(`${origin}/console/`);
  return { page, errors, context };
}

/** Goes to a view and waits until it has rendered (main[data-ready=true]). */
async function view(page, hash) {
  await page.evaluate((h) => {
    document.getElementById('main').dataset.ready = 'false';
    if (location.hash === h) window.dispatchEvent(new HashChangeEvent('hashchange'));
    else location.hash = h;
  }, hash);
  await page.waitForSelector('#main[data-ready="true"]', { timeout: 120_000 });
}

async function signIn(page, bearer = auditorToken) {
  await page.waitForSelector('#signin');
  await page.fill('#token', bearer);
  await page.click('#signin button[type=submit]');
  await page.waitForSelector('#nav:not([hidden])');
}

async function pin(page) {
  await view(page, '#/verify');
  await page.fill('#verifier-key', verifierKey);
  await page.click('#pin-key');
  await page.waitForSelector('#checkpoint-ok, #checkpoint-result .error', { timeout: 120_000 });
  assert.equal(await page.$('#checkpoint-result .error'), null, await page.textContent('#checkpoint-result'));
}

const { page, errors } = await newPage(base);

await step('a wrong token is refused with the server\'s reason', async () => {
  await page.waitForSelector('#signin');
  await page.fill('#token', 'kcn_not-a-token-of-this-server-000000000000');
  await page.click('#signin button[type=submit]');
  await page.waitForSelector('#main .error');
  assert.match(await page.textContent('#main .error'), /token/i);
});

await step('sign in with the auditor\'s token', async () => {
  await signIn(page);
  assert.match(await page.textContent('#caller'), /auditor/);
  await page.screenshot({ path: `${shots}/01-signed-in.png` });
});

await step('pin the verifier key and check the signed checkpoint', async () => {
  await pin(page);
  const note = await page.textContent('#checkpoint-note');
  assert.match(note, /\n\n— /, 'the signed note is shown');
  assert.match(await page.textContent('#trustbar'), /✓/);
  await page.screenshot({ path: `${shots}/02-verify.png` });
});

await step('a malformed key is refused', async () => {
  await page.fill('#verifier-key', verifierKey.replace(/\+[0-9a-f]{8}\+/, '+00000000+'));
  await page.click('#pin-key');
  await page.waitForSelector('#key-message .error');
  // The pinned key stays the good one.
  assert.equal(await page.textContent('#pinned-key'), verifierKey);
});

await step('find a park and its responsibility on a date', async () => {
  await view(page, `#/find?q=${encodeURIComponent(park.code)}`);
  const rows = await page.$$('#find-parks tr');
  assert.ok(rows.length >= 1, 'the park is found');
  assert.match(await page.textContent('#find-parks'), new RegExp(park.name));
  await view(page, `#/find?q=${encodeURIComponent(park.code)}&park=${park.parkId}&date=2025-06-01`);
  const before = await page.textContent('#responsibility-panel');
  await view(page, `#/find?q=${encodeURIComponent(park.code)}&park=${park.parkId}&date=2025-09-01`);
  const after = await page.textContent('#responsibility-panel');
  assert.notEqual(before, after, 'the merger of 2025-07-28 moved the park to another authority');
  await page.screenshot({ path: `${shots}/03-find.png`, fullPage: false });
});

await step("open the park's timeline: every event shown is verified in the browser", async () => {
  await view(page, `#/timeline?type=park&id=${park.parkId}`);
  await page.waitForSelector('#all-verified', { timeout: 120_000 });
  const shown = await page.$$('#timeline-results tr.entry');
  assert.equal(shown.length, parkEntries.length > 100 ? 100 : Math.min(100, shown.length));
  assert.ok(shown.length >= 10);
  assert.equal((await page.$$('#timeline-results .badge.ok')).length, shown.length, 'each row has its check mark');
  assert.match(await page.textContent('#timeline-results tr.detail'), /✓/, 'the payload shown is the signed bytes');
  // Times are shown in UTC+7: the first entry's business time, converted by hand.
  const first = parkEntries[0];
  const local = new Date(Date.parse(first.occurredAt) + 7 * 3600_000).toISOString().replace('T', ' ').slice(0, 19);
  assert.match(await page.textContent('#timeline-results tr.entry'), new RegExp(local));
  await page.screenshot({ path: `${shots}/04-timeline.png` });
});

await step('filter the timeline by kind and date', async () => {
  await view(page, `#/timeline?type=park&id=${park.parkId}&types=InspectionPlanned&from=2024-01-01&to=2026-01-01`);
  const types = await page.$$eval('#timeline-results tr.entry td:nth-child(4)', (cells) => cells.map((c) => c.textContent));
  assert.ok(types.every((x) => x === 'InspectionPlanned'), types.join());
});

const questions = {
  q2: `tenantId=${inspectedTenant}`,
  q3: `fromYear=${year}&toYear=${year}`,
  q4: '',
  q5: `incidentId=${incident.id}`,
  q6: '',
  q7: 'withinDays=7',
  q8: `parkId=${park.parkId}&date=2025-09-01`,
  q9: `year=2024`,
  q10: 'splitDate=2025-07-01',
  qBreaches: 'fromDate=2023-01-01&toDate=2026-12-31',
};
for (const [q, params] of Object.entries(questions)) {
  await step(`audit question ${q} answers`, async () => {
    await view(page, `#/audit?q=${q}&${params}&run=1`);
    const error = await page.$('#answer .error');
    assert.equal(error, null, error ? await error.textContent() : '');
    const rows = await page.$$('#answer table.answer > tbody > tr, #answer .grid2');
    assert.ok(rows.length > 0, `${q} has an answer`);
    if (['q2', 'q6', 'q7', 'q9', 'qBreaches'].includes(q)) {
      assert.ok((await page.$$('#answer tr.breach')).length > 0, `${q} highlights its breaches`);
      assert.ok((await page.$$('#answer tr.breach .limit')).length > 0, `${q} names the limit breached`);
    }
    if (q === 'q5') await page.waitForSelector('#incident-picture svg');
    if (['q2', 'q5', 'qBreaches'].includes(q)) await page.screenshot({ path: `${shots}/05-audit-${q}.png` });
  });
}

await step('the question form submits what was typed', async () => {
  await view(page, '#/audit?q=q8');
  await page.selectOption('#question select[name=parkId]', park.parkId);
  await page.fill('#question input[name=date]', '2025-06-01');
  await page.click('#run');
  await page.waitForFunction(() => location.hash.includes('run=1'));
  await page.waitForSelector('#main[data-ready="true"] #answer .grid2');
  assert.match(await page.textContent('#answer'), new RegExp(park.code));
});

await step('a history: state, who did what, what changed at each step, verified', async () => {
  await view(page, `#/history?type=Park&id=${park.parkId}`);
  await page.waitForSelector('#all-verified', { timeout: 120_000 });
  await page.waitForFunction(() => [...document.querySelectorAll('td.changes')].every((c) => !c.textContent.includes('…')), null, { timeout: 120_000 });
  assert.ok((await page.$$('td.changes .diff li')).length > 0, 'changes are listed');
  await page.screenshot({ path: `${shots}/06-history.png` });
  const entries = await page.$$eval('table.history tbody tr', (rows) => rows.map((r) => r.dataset.position));
  await view(page, `#/history?type=Park&id=${park.parkId}&at=${entries[0]}`);
  assert.equal((await page.$$('table.history tbody tr')).length, 1, 'as of the first position, one event');
  // What had happened by a business date: the park's registration in 2023, none of its later acts.
  await view(page, `#/history?type=Park&id=${park.parkId}&date=2023-01-04`);
  const byDate = await page.$$eval('table.history tbody tr td:nth-child(3)', (cells) => cells.map((c) => c.textContent));
  assert.ok(byDate.length >= 1 && byDate.length < entries.length, byDate.join());
  assert.equal(byDate[0], 'ParkRegistered');
});

await step('the pictures', async () => {
  await view(page, `#/pictures?park=${incident.park}&incident=${incident.id}`);
  await page.waitForSelector('#inspections-picture svg rect');
  await page.waitForSelector('#growth-picture svg path');
  await page.waitForSelector('#incident-picture svg circle');
  await page.screenshot({ path: `${shots}/07-pictures.png`, fullPage: true });
});

await step('English labels, same data', async () => {
  await page.click('#lang-en');
  await page.waitForSelector('#nav-find');
  assert.equal((await page.textContent('#nav-find')).trim(), 'Find');
  await page.click('#lang-vi');
  assert.equal((await page.textContent('#nav-find')).trim(), 'Tra cứu');
});

await step('no script error on any page', async () => {
  assert.deepEqual(errors, []);
});

await step('a Board officer sees timelines and answers, and is told the per-event check is the auditors\'', async () => {
  const { page: p, context, errors: boardErrors } = await newPage(base);
  await signIn(p, boardToken);
  assert.match(await p.textContent('#caller'), /board_officer/);
  await pin(p);
  await view(p, `#/timeline?type=park&id=${park.parkId}`);
  assert.ok((await p.$$('#timeline-results tr.entry')).length >= 10);
  assert.match(await p.textContent('#verify-status'), /kiểm toán viên/);
  assert.equal((await p.$$('#timeline-results .badge.ok')).length, 0, 'no check mark without the check');
  await view(p, `#/audit?q=q10&splitDate=2025-07-01&run=1`);
  assert.equal(await p.$('#answer .error'), null);
  // The raw log stays the auditors': the server refuses it, and the page says so.
  await view(p, `#/pictures`);
  assert.match(await p.textContent('#growth-picture'), /kiểm toán viên/);
  assert.deepEqual(boardErrors, []);
  await p.screenshot({ path: `${shots}/10-board-officer.png` });
  await context.close();
});

await step("a company officer answers questions on its own parks and sees the server's refusals", async () => {
  const own = parks.find((p) => p.companyId === companyId);
  assert.ok(own, 'the company runs a park');
  const { page: p, context, errors: companyErrors } = await newPage(base);
  await signIn(p, companyToken);
  assert.match(await p.textContent('#caller'), /company_officer/);
  await view(p, `#/audit?q=q8&parkId=${own.parkId}&date=2025-09-01&run=1`);
  assert.equal(await p.$('#answer .error'), null);
  assert.match(await p.textContent('#answer'), new RegExp(own.code));
  // Timelines are the Board's and the auditors': the page shows the server's refusal.
  await view(p, `#/timeline?type=park&id=${own.parkId}`);
  assert.match(await p.textContent('#timeline-results .error'), /permission_denied/);
  assert.deepEqual(companyErrors, []);
  await p.screenshot({ path: `${shots}/11-company-officer.png` });
  await context.close();
});

// Through the tampering proxy: a fresh browser, the same key pinned out of band.
const victim = parkEntries[Math.floor(parkEntries.length / 2)];
const victimPosition = Number(victim.position);

for (const [kind, label] of [
  ['payload', 'one byte of a stored event'],
  ['proof', 'one hash of an inclusion proof'],
  ['shown', 'the business time a timeline shows'],
]) {
  await step(`${label} altered in transit is flagged, naming the position`, async () => {
    const { page: p, context } = await newPage(proxyBase);
    await signIn(p);
    await pin(p);
    tamper = { kind, position: victimPosition };
    tampered.length = 0;
    await view(p, `#/timeline?type=park&id=${park.parkId}`);
    try {
      await p.waitForSelector('#alarm:not([hidden])', { timeout: 120_000 });
    } finally {
      tamper = null;
      await p.screenshot({ path: `${shots}/08-tampered-${kind}.png` });
    }
    assert.ok(tampered.length > 0, 'the proxy altered something');
    const alarmText = await p.textContent('#alarm');
    assert.match(alarmText, new RegExp(`\\b${victimPosition}\\b`), alarmText);
    const flagged = await p.$$eval('tr.mismatch', (rows) => rows.map((r) => Number(r.dataset.position)));
    assert.deepEqual(flagged, [victimPosition]);
    await p.screenshot({ path: `${shots}/08-tampered-${kind}.png` });
    await context.close();
  });
}

await step('a consistency proof that does not extend the checkpoint seen last time is flagged', async () => {
  const { page: p, context } = await newPage(proxyBase);
  await signIn(p);
  await pin(p);
  const seen = await p.evaluate(() => JSON.parse(localStorage.getItem('kcn.lastCheckpoint')).treeSize);
  // The log grows: the administrator records one more act.
  await api('PrincipalService/IssuePrincipal', {
    header: { requestId: `console-test-${Date.now()}`, occurredAt: new Date(now - 60_000).toISOString() },
    name: 'Kiểm toán viên (console test)', role: 'ROLE_AUDITOR',
  }, adminToken);
  // Without tampering, the browser sees the log only grew.
  await view(p, '#/verify');
  await p.waitForSelector('#checkpoint-ok');
  assert.match(await p.textContent('#checkpoint-ok'), new RegExp(`${seen} → `));
  await api('PrincipalService/IssuePrincipal', {
    header: { requestId: `console-test-2-${Date.now()}`, occurredAt: new Date(now - 60_000).toISOString() },
    name: 'Kiểm toán viên 2 (console test)', role: 'ROLE_AUDITOR',
  }, adminToken);
  const seenNow = await p.evaluate(() => JSON.parse(localStorage.getItem('kcn.lastCheckpoint')).treeSize);
  // Checkpoints are issued at most about once a second: wait for one past what the browser saw.
  for (let i = 0; i < 50 && Number((await api('AuditService/GetCheckpoint', {})).treeSize) <= seenNow; i += 1) {
    await new Promise((r) => setTimeout(r, 200));
  }
  tamper = { kind: 'consistency' };
  await view(p, '#/verify');
  await p.waitForSelector('#alarm:not([hidden])', { timeout: 120_000 });
  tamper = null;
  const alarmText = await p.textContent('#alarm');
  assert.match(alarmText, new RegExp(`\\b${seenNow}\\b`), alarmText);
  await p.screenshot({ path: `${shots}/09-tampered-consistency.png` });
  await context.close();
});

await browser.close();
proxy.close();
if (failed) {
  console.error('FAIL  the console test failed; screenshots in', shots);
  process.exit(1);
}
console.log('ok    every step; screenshots in', shots);
