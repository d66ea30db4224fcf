// Proves that the console's in-browser verifier (static/verify.js) reproduces every vector of
// tests/fixtures/integrity-vectors.json inside headless Chromium, and that it rejects tampered
// proofs, altered notes, notes signed only by unknown keys and malformed verifier keys.
//
//   cd console && node tests/vectors.mjs
//
// Environment: KCN_TEST_CHROMIUM (default /usr/bin/chromium) is the browser to drive; KCN_CONSOLE_STATIC
// (default ../static) is the directory served, so that a deliberately broken copy of verify.js can be
// pointed at to see this test fail.
//
// The browser computes; Node asserts. Reference values come from the vectors file, and what the file
// does not hold (proofs for every index and size pair, notes signed over malformed bodies) is produced
// here with node:crypto by a small RFC 9162 proof generator and the vectors' signing seed, so that
// nothing the verifier is checked against comes from verify.js itself.

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const staticDir = path.resolve(process.env.KCN_CONSOLE_STATIC || path.join(here, '..', 'static'));
const vectorsPath = path.resolve(here, '..', '..', 'tests', 'fixtures', 'integrity-vectors.json');
const chromiumPath = process.env.KCN_TEST_CHROMIUM || '/usr/bin/chromium';

// A hung browser must not hang CI.
const watchdog = setTimeout(() => {
  console.error('FAIL  timed out after 60 s');
  process.exit(2);
}, 60_000);
watchdog.unref();

const V = JSON.parse(await fs.readFile(vectorsPath, 'utf8'));

// ---------------------------------------------------------------------------------------------------
// Node-side references (node:crypto, independent of verify.js)

const sha = (...parts) => crypto.createHash('sha256').update(Buffer.concat(parts)).digest();
const leafH = (input) => sha(Buffer.of(0x00), input);
const nodeH = (l, r) => sha(Buffer.of(0x01), l, r);
const splitPoint = (n) => { let k = 1; while (k * 2 < n) k *= 2; return k; };
const mth = (hs) => hs.length === 0 ? sha(Buffer.alloc(0))
  : hs.length === 1 ? hs[0]
  : nodeH(mth(hs.slice(0, splitPoint(hs.length))), mth(hs.slice(splitPoint(hs.length))));
// RFC 9162 2.1.3.1 PATH(m, D[n]) and 2.1.4.1 SUBPROOF(m, D[n], b), over leaf hashes.
function inclusionPath(m, hs) {
  if (hs.length <= 1) return [];
  const k = splitPoint(hs.length);
  return m < k ? [...inclusionPath(m, hs.slice(0, k)), mth(hs.slice(k))]
    : [...inclusionPath(m - k, hs.slice(k)), mth(hs.slice(0, k))];
}
function subproof(m, hs, b) {
  if (m === hs.length) return b ? [] : [mth(hs)];
  const k = splitPoint(hs.length);
  return m <= k ? [...subproof(m, hs.slice(0, k), b), mth(hs.slice(k))]
    : [...subproof(m - k, hs.slice(k), false), mth(hs.slice(0, k))];
}
const toHex = (b) => Buffer.from(b).toString('hex');

const kcnLeafHashes = V.events.map((e) => Buffer.from(e.leaf_hash_hex, 'hex'));
const rfcLeafHashes = V.rfc9162_tree.leaf_inputs_hex.map((h) => leafH(Buffer.from(h, 'hex')));

// Every inclusion proof (index < size) and consistency proof (0 < m < n) for both trees.
function allProofs(hs) {
  const inclusion = [];
  const consistency = [];
  for (let n = 1; n <= hs.length; n++) {
    const tree = hs.slice(0, n);
    const root = toHex(mth(tree));
    for (let i = 0; i < n; i++) {
      inclusion.push({ leaf: toHex(hs[i]), index: i, size: n, root, proof: inclusionPath(i, tree).map(toHex) });
    }
    for (let m = 1; m < n; m++) {
      consistency.push({ m, n, oldRoot: toHex(mth(hs.slice(0, m))), newRoot: root,
        proof: subproof(m, tree, true).map(toHex) });
    }
  }
  return { inclusion, consistency };
}

// Signing with the vectors' seed, to build notes the vectors file does not hold.
const S = V.signing;
const logPriv = crypto.createPrivateKey({
  key: Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), Buffer.from(S.ed25519_private_seed_hex, 'hex')]),
  format: 'der', type: 'pkcs8',
});
const rawPublic = (priv) => Buffer.from(crypto.createPublicKey(priv).export({ format: 'jwk' }).x, 'base64url');
const keyId = (name, pub) => sha(Buffer.from(name + '\n'), Buffer.of(0x01), pub).subarray(0, 4);
const sigLine = (body, name, priv) => {
  const sig = crypto.sign(null, Buffer.from(body, 'utf8'), priv);
  return `\u2014 ${name} ${Buffer.concat([keyId(name, rawPublic(priv)), sig]).toString('base64')}\n`;
};
const logLine = (body) => sigLine(body, S.key_name, logPriv);
const otherPriv = crypto.generateKeyPairSync('ed25519').privateKey;
const verifierKeyOf = (name, priv) =>
  `${name}+${toHex(keyId(name, rawPublic(priv)))}+${Buffer.concat([Buffer.of(1), rawPublic(priv)]).toString('base64')}`;

// ---------------------------------------------------------------------------------------------------
// The browser

const contentTypes = { '.js': 'text/javascript; charset=utf-8', '.html': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8', '.json': 'application/json' };
const server = http.createServer(async (req, res) => {
  const urlPath = decodeURIComponent(new URL(req.url, 'http://x').pathname);
  if (urlPath === '/favicon.ico') { res.writeHead(204).end(); return; }
  if (urlPath === '/__blank.html') {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end('<!doctype html><meta charset="utf-8"><title>verify.js vectors</title>');
    return;
  }
  const file = path.join(staticDir, path.normalize(urlPath));
  if (!file.startsWith(staticDir + path.sep)) { res.writeHead(403).end(); return; }
  try {
    const body = await fs.readFile(file);
    res.writeHead(200, { 'content-type': contentTypes[path.extname(file)] || 'application/octet-stream',
      'cache-control': 'no-store' });
    res.end(body);
  } catch {
    res.writeHead(404).end();
  }
});
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const base = `http://127.0.0.1:${server.address().port}`;

let browser;
try {
  browser = await chromium.launch({ executablePath: chromiumPath, args: ['--no-sandbox'], headless: true });
} catch (e) {
  console.error(`FAIL  cannot launch Chromium at ${chromiumPath} (set KCN_TEST_CHROMIUM): ${e.message.split('\n')[0]}`);
  process.exit(1);
}
const page = await browser.newPage();
const pageLog = [];
page.on('pageerror', (e) => pageLog.push(`pageerror: ${e.message}`));
page.on('console', (m) => pageLog.push(`console.${m.type()}: ${m.text()}`));
await page.goto(`${base}/__blank.html`);

// Runs `fn(lib, helpers, arg)` in the page with verify.js imported. Functions cannot cross into the
// page, so the helpers are defined inside the evaluated source.
async function inPage(fn, arg) {
  return page.evaluate(async ({ src, arg }) => {
    const lib = await import('/verify.js');
    const h = {
      bytes: (s) => lib.fromHex(s),
      flip: (s, bit) => { const b = lib.fromHex(s); b[(bit >> 3) % b.length] ^= 1 << (bit & 7); return b; },
      // The error message, or null when `f` did not throw.
      err: async (f) => { try { await f(); return null; } catch (e) { return String(e && e.message || e); } },
    };
    // eslint-disable-next-line no-new-func
    return (new Function(`return (${src})`))()(lib, h, arg);
  }, { src: fn.toString(), arg });
}

let failures = 0;
async function group(name, body) {
  try {
    const summary = await body();
    console.log(`ok    ${name}: ${summary}`);
  } catch (e) {
    failures++;
    // stdout, like the ok lines, so that the report stays in order; the assertion's diff is indented.
    const [first, ...rest] = String(e && e.message || e).trim().split('\n');
    console.log(`FAIL  ${name}: ${first}`);
    for (const line of rest) if (line.trim()) console.log(`        ${line}`);
  }
}

// ---------------------------------------------------------------------------------------------------
// Checks

await group('helpers', async () => {
  const r = await inPage(async (lib, h) => ({
    empty: lib.hex(await lib.sha256(new Uint8Array(0))),
    abc: lib.hex(await lib.sha256(new TextEncoder().encode('abc'))),
    b64: lib.b64encode(lib.fromHex('00ff10')),
    back: lib.hex(lib.b64decode('AP8Q')),
    unpadded: await h.err(() => lib.b64decode('AP8')),
    noncanonical: await h.err(() => lib.b64decode('AP9=')),
    badHex: await h.err(() => lib.fromHex('abc')),
  }));
  assert.equal(r.empty, 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  assert.equal(r.abc, 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  assert.equal(r.b64, 'AP8Q');
  assert.equal(r.back, '00ff10');
  assert.ok(r.unpadded, 'b64decode accepted unpadded base64');
  assert.ok(r.noncanonical, 'b64decode accepted non-canonical trailing bits');
  assert.ok(r.badHex, 'fromHex accepted an odd-length string');
  return 'sha256, hex and strict base64';
});

await group('leaves', async () => {
  const r = await inPage(async (lib, h, events) => {
    const out = [];
    for (const e of events) {
      const ev = { ...e, payload: lib.b64decode(e.payload_base64), metadata: lib.b64decode(e.metadata_base64) };
      // The same event with uint64 fields as numeric strings, as proto3 JSON carries them.
      const asStrings = { ...ev, position: String(e.position), aggregate_version: String(e.aggregate_version),
        schema_version: String(e.schema_version) };
      out.push({ position: e.position, input: lib.hex(lib.leafInput(ev)), hash: lib.hex(await lib.leafHash(ev)),
        hashFromStrings: lib.hex(await lib.leafHash(asStrings)) });
    }
    const ev0 = { ...events[0], payload: new Uint8Array(0), metadata: new Uint8Array(0) };
    const bad = {
      eventId: await h.err(() => lib.leafInput({ ...ev0, event_id: 'not-a-uuid' })),
      negative: await h.err(() => lib.leafInput({ ...ev0, position: -1 })),
      overflow: await h.err(() => lib.leafInput({ ...ev0, position: '18446744073709551616' })),
      fraction: await h.err(() => lib.leafInput({ ...ev0, aggregate_version: 1.5 })),
      payloadString: await h.err(() => lib.leafInput({ ...ev0, payload: '{}' })),
      missing: await h.err(() => lib.leafInput({ ...ev0, metadata: undefined })),
    };
    const max = lib.hex(lib.leafInput({ ...ev0, position: '18446744073709551615' })).slice(46, 62);
    return { out, bad, max };
  }, V.events);
  assert.equal(r.out.length, V.events.length);
  r.out.forEach((got, i) => {
    const want = V.events[i];
    assert.equal(got.input, want.leaf_input_hex, `leaf input of position ${want.position}`);
    assert.equal(got.hash, want.leaf_hash_hex, `leaf hash of position ${want.position}`);
    assert.equal(got.hashFromStrings, want.leaf_hash_hex, `leaf hash of position ${want.position} (numeric strings)`);
  });
  for (const [k, v] of Object.entries(r.bad)) assert.ok(v, `leafInput accepted a malformed event (${k})`);
  assert.equal(r.max, 'ffffffffffffffff', 'u64 max position encodes as eight 0xff bytes');
  return `${r.out.length} leaf inputs and hashes (Numbers and numeric strings); malformed events rejected`;
});

await group('eventFromJson', async () => {
  // The proto3 JSON of each event: lowerCamelCase, uint64 as strings, uint32 as a number, bytes base64.
  const camel = V.events.map((e) => ({
    position: String(e.position), eventId: e.event_id, aggregateType: e.aggregate_type,
    aggregateId: e.aggregate_id, aggregateVersion: String(e.aggregate_version), eventType: e.event_type,
    schemaVersion: e.schema_version, occurredAt: e.occurred_at, recordedAt: e.recorded_at,
    payload: e.payload_base64, metadata: e.metadata_base64,
  }));
  const snake = V.events.map((e) => ({ ...e, payload: e.payload_base64, metadata: e.metadata_base64 }));
  // proto3 JSON omits fields at their default: without metadata the leaf ends in an empty blob.
  const e0 = V.events[0];
  const metaLen = Buffer.from(e0.metadata_base64, 'base64').length;
  const noMetadataInput = e0.leaf_input_hex.slice(0, -2 * (4 + metaLen)) + '00000000';
  const { metadata: _dropped, ...camelNoMeta } = camel[0];
  // URL-safe, unpadded base64 is also valid proto3 JSON.
  const urlSafe = { ...camel[0], payload: Buffer.from(e0.payload_base64, 'base64').toString('base64url') };
  const r = await inPage(async (lib, h, { camel, snake, camelNoMeta, urlSafe }) => {
    const hashes = async (list) => Promise.all(list.map(async (j) => lib.hex(await lib.leafHash(lib.eventFromJson(j)))));
    const shape = lib.eventFromJson(camel[0]);
    return {
      camel: await hashes(camel), snake: await hashes(snake),
      noMeta: lib.hex(lib.leafInput(lib.eventFromJson(camelNoMeta))),
      urlSafe: lib.hex(await lib.leafHash(lib.eventFromJson(urlSafe))),
      types: [typeof shape.position, typeof shape.schema_version, shape.payload instanceof Uint8Array],
      empty: lib.eventFromJson({}),
      tooBig: await h.err(() => lib.eventFromJson({ ...camel[0], position: '9007199254740992' })),
    };
  }, { camel, snake, camelNoMeta, urlSafe });
  const want = V.events.map((e) => e.leaf_hash_hex);
  assert.deepEqual(r.camel, want, 'leaf hashes from camelCase proto3 JSON');
  assert.deepEqual(r.snake, want, 'leaf hashes from snake_case JSON');
  assert.equal(r.noMeta, noMetadataInput, 'absent metadata is empty bytes');
  assert.equal(r.urlSafe, want[0], 'URL-safe unpadded base64 payload');
  assert.deepEqual(r.types, ['number', 'number', true]);
  assert.equal(r.empty.position, 0);
  assert.equal(r.empty.event_id, '');
  assert.ok(r.tooBig, 'eventFromJson accepted a position beyond 2^53-1');
  return 'camelCase and snake_case proto3 JSON, defaults for absent fields';
});

await group('roots', async () => {
  const r = await inPage(async (lib, h, { events, rfcInputs }) => {
    const kcnLeaves = [];
    for (const e of events) {
      kcnLeaves.push(await lib.leafHash({ ...e, payload: lib.b64decode(e.payload_base64), metadata: lib.b64decode(e.metadata_base64) }));
    }
    const rfcLeaves = [];
    for (const x of rfcInputs) rfcLeaves.push(await lib.hashLeafInput(lib.fromHex(x)));
    const roots = async (leaves) => {
      const out = {};
      for (let n = 1; n <= leaves.length; n++) out[n] = lib.hex(await lib.rootFromLeafHashes(leaves.slice(0, n)));
      return out;
    };
    return { kcn: await roots(kcnLeaves), rfc: await roots(rfcLeaves), empty: lib.hex(await lib.rootFromLeafHashes([])) };
  }, { events: V.events, rfcInputs: V.rfc9162_tree.leaf_inputs_hex });
  assert.deepEqual(r.kcn, V.roots_hex_by_tree_size, 'kcn roots by tree size');
  assert.deepEqual(r.rfc, V.rfc9162_tree.roots_hex_by_tree_size, 'RFC 9162 reference roots by tree size');
  assert.equal(r.empty, 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  return `${Object.keys(r.kcn).length} kcn roots and ${Object.keys(r.rfc).length} RFC 9162 reference roots`;
});

await group('inclusion proofs', async () => {
  // Sanity of the Node-side generator used below: it must reproduce the vectors' proofs.
  for (const p of V.inclusion_proofs) {
    assert.equal(p.leaf_index, p.position - 1);
    assert.deepEqual(inclusionPath(p.leaf_index, kcnLeafHashes.slice(0, p.tree_size)).map(toHex), p.proof_hex,
      `reference generator vs vector proof for position ${p.position}`);
  }
  const cases = V.inclusion_proofs.map((p) => ({
    name: `position ${p.position} in size ${p.tree_size}`, leaf: V.events[p.leaf_index].leaf_hash_hex,
    index: p.leaf_index, size: p.tree_size, root: V.roots_hex_by_tree_size[p.tree_size], proof: p.proof_hex,
    root4: V.roots_hex_by_tree_size[4],
  }));
  assert.equal(cases[1].size, 7);
  assert.equal(cases[1].index, 0);
  const r = await inPage(async (lib, h, cases) => {
    const results = [];
    for (const c of cases) {
      const v = (leaf, index, size, proof, root) => lib.verifyInclusion(leaf, index, size, proof, root);
      const proof = c.proof.map(h.bytes);
      const tampered = [];
      // One flipped bit in each proof hash, in the leaf and in the root.
      for (let i = 0; i < proof.length; i++) {
        const p2 = proof.slice(); p2[i] = h.flip(c.proof[i], 37 + i * 11);
        tampered.push([`proof[${i}] bit flipped`, await v(h.bytes(c.leaf), c.index, c.size, p2, h.bytes(c.root))]);
      }
      tampered.push(['leaf bit flipped', await v(h.flip(c.leaf, 200), c.index, c.size, proof, h.bytes(c.root))]);
      tampered.push(['root bit flipped', await v(h.bytes(c.leaf), c.index, c.size, proof, h.flip(c.root, 3))]);
      if (proof.length > 0) tampered.push(['last hash dropped', await v(h.bytes(c.leaf), c.index, c.size, proof.slice(0, -1), h.bytes(c.root))]);
      tampered.push(['extra hash', await v(h.bytes(c.leaf), c.index, c.size, [...proof, h.bytes(c.root)], h.bytes(c.root))]);
      if (c.size > 1) tampered.push(['other index', await v(h.bytes(c.leaf), (c.index + 1) % c.size, c.size, proof, h.bytes(c.root))]);
      // (No "other tree size" variant: the proof of leaf 0 in a tree of 7 is also one of leaf 0 in trees
      // of 5 to 8, since only the path's shape depends on the size; the signed checkpoint binds the size.)
      results.push({ name: c.name, ok: await v(h.bytes(c.leaf), c.index, c.size, proof, h.bytes(c.root)), tampered });
    }
    const c = cases[1];
    // A short proof leads to an interior node; a verifier that does not check that the path was used
    // up would accept it as the root of the larger tree. Here: leaf 0's proof in the tree of 4,
    // offered with the tree of 4's root as if it were the root of the tree of 7.
    const subtree = await lib.verifyInclusion(h.bytes(c.leaf), 0, 7, c.proof.slice(0, 2).map(h.bytes), h.bytes(c.root4));
    const malformed = {
      indexEqualsSize: await h.err(() => lib.verifyInclusion(h.bytes(c.leaf), c.size, c.size, c.proof.map(h.bytes), h.bytes(c.root))),
      shortHash: await h.err(() => lib.verifyInclusion(h.bytes(c.leaf), c.index, c.size, [h.bytes(c.proof[0].slice(2))], h.bytes(c.root))),
      shortRoot: await h.err(() => lib.verifyInclusion(h.bytes(c.leaf), c.index, c.size, [], new Uint8Array(31))),
      hexNotBytes: await h.err(() => lib.verifyInclusion(c.leaf, c.index, c.size, [], h.bytes(c.root))),
    };
    return { results, malformed, subtree };
  }, cases);
  let tamperedCount = 0;
  for (const res of r.results) {
    assert.equal(res.ok, true, `vector inclusion proof for ${res.name} does not verify`);
    for (const [what, ok] of res.tampered) {
      assert.equal(ok, false, `tampered inclusion proof for ${res.name} verified (${what})`);
      tamperedCount++;
    }
  }
  assert.equal(r.subtree, false, 'a proof that stops at an interior node (the root of the tree of 4) verified for the tree of 7');
  for (const [k, v] of Object.entries(r.malformed)) assert.ok(v, `verifyInclusion accepted malformed input (${k})`);
  return `${r.results.length} vector proofs verify, ${tamperedCount + 1} tampered variants fail, malformed input throws`;
});

await group('inclusion proofs, every index and size', async () => {
  const cases = [...allProofs(kcnLeafHashes).inclusion, ...allProofs(rfcLeafHashes).inclusion];
  const r = await inPage(async (lib, h, cases) => {
    const bad = [];
    for (const c of cases) {
      if (!await lib.verifyInclusion(h.bytes(c.leaf), c.index, c.size, c.proof.map(h.bytes), h.bytes(c.root))) {
        bad.push(`${c.index}/${c.size}`);
      }
    }
    return bad;
  }, cases);
  assert.deepEqual(r, [], `generated inclusion proofs that do not verify (index/size): ${r.join(', ')}`);
  return `${cases.length} generated proofs over both trees verify`;
});

await group('consistency proofs', async () => {
  for (const p of V.consistency_proofs) {
    if (p.first_size === p.second_size) continue;
    assert.deepEqual(subproof(p.first_size, kcnLeafHashes.slice(0, p.second_size), true).map(toHex), p.proof_hex,
      `reference generator vs vector proof ${p.first_size}→${p.second_size}`);
  }
  const roots = V.roots_hex_by_tree_size;
  const cases = V.consistency_proofs.map((p) => ({ m: p.first_size, n: p.second_size,
    oldRoot: roots[p.first_size], newRoot: roots[p.second_size], proof: p.proof_hex }));
  // The proof 2→7 without its last hash leads to the root of the tree of 4: offered as the root of the
  // tree of 7 it must fail (the path was not used up).
  const short2to7 = subproof(2, kcnLeafHashes.slice(0, 7), true).slice(0, -1).map(toHex);
  const r = await inPage(async (lib, h, { cases, roots, short2to7 }) => {
    const v = (m, n, o, nr, p) => lib.verifyConsistency(m, n, o, nr, p);
    const results = [];
    for (const c of cases) {
      const proof = c.proof.map(h.bytes);
      const oldRoot = h.bytes(c.oldRoot);
      const newRoot = h.bytes(c.newRoot);
      const tampered = [];
      for (let i = 0; i < proof.length; i++) {
        const p2 = proof.slice(); p2[i] = h.flip(c.proof[i], 101 + i * 13);
        tampered.push([`proof[${i}] bit flipped`, await v(c.m, c.n, oldRoot, newRoot, p2)]);
      }
      tampered.push(['old root bit flipped', await v(c.m, c.n, h.flip(c.oldRoot, 9), newRoot, proof)]);
      tampered.push(['new root bit flipped', await v(c.m, c.n, oldRoot, h.flip(c.newRoot, 250), proof)]);
      if (proof.length > 0) tampered.push(['last hash dropped', await v(c.m, c.n, oldRoot, newRoot, proof.slice(0, -1))]);
      tampered.push(['extra hash', await v(c.m, c.n, oldRoot, newRoot, [...proof, newRoot])]);
      if (c.m > 1 && c.m < c.n) tampered.push(['other old size', await v(c.m - 1, c.n, oldRoot, newRoot, proof)]);
      results.push({ name: `${c.m}→${c.n}`, ok: await v(c.m, c.n, oldRoot, newRoot, proof), tampered });
    }
    const r7 = h.bytes(roots[7]);
    const r6 = h.bytes(roots[6]);
    const edges = {
      fromEmpty: await v(0, 7, null, r7, []),
      fromEmptyWithProof: await v(0, 7, null, r7, [r6]),
      equal: await v(7, 7, r7, r7, []),
      equalDifferentRoots: await v(7, 7, r6, r7, []),
      equalWithProof: await v(7, 7, r7, r7, [r6]),
      shortPathToSubtreeRoot: await v(2, 7, h.bytes(roots[2]), h.bytes(roots[4]), short2to7.map(h.bytes)),
    };
    const malformed = {
      shrinking: await h.err(() => v(7, 6, r7, r6, [])),
      shortHash: await h.err(() => v(6, 7, r6, r7, [new Uint8Array(31)])),
      shortRoot: await h.err(() => v(6, 7, r6.slice(1), r7, [])),
    };
    return { results, edges, malformed };
  }, { cases, roots, short2to7 });
  let tamperedCount = 0;
  for (const res of r.results) {
    assert.equal(res.ok, true, `vector consistency proof ${res.name} does not verify`);
    for (const [what, ok] of res.tampered) {
      assert.equal(ok, false, `tampered consistency proof ${res.name} verified (${what})`);
      tamperedCount++;
    }
  }
  assert.deepEqual(r.edges, { fromEmpty: true, fromEmptyWithProof: false, equal: true,
    equalDifferentRoots: false, equalWithProof: false, shortPathToSubtreeRoot: false },
  'size-0 and equal-size edge cases, short path');
  for (const [k, v] of Object.entries(r.malformed)) assert.ok(v, `verifyConsistency accepted malformed input (${k})`);
  return `${r.results.length} vector proofs verify, ${tamperedCount} tampered variants fail, edge cases hold`;
});

await group('consistency proofs, every size pair', async () => {
  const cases = [...allProofs(kcnLeafHashes).consistency, ...allProofs(rfcLeafHashes).consistency];
  const r = await inPage(async (lib, h, cases) => {
    const bad = [];
    for (const c of cases) {
      const ok = await lib.verifyConsistency(c.m, c.n, h.bytes(c.oldRoot), h.bytes(c.newRoot), c.proof.map(h.bytes));
      // Swapping the roots must fail for every pair (the trees differ).
      const swapped = await lib.verifyConsistency(c.m, c.n, h.bytes(c.newRoot), h.bytes(c.oldRoot), c.proof.map(h.bytes));
      if (!ok || swapped) bad.push(`${c.m}→${c.n}${ok ? ' (swapped roots verified)' : ''}`);
    }
    return bad;
  }, cases);
  assert.deepEqual(r, [], `generated consistency proofs misjudged: ${r.join(', ')}`);
  return `${cases.length} generated proofs over both trees verify, with swapped roots they fail`;
});

await group('verifier key', async () => {
  // Sanity of the vectors' key material and of the Node signing helper.
  assert.equal(toHex(rawPublic(logPriv)), S.public_key_hex);
  assert.equal(verifierKeyOf(S.key_name, logPriv), S.verifier_key);
  const good = S.verifier_key;
  const [name, id, b64] = good.split('+');
  const keyBytes = Buffer.from(b64, 'base64');
  const withKey = (bytes) => `${name}+${id}+${Buffer.from(bytes).toString('base64')}`;
  const malformed = {
    empty: '',
    twoParts: `${name}+${id}`,
    fourParts: `${good}+x`,
    wrongKeyId: `${name}+48ec2b12+${b64}`,
    sevenHexDigits: `${name}+48ec2b1+${b64}`,
    nonHexKeyId: `${name}+48ec2b1g+${b64}`,
    wrongName: `other-name+${id}+${b64}`,
    emptyName: `+${id}+${b64}`,
    nameWithSpace: `kcn ledger+${id}+${b64}`,
    typeByte2: withKey(Buffer.concat([Buffer.of(2), keyBytes.subarray(1)])),
    shortKey: withKey(keyBytes.subarray(0, 32)),
    longKey: withKey(Buffer.concat([keyBytes, Buffer.of(0)])),
    badBase64: `${name}+${id}+!!!!`,
    spaceInBase64: `${name}+${id}+${b64.slice(0, 20)} ${b64.slice(20)}`,
  };
  // Standard base64 may hold '+', the separator of the key's parts: a key whose material does
  // (as a log's generated key may) must parse. Keys are drawn until one's base64 has a '+'.
  let plusKey;
  let plusName;
  do {
    plusName = `kcn-ledger.local/${crypto.randomBytes(8).toString('hex')}`;
    plusKey = verifierKeyOf(plusName, crypto.generateKeyPairSync('ed25519').privateKey);
  } while (!plusKey.split('+').slice(2).join('+').includes('+'));
  const r = await inPage(async (lib, h, { good, malformed, plusKey }) => {
    const k = await lib.parseVerifierKey(good);
    const plus = await lib.parseVerifierKey(plusKey);
    const trailing = await lib.parseVerifierKey(good + '\n');
    const errors = {};
    for (const [what, text] of Object.entries(malformed)) errors[what] = await h.err(() => lib.parseVerifierKey(text));
    return { name: k.name, keyId: lib.hex(k.keyId), publicKey: lib.hex(k.publicKey),
      cryptoKey: k.cryptoKey instanceof CryptoKey && k.cryptoKey.algorithm.name, trailing: trailing.name, errors,
      plusName: plus.name };
  }, { good, malformed, plusKey });
  assert.equal(r.plusName, plusName, `a key with '+' in its base64 parses (${plusKey})`);
  assert.equal(r.name, S.key_name);
  assert.equal(r.keyId, S.key_id_hex);
  assert.equal(r.publicKey, S.public_key_hex);
  assert.equal(r.cryptoKey, 'Ed25519');
  assert.equal(r.trailing, S.key_name, 'a trailing newline is tolerated');
  for (const [what, msg] of Object.entries(r.errors)) {
    assert.ok(msg, `parseVerifierKey accepted a malformed key (${what}: ${JSON.stringify(malformed[what])})`);
  }
  assert.match(r.errors.wrongKeyId, /does not match/);
  assert.match(r.errors.typeByte2, /0x01/);
  return `parses the vector key; ${Object.keys(malformed).length} malformed keys rejected`;
});

await group('checkpoint', async () => {
  const note = S.checkpoint_note;
  const split = note.lastIndexOf('\n\n');
  const body = note.slice(0, split + 1);
  const logSig = note.slice(split + 2);
  assert.equal(body + '\n' + logLine(body), note, 'the vectors note is reproduced byte for byte from its seed');
  const root7 = Buffer.from(V.roots_hex_by_tree_size[7], 'hex').toString('base64');
  const root3 = Buffer.from(V.roots_hex_by_tree_size[3], 'hex').toString('base64');
  const otherName = 'witness.example';
  const signed = (b, ...lines) => b + '\n' + lines.join('');
  const ok = {
    vector: note,
    unknownLineAfter: note + sigLine(body, otherName, otherPriv),
    unknownLineBefore: signed(body, sigLine(body, otherName, otherPriv), logSig),
    sameNameOtherKeyBefore: signed(body, sigLine(body, S.key_name, otherPriv), logSig),
    duplicateLogLine: note + logSig,
    otherSizeSigned: signed(`${S.origin}\n3\n${root3}\n`, logLine(`${S.origin}\n3\n${root3}\n`)),
  };
  // Every byte of the body altered in turn (each a different character), keeping the signature.
  const altered = [];
  for (let i = 0; i < body.length; i++) {
    const c = body[i] === '7' ? '8' : body[i] === 'A' ? 'B' : body[i] === '\n' ? 'x' : String.fromCharCode(body.charCodeAt(i) ^ 1);
    altered.push(body.slice(0, i) + c + body.slice(i + 1) + note.slice(split + 1));
  }
  const fail = {
    sizeAltered: [note.replace('\n7\n', '\n8\n'), /does not verify/],
    rootAltered: [note.replace('KRzs', 'KRzt'), /does not verify/],
    originAltered: [note.replace('test/log', 'test/loh'), /does not verify/],
    onlyUnknownKey: [signed(body, sigLine(body, otherName, otherPriv)), /no signature/],
    onlyLogNameOtherKey: [signed(body, sigLine(body, S.key_name, otherPriv)), /no signature/],
    forgedLogLineBesideGood: [signed(body, logSig, `\u2014 ${S.key_name} ${Buffer.concat([Buffer.from(S.key_id_hex, 'hex'), crypto.randomBytes(64)]).toString('base64')}\n`), /does not verify/],
    shortLogSignature: [signed(body, `\u2014 ${S.key_name} ${Buffer.concat([Buffer.from(S.key_id_hex, 'hex'), crypto.randomBytes(32)]).toString('base64')}\n`), /does not verify/],
    noSignatures: [body + '\n', /signature/],
    noBlankLine: [body + logSig, /blank line/],
    noFinalNewline: [note.slice(0, -1), /line feed/],
    hyphenNotEmDash: [signed(body, logSig.replace('\u2014', '-')), /em dash/],
    crlf: [note.replace(/\n/g, '\r\n'), /control character/],
    leadingZeroSize: [signed(`${S.origin}\n07\n${root7}\n`, logLine(`${S.origin}\n07\n${root7}\n`)), /leading zeros/],
    extensionLine: [signed(`${S.origin}\n7\n${root7}\nextra\n`, logLine(`${S.origin}\n7\n${root7}\nextra\n`)), /three lines/],
    twoLines: [signed(`${S.origin}\n7\n`, logLine(`${S.origin}\n7\n`)), /three lines/],
    emptyOrigin: [signed(`\n7\n${root7}\n`, logLine(`\n7\n${root7}\n`)), /./],
    unpaddedRoot: [signed(`${S.origin}\n7\n${root7.replace(/=$/, '')}\n`, logLine(`${S.origin}\n7\n${root7.replace(/=$/, '')}\n`)), /base64/],
    shortRoot: [signed(`${S.origin}\n7\n${root7.slice(0, -4)}\n`, logLine(`${S.origin}\n7\n${root7.slice(0, -4)}\n`)), /32 bytes/],
    hugeSize: [signed(`${S.origin}\n9007199254740992\n${root7}\n`, logLine(`${S.origin}\n9007199254740992\n${root7}\n`)), /2\^53/],
    negativeSize: [signed(`${S.origin}\n-7\n${root7}\n`, logLine(`${S.origin}\n-7\n${root7}\n`)), /decimal/],
  };
  const r = await inPage(async (lib, h, { key, ok, fail, altered, origin }) => {
    const k = await lib.parseVerifierKey(key);
    const accepted = {};
    for (const [what, text] of Object.entries(ok)) {
      try {
        const c = await lib.verifyCheckpoint(text, k);
        accepted[what] = { origin: c.origin, treeSize: c.treeSize, root: lib.hex(c.rootHash) };
      } catch (e) {
        accepted[what] = { error: e.message };
      }
    }
    const rejected = {};
    for (const [what, text] of Object.entries(fail)) rejected[what] = await h.err(() => lib.verifyCheckpoint(text, k));
    const alteredAccepted = [];
    for (let i = 0; i < altered.length; i++) {
      if (!await h.err(() => lib.verifyCheckpoint(altered[i], k))) alteredAccepted.push(i);
    }
    const bytesNote = await lib.verifyCheckpoint(new TextEncoder().encode(ok.vector), k);
    return {
      accepted, rejected, alteredAccepted,
      bytesNote: bytesNote.treeSize,
      withOrigin: (await lib.verifyCheckpoint(ok.vector, k, origin)).treeSize,
      wrongOrigin: await h.err(() => lib.verifyCheckpoint(ok.vector, k, origin + 'x')),
      treeSizeType: typeof (await lib.verifyCheckpoint(ok.vector, k)).treeSize,
    };
  }, { key: S.verifier_key, ok, fail: Object.fromEntries(Object.entries(fail).map(([k, v]) => [k, v[0]])),
    altered, origin: S.origin });
  for (const [what, got] of Object.entries(r.accepted)) {
    assert.equal(got.error, undefined, `checkpoint note rejected (${what}): ${got.error}`);
    const size = what === 'otherSizeSigned' ? 3 : 7;
    assert.deepEqual(got, { origin: S.origin, treeSize: size, root: V.roots_hex_by_tree_size[size] }, `checkpoint ${what}`);
  }
  for (const [what, [, pattern]] of Object.entries(fail)) {
    assert.ok(r.rejected[what], `checkpoint note accepted (${what})`);
    assert.match(r.rejected[what], pattern, `checkpoint note rejected for the wrong reason (${what})`);
  }
  assert.deepEqual(r.alteredAccepted, [], `notes with one altered body byte accepted at offsets ${r.alteredAccepted}`);
  assert.equal(r.bytesNote, 7, 'note given as UTF-8 bytes');
  assert.equal(r.withOrigin, 7, 'expected origin matches');
  assert.match(r.wrongOrigin || '', /origin/, 'an unexpected origin is rejected');
  assert.equal(r.treeSizeType, 'number');
  return `vector note verifies (size 7, root matches); unknown-key lines ignored; ${altered.length} one-byte ` +
    `body alterations and ${Object.keys(fail).length} other bad notes rejected`;
});

await browser.close();
server.close();
if (failures > 0) {
  console.error(`\n${failures} check group(s) FAILED (vectors: ${vectorsPath}, served: ${staticDir})`);
  if (pageLog.length) console.error('browser log:\n  ' + pageLog.join('\n  '));
  process.exit(1);
}
console.log('all integrity vectors reproduced in Chromium');
