// verify.js — the audit console's independent, in-browser verifier for kcn-ledger.
//
// This module is deliberately independent of the server's Rust implementation: it was written from
// the byte-exact contract integrity.md (leaf encoding, RFC 9162 Merkle tree, C2SP tlog-checkpoint and
// signed-note), not translated from the server's code, so that a bug in the server cannot be silently
// mirrored here. It uses only standard browser APIs (WebCrypto for SHA-256 and Ed25519,
// TextEncoder/TextDecoder, atob/btoa); no libraries and no build step, so an auditor can read the whole
// of what runs.
//
// Conventions: bytes are Uint8Array. Functions that hash or verify signatures are async (WebCrypto is
// asynchronous). Functions throw an Error with a descriptive message when their *input is malformed*
// (wrong hash length, index out of range, unparsable note…), and return false when well-formed input
// simply fails to verify (a proof that does not lead to the root).
//
// Note: browsers expose crypto.subtle only in secure contexts (HTTPS, or http://localhost /
// 127.0.0.1). On a plain-HTTP page served from another host, every crypto function here throws.

const encoder = new TextEncoder();
const HASH_LEN = 32;
const U64_MAX = (1n << 64n) - 1n;
// Domain-separation tag that starts every leaf (integrity.md, "The leaf").
const LEAF_TAG = 'kcn-ledger/event/v1';
// C2SP signed-note signature lines start with U+2014 EM DASH and a space.
const SIG_PREFIX = '\u2014 ';
// Go's note.Open stops at 100 signatures; do the same so a hostile note cannot make us spin.
const MAX_SIGNATURES = 100;
// Signature type byte for Ed25519 in C2SP signed-note keys.
const ALG_ED25519 = 0x01;

function subtle() {
  const s = globalThis.crypto && globalThis.crypto.subtle;
  if (!s) {
    throw new Error(
      'WebCrypto (crypto.subtle) is unavailable: the page must be served over HTTPS or from localhost');
  }
  return s;
}

function assertBytes(b, what) {
  if (!(b instanceof Uint8Array)) throw new Error(`${what} must be a Uint8Array`);
}

function assertHash(b, what) {
  assertBytes(b, what);
  if (b.length !== HASH_LEN) throw new Error(`${what} must be ${HASH_LEN} bytes, got ${b.length}`);
}

function concat(...parts) {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let off = 0;
  for (const p of parts) { out.set(p, off); off += p.length; }
  return out;
}

function bytesEqual(a, b) {
  // Timing does not matter here: everything compared is public data.
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

// Accepts Number, BigInt or a decimal string and returns a BigInt in [0, 2^64). Strings are accepted
// because proto3 JSON carries uint64 as strings (a Number cannot hold every uint64 exactly); BigInt is
// used internally so that bit operations are not truncated to 32 bits as JS's `>>` on Numbers would be.
function toU64(x, what) {
  let v;
  if (typeof x === 'bigint') {
    v = x;
  } else if (typeof x === 'number') {
    if (!Number.isSafeInteger(x)) throw new Error(`${what} must be a non-negative safe integer, got ${x}`);
    v = BigInt(x);
  } else if (typeof x === 'string') {
    if (!/^[0-9]+$/.test(x)) throw new Error(`${what} must be a decimal integer, got ${JSON.stringify(x)}`);
    v = BigInt(x);
  } else {
    throw new Error(`${what} must be a number, BigInt or decimal string, got ${typeof x}`);
  }
  if (v < 0n || v > U64_MAX) throw new Error(`${what} is out of the uint64 range: ${x}`);
  return v;
}

// ---------------------------------------------------------------------------------------------------
// Byte helpers

/** SHA-256 of `bytes` (Uint8Array) → Promise<Uint8Array(32)>. */
export async function sha256(bytes) {
  assertBytes(bytes, 'sha256 input');
  return new Uint8Array(await subtle().digest('SHA-256', bytes));
}

/** Lowercase hex of `bytes`. */
export function hex(bytes) {
  assertBytes(bytes, 'hex input');
  let s = '';
  for (const b of bytes) s += b.toString(16).padStart(2, '0');
  return s;
}

/** Bytes from a hex string (either case, even length, nothing else). */
export function fromHex(s) {
  if (typeof s !== 'string' || s.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(s)) {
    throw new Error(`not a hex string: ${JSON.stringify(String(s).slice(0, 80))}`);
  }
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** Standard base64 (with padding) of `bytes`. */
export function b64encode(bytes) {
  assertBytes(bytes, 'b64encode input');
  let bin = '';
  // Chunked so that large payloads do not overflow the argument limit of String.fromCharCode.
  for (let i = 0; i < bytes.length; i += 0x8000) {
    bin += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  }
  return btoa(bin);
}

/**
 * Bytes from *canonical* standard base64 with padding. atob() is "forgiving" (it accepts missing
 * padding, embedded whitespace and non-zero trailing bits), which would let two different strings
 * decode to the same bytes; re-encoding and comparing makes the encoding of signed data unique.
 */
export function b64decode(s) {
  if (typeof s !== 'string') throw new Error('base64 input must be a string');
  let bin;
  try {
    bin = atob(s);
  } catch {
    throw new Error(`not valid base64: ${JSON.stringify(s.slice(0, 80))}`);
  }
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  if (b64encode(out) !== s) {
    throw new Error(`not canonical standard base64 with padding: ${JSON.stringify(s.slice(0, 80))}`);
  }
  return out;
}

// proto3 JSON parsers must accept standard or URL-safe base64, with or without padding, so the
// conversion of API responses is lenient where the checkpoint parser is strict.
function b64decodeProtoJson(s, what) {
  if (typeof s !== 'string') throw new Error(`${what} must be a base64 string`);
  let t = s.replace(/-/g, '+').replace(/_/g, '/');
  if (t.length % 4 === 2) t += '==';
  else if (t.length % 4 === 3) t += '=';
  let bin;
  try {
    bin = atob(t);
  } catch {
    throw new Error(`${what} is not valid base64`);
  }
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

// ---------------------------------------------------------------------------------------------------
// Leaf encoding (integrity.md, "The leaf")

function u64(x, what) {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, toU64(x, what), false);
  return out;
}

function blob(b, what) {
  assertBytes(b, what);
  if (b.length > 0xffffffff) throw new Error(`${what} is too long for a 4-byte length`);
  const out = new Uint8Array(4 + b.length);
  new DataView(out.buffer).setUint32(0, b.length, false);
  out.set(b, 4);
  return out;
}

function text(s, what) {
  if (typeof s !== 'string') throw new Error(`${what} must be a string`);
  // A lone UTF-16 surrogate would be silently replaced by U+FFFD by TextEncoder, hashing different
  // text from what was given; refuse instead.
  if (typeof s.isWellFormed === 'function' && !s.isWellFormed()) {
    throw new Error(`${what} contains a lone surrogate and has no UTF-8 form`);
  }
  return blob(encoder.encode(s), what);
}

function uuidBytes(s, what) {
  if (typeof s !== 'string' ||
      !/^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/.test(s)) {
    throw new Error(`${what} must be a hyphenated UUID, got ${JSON.stringify(s)}`);
  }
  return fromHex(s.replace(/-/g, ''));
}

/**
 * The exact leaf bytes of an event (before the 0x00 leaf prefix).
 * `event` = {position, event_id, aggregate_type, aggregate_id, aggregate_version, event_type,
 * schema_version, occurred_at, recorded_at, payload, metadata}; numbers as Number, BigInt or decimal
 * string; payload and metadata as Uint8Array. Every field is required (see eventFromJson for
 * proto3-JSON defaults).
 */
export function leafInput(event) {
  if (event === null || typeof event !== 'object') throw new Error('event must be an object');
  return concat(
    text(LEAF_TAG, 'leaf tag'),
    u64(event.position, 'position'),
    blob(uuidBytes(event.event_id, 'event_id'), 'event_id'),
    text(event.aggregate_type, 'aggregate_type'),
    text(event.aggregate_id, 'aggregate_id'),
    u64(event.aggregate_version, 'aggregate_version'),
    text(event.event_type, 'event_type'),
    u64(event.schema_version, 'schema_version'),
    text(event.occurred_at, 'occurred_at'),
    text(event.recorded_at, 'recorded_at'),
    blob(event.payload, 'payload'),
    blob(event.metadata, 'metadata'),
  );
}

/** RFC 9162 leaf hash of raw leaf bytes: SHA-256(0x00 || input). */
export async function hashLeafInput(input) {
  assertBytes(input, 'leaf input');
  return sha256(concat(Uint8Array.of(0x00), input));
}

/** RFC 9162 interior node hash: SHA-256(0x01 || left || right). */
export async function hashChildren(left, right) {
  assertHash(left, 'left child hash');
  assertHash(right, 'right child hash');
  return sha256(concat(Uint8Array.of(0x01), left, right));
}

/** Leaf hash of an event: SHA-256(0x00 || leafInput(event)). */
export async function leafHash(event) {
  return hashLeafInput(leafInput(event));
}

const PROTO_FIELDS = [
  // [snake_case name, lowerCamelCase JSON name, kind]
  ['position', 'position', 'uint64'],
  ['event_id', 'eventId', 'string'],
  ['aggregate_type', 'aggregateType', 'string'],
  ['aggregate_id', 'aggregateId', 'string'],
  ['aggregate_version', 'aggregateVersion', 'uint64'],
  ['event_type', 'eventType', 'string'],
  ['schema_version', 'schemaVersion', 'uint32'],
  ['occurred_at', 'occurredAt', 'string'],
  ['recorded_at', 'recordedAt', 'string'],
  ['payload', 'payload', 'bytes'],
  ['metadata', 'metadata', 'bytes'],
];

/**
 * Converts a LogEvent in Connect / proto3-JSON form (lowerCamelCase or original snake_case keys,
 * uint64 as strings or numbers, bytes as base64) into the shape leafInput expects. Fields absent or
 * null take proto3's defaults ("" / 0 / empty bytes), because proto3 JSON omits default values.
 * Numeric fields come back as Number; a value beyond 2^53-1 is refused rather than rounded, since a
 * rounded position would silently hash different bytes.
 */
export function eventFromJson(json) {
  if (json === null || typeof json !== 'object') throw new Error('LogEvent JSON must be an object');
  const out = {};
  for (const [snake, camel, kind] of PROTO_FIELDS) {
    let v = json[camel];
    if (v === undefined || v === null) v = json[snake];
    const absent = v === undefined || v === null;
    switch (kind) {
      case 'string':
        if (absent) v = '';
        if (typeof v !== 'string') throw new Error(`LogEvent.${camel} must be a string`);
        out[snake] = v;
        break;
      case 'uint64':
      case 'uint32': {
        const n = absent ? 0n : toU64(v, `LogEvent.${camel}`);
        if (kind === 'uint32' && n > 0xffffffffn) throw new Error(`LogEvent.${camel} exceeds uint32`);
        if (n > BigInt(Number.MAX_SAFE_INTEGER)) {
          throw new Error(`LogEvent.${camel} = ${n} exceeds 2^53-1 and cannot be held exactly`);
        }
        out[snake] = Number(n);
        break;
      }
      case 'bytes':
        out[snake] = absent ? new Uint8Array(0) : b64decodeProtoJson(v, `LogEvent.${camel}`);
        break;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------
// Merkle tree (RFC 9162, section 2.1)

/** MTH over leaf hashes (Uint8Array(32) each); the empty tree's root is SHA-256 of nothing. */
export async function rootFromLeafHashes(hashes) {
  if (!Array.isArray(hashes)) throw new Error('leaf hashes must be an array');
  hashes.forEach((h, i) => assertHash(h, `leaf hash ${i}`));
  if (hashes.length === 0) return sha256(new Uint8Array(0));
  const mth = async (lo, hi) => {
    const n = hi - lo;
    if (n === 1) return hashes[lo];
    // Split at the largest power of two strictly smaller than n.
    let k = 1;
    while (k * 2 < n) k *= 2;
    return hashChildren(await mth(lo, lo + k), await mth(lo + k, hi));
  };
  return mth(0, hashes.length);
}

function checkProof(proof, what) {
  if (!Array.isArray(proof)) throw new Error(`${what} must be an array of hashes`);
  proof.forEach((h, i) => assertHash(h, `${what}[${i}]`));
}

/**
 * RFC 9162 section 2.1.3.2: does `proofHashes` prove that `leafHash` is leaf `leafIndex` (0-based; the
 * event at position p is leaf p-1) of the tree of `treeSize` leaves whose root is `rootHash`?
 * Throws on malformed input (hash lengths, leafIndex >= treeSize); returns false if the proof fails.
 */
export async function verifyInclusion(leafHash, leafIndex, treeSize, proofHashes, rootHash) {
  assertHash(leafHash, 'leaf hash');
  assertHash(rootHash, 'root hash');
  checkProof(proofHashes, 'inclusion proof');
  const index = toU64(leafIndex, 'leaf index');
  const size = toU64(treeSize, 'tree size');
  if (index >= size) throw new Error(`leaf index ${index} is not below tree size ${size}`);

  // fn walks the leaf's path, sn the tree's last leaf; where they meet (fn == sn) the right edge of the
  // tree has no sibling at that level, which is why levels are skipped there.
  let fn = index;
  let sn = size - 1n;
  let r = leafHash;
  for (const p of proofHashes) {
    if (sn === 0n) return false; // proof longer than the path
    if ((fn & 1n) === 1n || fn === sn) {
      r = await hashChildren(p, r);
      if ((fn & 1n) === 0n) {
        while ((fn & 1n) === 0n && fn !== 0n) { fn >>= 1n; sn >>= 1n; }
      }
    } else {
      r = await hashChildren(r, p);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  return sn === 0n && bytesEqual(r, rootHash);
}

/**
 * RFC 9162 section 2.1.4.2: does `proofHashes` prove that the tree of `oldSize` leaves with root
 * `oldRoot` is a prefix of the tree of `newSize` leaves with root `newRoot`?
 * oldSize 0: true iff the proof is empty (every tree extends the empty one; oldRoot is not consulted
 * and may be null). Equal sizes: true iff the proof is empty and the roots are equal.
 * Throws on malformed input (hash lengths, oldSize > newSize); returns false if the proof fails.
 */
export async function verifyConsistency(oldSize, newSize, oldRoot, newRoot, proofHashes) {
  const m = toU64(oldSize, 'old tree size');
  const n = toU64(newSize, 'new tree size');
  if (m > n) throw new Error(`old tree size ${m} is larger than new tree size ${n}`);
  assertHash(newRoot, 'new root hash');
  checkProof(proofHashes, 'consistency proof');
  if (m === 0n) return proofHashes.length === 0;
  assertHash(oldRoot, 'old root hash');
  if (m === n) return proofHashes.length === 0 && bytesEqual(oldRoot, newRoot);
  if (proofHashes.length === 0) return false;

  // When the old tree is a complete subtree (size a power of two) its root is a node of the new tree
  // and the proof omits it; put it back so both walks start from the same place.
  const path = (m & (m - 1n)) === 0n ? [oldRoot, ...proofHashes] : proofHashes;
  let fn = m - 1n;
  let sn = n - 1n;
  while ((fn & 1n) === 1n) { fn >>= 1n; sn >>= 1n; }
  let fr = path[0];
  let sr = path[0];
  for (const c of path.slice(1)) {
    if (sn === 0n) return false; // proof longer than the path
    if ((fn & 1n) === 1n || fn === sn) {
      fr = await hashChildren(c, fr);
      sr = await hashChildren(c, sr);
      if ((fn & 1n) === 0n) {
        while ((fn & 1n) === 0n && fn !== 0n) { fn >>= 1n; sn >>= 1n; }
      }
    } else {
      // Nodes to the right of the old tree only contribute to the new root.
      sr = await hashChildren(sr, c);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  return sn === 0n && bytesEqual(fr, oldRoot) && bytesEqual(sr, newRoot);
}

// ---------------------------------------------------------------------------------------------------
// Signed notes and checkpoints (C2SP signed-note and tlog-checkpoint)

// C2SP key names: non-empty, no whitespace, no '+' (which separates the parts of a verifier key).
function isValidKeyName(name) {
  return typeof name === 'string' && name.length > 0 && !/[\s+]/u.test(name) &&
    (typeof name.isWellFormed !== 'function' || name.isWellFormed());
}

async function computeKeyId(name, publicKey) {
  const digest = await sha256(concat(encoder.encode(name), Uint8Array.of(0x0a, ALG_ED25519), publicKey));
  return digest.slice(0, 4);
}

/**
 * Parses and checks a verifier key "<name>+<8 hex key id>+<base64(0x01 || 32-byte Ed25519 key)>".
 * Surrounding whitespace (a pasted trailing newline) is ignored. Resolves to
 * {name, keyId: Uint8Array(4), publicKey: Uint8Array(32), cryptoKey}.
 */
export async function parseVerifierKey(keyText) {
  if (typeof keyText !== 'string') throw new Error('verifier key must be a string');
  // A key name holds no '+', but standard base64 may: the key material is everything after the
  // second '+'.
  const text = keyText.trim();
  const first = text.indexOf('+');
  const second = first < 0 ? -1 : text.indexOf('+', first + 1);
  if (first < 0 || second < 0) {
    throw new Error('verifier key must have the form <name>+<8 hex digits>+<base64 key>');
  }
  const name = text.slice(0, first);
  const idHex = text.slice(first + 1, second);
  const keyB64 = text.slice(second + 1);
  if (!isValidKeyName(name)) throw new Error('verifier key name is empty or contains whitespace');
  if (!/^[0-9a-fA-F]{8}$/.test(idHex)) throw new Error('verifier key id must be 8 hex digits');
  let keyBytes;
  try {
    keyBytes = b64decode(keyB64);
  } catch (e) {
    throw new Error(`verifier key material is not valid base64 (${e.message})`);
  }
  if (keyBytes.length === 0 || keyBytes[0] !== ALG_ED25519) {
    throw new Error('verifier key is not an Ed25519 key (its type byte must be 0x01)');
  }
  if (keyBytes.length !== 1 + 32) {
    throw new Error(`verifier key must hold a 32-byte Ed25519 public key, got ${keyBytes.length - 1} bytes`);
  }
  const publicKey = keyBytes.slice(1);
  const keyId = fromHex(idHex);
  // The key id commits to the name and key; a mismatch means a typo or a tampered key.
  const expectedId = await computeKeyId(name, publicKey);
  if (!bytesEqual(keyId, expectedId)) {
    throw new Error(`verifier key id ${hex(keyId)} does not match its name and key (expected ${hex(expectedId)})`);
  }
  let cryptoKey;
  try {
    cryptoKey = await subtle().importKey('raw', publicKey, { name: 'Ed25519' }, false, ['verify']);
  } catch (e) {
    throw new Error(`cannot import the Ed25519 key (does this browser support Ed25519 in WebCrypto?): ${e.message}`);
  }
  return { name, keyId, publicKey, cryptoKey };
}

// Splits a signed note into its signed text and signature lines, following C2SP signed-note (and Go's
// note.Open, which the format comes from).
function splitNote(note) {
  // A control character other than LF could make what a human reads differ from what was signed.
  if (/[\u0000-\u0009\u000b-\u001f]/.test(note)) throw new Error('note contains a control character');
  if (typeof note.isWellFormed === 'function' && !note.isWellFormed()) {
    throw new Error('note is not valid Unicode text');
  }
  const split = note.lastIndexOf('\n\n');
  if (split < 0) throw new Error('note has no blank line before its signatures');
  const body = note.slice(0, split + 1);
  const sigBlock = note.slice(split + 2);
  if (sigBlock.length === 0 || !sigBlock.endsWith('\n')) {
    throw new Error('note signatures are missing or the last line has no line feed');
  }
  const lines = sigBlock.slice(0, -1).split('\n');
  if (lines.length > MAX_SIGNATURES) throw new Error(`note has more than ${MAX_SIGNATURES} signatures`);
  const sigs = lines.map((line, i) => {
    if (!line.startsWith(SIG_PREFIX)) {
      throw new Error(`note signature line ${i + 1} does not start with an em dash and a space`);
    }
    const rest = line.slice(SIG_PREFIX.length);
    const sp = rest.indexOf(' ');
    const name = sp < 0 ? rest : rest.slice(0, sp);
    const b64 = sp < 0 ? '' : rest.slice(sp + 1);
    if (!isValidKeyName(name)) throw new Error(`note signature line ${i + 1} has an invalid key name`);
    let raw;
    try {
      raw = b64decode(b64);
    } catch {
      throw new Error(`note signature line ${i + 1} is not valid base64`);
    }
    if (raw.length < 5) throw new Error(`note signature line ${i + 1} is too short`);
    return { name, keyId: raw.slice(0, 4), signature: raw.slice(4) };
  });
  return { body, sigs };
}

// C2SP tlog-checkpoint body, as integrity.md fixes it: exactly origin, size and root lines.
function parseCheckpointBody(body) {
  const lines = body.split('\n');
  // body ends with '\n', so split yields a final empty string.
  if (lines.length !== 4 || lines[3] !== '') {
    throw new Error(`checkpoint body must be exactly three lines (origin, size, root), got ${lines.length - 1}`);
  }
  const [origin, sizeText, rootText] = lines;
  if (origin.length === 0) throw new Error('checkpoint origin line is empty');
  if (!/^(0|[1-9][0-9]*)$/.test(sizeText)) {
    throw new Error(`checkpoint tree size must be decimal without leading zeros, got ${JSON.stringify(sizeText)}`);
  }
  const treeSize = Number(sizeText);
  if (!Number.isSafeInteger(treeSize)) throw new Error(`checkpoint tree size ${sizeText} exceeds 2^53-1`);
  let rootHash;
  try {
    rootHash = b64decode(rootText);
  } catch (e) {
    throw new Error(`checkpoint root hash is not canonical base64 (${e.message})`);
  }
  if (rootHash.length !== HASH_LEN) {
    throw new Error(`checkpoint root hash must be ${HASH_LEN} bytes, got ${rootHash.length}`);
  }
  return { origin, treeSize, rootHash };
}

/**
 * Verifies a signed checkpoint note (string, or Uint8Array of UTF-8) with a key from
 * parseVerifierKey. Signature lines of other keys (different name or key id, e.g. witnesses) are
 * ignored; at least one line of this key is required, and every line of this key must verify.
 * If `expectedOrigin` is given the checkpoint's origin must equal it.
 * Resolves to {origin, treeSize: Number, rootHash: Uint8Array(32)}; throws a descriptive Error otherwise.
 */
export async function verifyCheckpoint(noteText, verifierKey, expectedOrigin) {
  let note = noteText;
  if (note instanceof Uint8Array) {
    try {
      note = new TextDecoder('utf-8', { fatal: true }).decode(note);
    } catch {
      throw new Error('note is not valid UTF-8');
    }
  }
  if (typeof note !== 'string') throw new Error('note must be a string or a Uint8Array');
  if (!verifierKey || !verifierKey.cryptoKey || !(verifierKey.keyId instanceof Uint8Array)) {
    throw new Error('verifier key must come from parseVerifierKey');
  }
  const { body, sigs } = splitNote(note);
  // Parse before checking signatures so that a malformed body is reported as such.
  const checkpoint = parseCheckpointBody(body);
  const bodyBytes = encoder.encode(body);

  let verified = 0;
  for (const sig of sigs) {
    if (sig.name !== verifierKey.name || !bytesEqual(sig.keyId, verifierKey.keyId)) continue;
    // A line that claims to be the log's key but does not verify is an error, not something to skip:
    // the note has been altered (this is also what Go's note.Open does).
    const ok = sig.signature.length === 64 &&
      await subtle().verify({ name: 'Ed25519' }, verifierKey.cryptoKey, sig.signature, bodyBytes);
    if (!ok) throw new Error(`checkpoint signature by ${verifierKey.name} does not verify: the note was altered`);
    verified++;
  }
  if (verified === 0) {
    throw new Error(`checkpoint has no signature by ${verifierKey.name}+${hex(verifierKey.keyId)}`);
  }
  if (expectedOrigin !== undefined && expectedOrigin !== null && checkpoint.origin !== expectedOrigin) {
    throw new Error(`checkpoint origin ${JSON.stringify(checkpoint.origin)} is not the expected ${JSON.stringify(expectedOrigin)}`);
  }
  return checkpoint;
}
