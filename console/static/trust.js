// What the page trusts, and how it checks the server against it: the log's verifier key (pasted,
// or pinned on first use), the last checkpoint this browser verified (kept in localStorage), and,
// for every event the page shows, its signed leaf. Nothing here believes the server: verify.js
// recomputes every hash and checks every signature itself.

import { call } from './api.js';
import {
  parseVerifierKey, verifyCheckpoint, verifyConsistency, verifyInclusion, leafHash, eventFromJson,
  b64decode, b64encode, hex,
} from './verify.js';

const KEY = 'kcn.verifierKey';
const LAST = 'kcn.lastCheckpoint';

export function pinnedKeyText() {
  return localStorage.getItem(KEY) || '';
}

/** Pins `text` as the log's verifier key, after checking its form; forgets the last checkpoint
 * when the key changes (it was another log's). */
export async function pinKey(text) {
  const trimmed = text.trim();
  await parseVerifierKey(trimmed);
  if (trimmed !== pinnedKeyText()) localStorage.removeItem(LAST);
  localStorage.setItem(KEY, trimmed);
}

export function forgetKey() {
  localStorage.removeItem(KEY);
  localStorage.removeItem(LAST);
}

export function lastCheckpoint() {
  try {
    return JSON.parse(localStorage.getItem(LAST) || 'null');
  } catch {
    return null;
  }
}

/** A verification failure the page shows loudly. */
export class Mismatch extends Error {
  constructor(position, reason) {
    super(position ? `position ${position}: ${reason}` : reason);
    this.position = position;
    this.reason = reason;
  }
}

let current = null; // { treeSize, rootHash, origin, note, consistency }

/** Fetches the latest checkpoint, checks its signature with the pinned key, and checks that it
 * extends the one this browser verified last time; remembers it. Throws Mismatch on any failure. */
export async function checkpoint() {
  const keyText = pinnedKeyText();
  if (!keyText) throw new Error('no verifier key is pinned');
  const key = await parseVerifierKey(keyText);
  const answer = await call('AuditService', 'GetCheckpoint', {});
  let cp;
  try {
    cp = await verifyCheckpoint(answer.note || '', key);
  } catch (e) {
    throw new Mismatch(0, `the checkpoint's signature does not verify with the pinned key (${e.message})`);
  }
  const last = lastCheckpoint();
  let consistency = 'first';
  if (last && last.origin === cp.origin) {
    const oldRoot = b64decode(last.root);
    if (last.treeSize > cp.treeSize) {
      throw new Mismatch(cp.treeSize + 1, `the log shrank: this browser saw tree size ${last.treeSize}, the server now signs ${cp.treeSize}`);
    }
    if (last.treeSize === cp.treeSize) {
      if (hex(oldRoot) !== hex(cp.rootHash)) {
        throw new Mismatch(cp.treeSize, `two different roots are signed for tree size ${cp.treeSize}`);
      }
      consistency = 'same';
    } else {
      const proof = await call('AuditService', 'GetConsistencyProof', {
        oldSize: String(last.treeSize), newSize: String(cp.treeSize),
      });
      const ok = await verifyConsistency(last.treeSize, cp.treeSize, oldRoot, cp.rootHash,
        (proof.hashes || []).map(b64decode));
      if (!ok) {
        throw new Mismatch(last.treeSize, `the log of size ${cp.treeSize} does not extend the one of size ${last.treeSize} this browser saw last time: an event at or before position ${last.treeSize} was altered, removed or reordered`);
      }
      consistency = 'grew';
    }
  }
  localStorage.setItem(LAST, JSON.stringify({
    origin: cp.origin, treeSize: cp.treeSize, root: b64encode(cp.rootHash), note: answer.note,
    checkedAt: new Date().toISOString(),
  }));
  current = { ...cp, note: answer.note, consistency, previous: last };
  return current;
}

/** The events at `positions` as the log stores them (GetEvents, every leaf field). */
export async function storedEvents(positions) {
  const found = new Map();
  let left = [...new Set(positions)].map(String);
  while (left.length) {
    const batch = left.slice(0, 100);
    left = left.slice(100);
    const answer = await call('AuditService', 'GetEvents', { positions: batch });
    for (const e of answer.events || []) found.set(Number(e.position), e);
    left = [...(answer.remainingPositions || []).map(String), ...left];
    if (!(answer.events || []).length) break;
  }
  return found;
}

/** Checks each shown event: its stored fields hash to a leaf that the signed checkpoint includes,
 * and what the page shows of it (`shown`: position → {eventType, aggregateId, occurredAt,
 * recordedAt}) is what those fields say. The payload a verified event shows is then the signed
 * bytes themselves (the page swaps the server's decoded form for them). Resolves to { checkpoint, results: Map(position →
 * {ok, reason, event}) }; a failure names its position. */
export async function verifyShown(shown) {
  let cp = await checkpoint();
  const positions = [...shown.keys()];
  if (positions.some((p) => p > cp.treeSize)) cp = await checkpoint();
  const stored = await storedEvents(positions);
  const results = new Map();
  const queue = [...positions];
  async function worker() {
    while (queue.length) {
      const p = queue.shift();
      results.set(p, await checkOne(p, stored.get(p), shown.get(p), cp));
    }
  }
  await Promise.all(Array.from({ length: 6 }, worker));
  return { checkpoint: cp, results };
}

async function checkOne(position, raw, shown, cp) {
  if (!raw) return { ok: false, reason: 'the server did not return the stored event' };
  if (position > cp.treeSize) return { ok: false, pending: true, reason: `not yet in a signed checkpoint (size ${cp.treeSize})` };
  const event = eventFromJson(raw);
  const leaf = await leafHash(event);
  const proof = await call('AuditService', 'GetInclusionProof', {
    position: String(position), treeSize: String(cp.treeSize),
  });
  const included = await verifyInclusion(leaf, position - 1, cp.treeSize,
    (proof.hashes || []).map(b64decode), cp.rootHash);
  if (!included) {
    const stated = proof.leafHash ? hex(b64decode(proof.leafHash)) : '';
    const reason = stated && stated !== hex(leaf)
      ? 'the stored event does not hash to the leaf the log signed: its bytes were altered'
      : 'the inclusion proof does not lead to the signed root';
    return { ok: false, reason, event };
  }
  const differs = shownDiffers(shown, event);
  if (differs) return { ok: false, reason: `the page was shown a different ${differs} than the signed event holds`, event };
  return { ok: true, event, leaf: hex(leaf) };
}

/** The first field of what the page showed that the signed event contradicts, or ''. */
function shownDiffers(shown, event) {
  if (!shown) return '';
  if (shown.eventType !== undefined && shown.eventType !== event.event_type) return 'event type';
  if (shown.aggregateId !== undefined && shown.aggregateId !== event.aggregate_id) return 'aggregate';
  if (shown.occurredAt !== undefined && micros(shown.occurredAt) !== micros(event.occurred_at)) return 'business time';
  if (shown.recordedAt !== undefined && micros(shown.recordedAt) !== micros(event.recorded_at)) return 'recorded time';
  return '';
}

/** An RFC 3339 instant as microseconds since the epoch (a BigInt; JavaScript dates stop at
 * milliseconds, and the log keeps six digits). */
export function micros(iso) {
  const m = /^(.*T\d{2}:\d{2}:\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})$/.exec(iso || '');
  if (!m) return null;
  const seconds = Date.parse(`${m[1]}${m[3]}`);
  if (Number.isNaN(seconds)) return null;
  const fraction = ((m[2] || '') + '000000').slice(0, 6);
  return BigInt(seconds) * 1000n + BigInt(fraction);
}
