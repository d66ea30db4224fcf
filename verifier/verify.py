#!/usr/bin/env python3
"""Independent verifier of a kcn-ledger transparency log.

Written from the integrity contract (integrity.md) alone, sharing no code with the server: it reads
every event from a running server's AuditService, recomputes each leaf from the event's fields, the
RFC 9162 Merkle tree over them and its root, checks the signed checkpoint (C2SP signed-note, Ed25519)
with the log's verifier key, and checks the server's inclusion and consistency proofs.

Only grpcio, protobuf and cryptography are used; the gRPC stubs are generated at run time from the
repository's proto files with grpcio-tools, into a temporary directory.

    python verify.py --server http://127.0.0.1:50051 --verifier-key 'name+1234abcd+AQ...'

With --export it checks, offline, a file written by `kcn-ledger export` (JSON Lines: a header with the
signed checkpoint, one line per event with its fields and inclusion proof, an end line): the
checkpoint's signature, every leaf recomputed from the exported fields, every inclusion proof against
the signed root, the selection (local dates in UTC+7, or a gap-free range of positions) and the count.
Only cryptography is needed for it.

    python verify.py --export period.jsonl --verifier-key 'name+1234abcd+AQ...'

Exit status: 0 when everything verifies, 1 when anything does not (an event that changed, a log
rolled back to before a trusted checkpoint, a fork that no longer extends it), 2 when the check could
not run (bad arguments, a server that fails a request).
"""

import argparse
import base64
import binascii
import datetime
import hashlib
import importlib
import json
import os
import random
import re
import struct
import sys
import tempfile
import uuid
from types import SimpleNamespace

LEAF_DOMAIN = "kcn-ledger/event/v1"
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")
SIZE = re.compile(r"^(0|[1-9][0-9]*)$")
EM_DASH = "\u2014"


class Failure(Exception):
    """A check that did not pass: the log or the server is not what it claims."""


# --- the leaf (integrity.md, "The leaf") ----------------------------------------------------------


def u64(x):
    return struct.pack(">Q", x)


def blob(b):
    return struct.pack(">I", len(b)) + b


def text(s):
    return blob(s.encode("utf-8"))


def sha256(data):
    return hashlib.sha256(data).digest()


def leaf_input(e):
    event_id = uuid.UUID(e.event_id)
    return (
        text(LEAF_DOMAIN)
        + u64(e.position)
        + blob(event_id.bytes)
        + text(e.aggregate_type)
        + text(e.aggregate_id)
        + u64(e.aggregate_version)
        + text(e.event_type)
        + u64(e.schema_version)
        + text(e.occurred_at)
        + text(e.recorded_at)
        + blob(e.payload)
        + blob(e.metadata)
    )


def leaf_hash(data):
    return sha256(b"\x00" + data)


def node_hash(left, right):
    return sha256(b"\x01" + left + right)


def check_event_form(e, expected_position):
    """The byte rules an event's fields follow; returns a list of what is wrong."""
    wrong = []
    if e.position != expected_position:
        wrong.append(f"expected position {expected_position}, got {e.position}")
    try:
        if str(uuid.UUID(e.event_id)) != e.event_id:
            wrong.append(f"event_id {e.event_id!r} is not a lowercase hyphenated UUID")
    except ValueError:
        wrong.append(f"event_id {e.event_id!r} is not a UUID")
    for name in ("occurred_at", "recorded_at"):
        value = getattr(e, name)
        if not TIMESTAMP.match(value):
            wrong.append(f"{name} {value!r} is not RFC 3339 UTC with six fractional digits and Z")
    try:
        if not isinstance(json.loads(e.metadata.decode("utf-8")), dict):
            wrong.append("metadata is not a JSON object")
    except (UnicodeDecodeError, ValueError):
        wrong.append("metadata is not UTF-8 JSON")
    try:
        json.loads(e.payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        wrong.append("payload is not UTF-8 JSON")
    if e.aggregate_version < 1:
        wrong.append("aggregate_version is below 1")
    return wrong


# --- the tree (RFC 9162, section 2.1) --------------------------------------------------------------


class Frontier:
    """The roots of the complete subtrees over the leaves so far: streams any number of leaves."""

    def __init__(self):
        self.size = 0
        self.subtrees = []

    def push(self, h):
        n = self.size
        while n & 1:
            h = node_hash(self.subtrees.pop(), h)
            n >>= 1
        self.subtrees.append(h)
        self.size += 1

    def root(self):
        if not self.subtrees:
            return sha256(b"")
        r = self.subtrees[-1]
        for left in reversed(self.subtrees[:-1]):
            r = node_hash(left, r)
        return r


def mth(leaves):
    """The Merkle tree hash by its recursive definition (a cross-check of Frontier)."""
    n = len(leaves)
    if n == 0:
        return sha256(b"")
    if n == 1:
        return leaves[0]
    k = 1 << ((n - 1).bit_length() - 1)
    return node_hash(mth(leaves[:k]), mth(leaves[k:]))


def verify_inclusion(leaf, index, size, path, root):
    """RFC 9162, section 2.1.3.2."""
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while not (fn & 1 or fn == 0):
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(first, second, first_root, second_root, path):
    """RFC 9162, section 2.1.4.2 (with the trivial cases of an empty or equal old tree)."""
    if first > second:
        return False
    if first == 0:
        return not path
    if first == second:
        return not path and first_root == second_root
    if not path:
        return False
    if first & (first - 1) == 0:
        path = [first_root] + list(path)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while not (fn & 1 or fn == 0):
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == first_root and sr == second_root and sn == 0


# --- checkpoints (C2SP tlog-checkpoint and signed-note) --------------------------------------------


class VerifierKey:
    def __init__(self, vkey):
        # The name and the id hold no "+"; the base64 key may.
        parts = vkey.strip().split("+", 2)
        if len(parts) != 3:
            raise Failure(f"verifier key {vkey!r} is not <name>+<hex id>+<base64 key>")
        self.name, id_hex, key_b64 = parts
        try:
            key = base64.b64decode(key_b64, validate=True)
        except binascii.Error as e:
            raise Failure(f"verifier key is not base64: {e}") from None
        if len(key) != 33 or key[0] != 0x01:
            raise Failure("verifier key is not an Ed25519 key (0x01 followed by 32 bytes)")
        self.key_id = sha256(self.name.encode("utf-8") + b"\n" + key)[:4]
        if id_hex != self.key_id.hex():
            raise Failure(f"verifier key id {id_hex} does not match its name and key ({self.key_id.hex()})")
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

        self.public_key = Ed25519PublicKey.from_public_bytes(key[1:])


def open_checkpoint(note, key):
    """Checks the note's signature by `key` and returns (origin, size, root)."""
    from cryptography.exceptions import InvalidSignature

    if not note.endswith("\n"):
        raise Failure("checkpoint note does not end with a line feed")
    split = note.rfind("\n\n")
    if split < 0:
        raise Failure("checkpoint note has no empty line before its signatures")
    body, signatures = note[: split + 1], note[split + 2 :]
    good = 0
    for line in signatures.splitlines():
        if not line.startswith(EM_DASH + " "):
            raise Failure(f"signature line {line!r} does not start with an em dash and a space")
        name, _, sig_b64 = line[2:].partition(" ")
        try:
            sig = base64.b64decode(sig_b64, validate=True)
        except binascii.Error:
            raise Failure(f"signature line {line!r} is not base64") from None
        if name != key.name or sig[:4] != key.key_id:
            continue  # another signer (a witness): ignored
        try:
            key.public_key.verify(sig[4:], body.encode("utf-8"))
        except InvalidSignature:
            raise Failure(f"the signature by {key.name} does not verify: forged or altered checkpoint") from None
        good += 1
    if good == 0:
        raise Failure(f"checkpoint carries no signature by {key.name}")
    lines = body.split("\n")
    if len(lines) != 4 or lines[3] != "":
        raise Failure("checkpoint body is not exactly three lines")
    origin, size_text, root_b64 = lines[:3]
    if not origin or not SIZE.match(size_text):
        raise Failure(f"checkpoint body has a bad origin or size: {origin!r} {size_text!r}")
    try:
        root = base64.b64decode(root_b64, validate=True)
    except binascii.Error:
        raise Failure("checkpoint root is not base64") from None
    if len(root) != 32 or base64.b64encode(root).decode() != root_b64:
        raise Failure("checkpoint root is not standard base64 of 32 bytes")
    return origin, int(size_text), root


# --- the contract's test vectors -------------------------------------------------------------------


def self_test(path):
    """Reproduces integrity-vectors.json: leaves, roots, proofs, key id and the signed note."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    with open(path, encoding="utf-8") as f:
        v = json.load(f)
    run = Run()
    leaves = []
    for e in v["events"]:
        event = SimpleNamespace(**{k: e[k] for k in e if not k.endswith(("_base64", "_hex"))})
        event.payload = base64.b64decode(e["payload_base64"])
        event.metadata = base64.b64decode(e["metadata_base64"])
        data = leaf_input(event)
        run.check(data.hex() == e["leaf_input_hex"], f"event {e['position']}: leaf input")
        leaves.append(leaf_hash(data))
        run.check(leaves[-1].hex() == e["leaf_hash_hex"], f"event {e['position']}: leaf hash")
        for wrong in check_event_form(event, e["position"]):
            run.check(False, f"event {e['position']}: {wrong}")
    roots = {int(n): bytes.fromhex(h) for n, h in v["roots_hex_by_tree_size"].items()}
    frontier = Frontier()
    for n, h in enumerate(leaves, start=1):
        frontier.push(h)
        if n in roots:
            run.check(frontier.root() == roots[n] == mth(leaves[:n]), f"root at size {n}")
    for c in v["inclusion_proofs"]:
        proof = [bytes.fromhex(h) for h in c["proof_hex"]]
        leaf, i, n = leaves[c["leaf_index"]], c["leaf_index"], c["tree_size"]
        run.check(verify_inclusion(leaf, i, n, proof, roots[n]), f"inclusion of {c['position']} at {n}")
        run.check(not verify_inclusion(sha256(leaf), i, n, proof, roots[n]), f"a wrong leaf at {n} is refused")
    for c in v["consistency_proofs"]:
        proof = [bytes.fromhex(h) for h in c["proof_hex"]]
        a, b = c["first_size"], c["second_size"]
        run.check(verify_consistency(a, b, roots.get(a), roots[b], proof), f"consistency {a} -> {b}")
        if a and a < b:
            run.check(not verify_consistency(a, b, sha256(b"x"), roots[b], proof), f"a wrong root {a} -> {b} is refused")
    s = v["signing"]
    key = VerifierKey(s["verifier_key"])
    run.check(key.key_id.hex() == s["key_id_hex"], "key id")
    origin, size, root = open_checkpoint(s["checkpoint_note"], key)
    run.check(origin == s["origin"] and root == roots.get(size), "the signed checkpoint's body")
    private = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(s["ed25519_private_seed_hex"]))
    body = f"{origin}\n{size}\n{base64.b64encode(root).decode()}\n"
    signature = base64.b64encode(key.key_id + private.sign(body.encode("utf-8"))).decode()
    run.check(f"{body}\n{EM_DASH} {s['key_name']} {signature}\n" == s["checkpoint_note"], "the note, byte for byte")
    t = v["rfc9162_tree"]
    rfc_leaves = [leaf_hash(bytes.fromhex(h)) for h in t["leaf_inputs_hex"]]
    for n, h in t["roots_hex_by_tree_size"].items():
        run.check(mth(rfc_leaves[: int(n)]).hex() == h, f"RFC 9162 reference root at size {n}")
    if run.failures:
        print(f"FAILED: {len(run.failures)} of {run.checks} vector checks failed")
        return 1
    print(f"ok: {run.checks} vector checks passed")
    return 0


# --- an export file (kcn-ledger export) ------------------------------------------------------------

EXPORT_FORMAT = "kcn-ledger/export/v1"
VIETNAM = datetime.timezone(datetime.timedelta(hours=7))
MAX_LINE = 4 << 20


def local_date(timestamp):
    """The local (UTC+7) date of a canonical RFC 3339 UTC timestamp."""
    t = datetime.datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc)
    return t.astimezone(VIETNAM).date()


def period_of(selection):
    """The period's first and last local dates, written YYYY-MM-DD."""
    dates = []
    for name in ("from_date", "to_date"):
        text = selection[name]
        if not isinstance(text, str) or not re.match(r"^\d{4}-\d{2}-\d{2}$", text):
            raise Failure(f"{name} {text!r} is not YYYY-MM-DD")
        dates.append(datetime.date.fromisoformat(text))
    return dates[0], dates[1]


def b64(text, what):
    if not isinstance(text, str):
        raise Failure(f"{what} is not a base64 string")
    try:
        return base64.b64decode(text, validate=True)
    except binascii.Error:
        raise Failure(f"{what} is not base64") from None


def verify_export(path, vkey_text, expected_origin):
    """Checks an export file line by line; returns the exit status (0 ok, 1 findings)."""
    run = Run()
    bad_positions = []

    def bad(position, what):
        bad_positions.append(position)
        run.check(False, f"position {position}: {what}")

    try:
        key = VerifierKey(vkey_text)
    except Failure as f:
        print(f"FAILED: {f}")
        return 1
    header = None
    tree = None  # (size, root)
    events = proven = 0
    last = None
    ended = False
    with open(path, "rb") as f:
        number = 0
        while True:
            raw = f.readline(MAX_LINE + 1)
            if not raw:
                break
            number += 1
            if ended:
                run.check(False, f"line {number} follows the end line: the file holds more than it says")
                break
            if len(raw) > MAX_LINE:
                run.check(False, f"line {number} is longer than {MAX_LINE} bytes")
                break
            run.check(raw.endswith(b"\n"), f"line {number} does not end with a line feed: the file was cut")
            try:
                line = json.loads(raw.decode("utf-8"))
                kind = line["type"]
            except (UnicodeDecodeError, ValueError, KeyError, TypeError):
                run.check(False, f"line {number} is not an export line (JSON with a type)")
                if number == 1:
                    break
                continue
            if number == 1:
                if not run.check(kind == "header", "the first line is not the export's header"):
                    break
                header = line
                try:
                    tree = check_export_header(run, header, key, vkey_text, expected_origin)
                except (Failure, KeyError, TypeError, ValueError) as e:
                    run.check(False, f"header: {e}")
                    break
                continue
            if kind == "end":
                ended = True
                run.check(line.get("events") == events, f"the end line counts {line.get('events')} events, the file holds {events}")
                continue
            if kind != "event":
                run.check(False, f"line {number} is a {kind!r} line, not an event")
                continue
            events += 1
            position = line.get("position")
            if not isinstance(position, int) or position < 1:
                run.check(False, f"line {number}: no position")
                continue
            selection = header["selection"]
            if last is not None and position <= last:
                bad(position, f"out of order or repeated (after {last})")
            if selection["by"] == "positions":
                expected = selection["from_position"] if last is None else last + 1
                if position > expected:
                    bad(expected, f"missing from the export (the next event is at {position})")
                if not selection["from_position"] <= position <= selection["to_position"]:
                    bad(position, "outside the exported range")
            else:
                occurred = line.get("occurred_at", "")
                if not isinstance(occurred, str) or not TIMESTAMP.match(occurred):
                    bad(position, f"occurred_at {occurred!r} is not a canonical timestamp")
                else:
                    d = local_date(occurred)
                    first, last_day = period_of(selection)
                    if not first <= d <= last_day:
                        bad(position, f"occurred_at {occurred} is on the local date {d}, outside the period")
            last = position if last is None else max(last, position)
            try:
                event = SimpleNamespace(
                    position=position,
                    event_id=line["event_id"],
                    aggregate_type=line["aggregate_type"],
                    aggregate_id=line["aggregate_id"],
                    aggregate_version=line["aggregate_version"],
                    event_type=line["event_type"],
                    schema_version=line["schema_version"],
                    occurred_at=line["occurred_at"],
                    recorded_at=line["recorded_at"],
                    payload=b64(line["payload_base64"], "payload_base64"),
                    metadata=b64(line["metadata_base64"], "metadata_base64"),
                )
                proof = [b64(h, "an inclusion proof hash") for h in line["inclusion_proof_base64"]]
                exported_leaf = b64(line["leaf_hash_base64"], "leaf_hash_base64")
                if any(len(h) != 32 for h in proof):
                    raise Failure("an inclusion proof hash is not 32 bytes")
                wrong = check_event_form(event, position)
                for w in wrong:
                    bad(position, w)
                if wrong:
                    continue
                leaf = leaf_hash(leaf_input(event))
            except (Failure, KeyError, TypeError, ValueError, struct.error) as e:
                bad(position, str(e))
                continue
            if tree is None:
                continue
            size, root = tree
            if position > size:
                bad(position, f"not in the checkpoint's tree of size {size}")
            elif verify_inclusion(leaf, position - 1, size, proof, root):
                if exported_leaf == leaf:
                    proven += 1
                else:
                    bad(position, "proven, but its exported leaf hash is not its leaf")
            elif exported_leaf != leaf:
                bad(position, f"the event was altered: its fields hash to the leaf {base64.b64encode(leaf).decode()}, not to the exported leaf hash")
            else:
                bad(position, f"its inclusion proof does not lead to the signed root at tree size {size}: the proof was altered")
    if number == 0:
        run.check(False, "the file is empty")
    elif header is not None and not ended:
        run.check(False, "the file has no end line: it was cut short")
    if header is not None and header.get("selection", {}).get("by") == "positions":
        nxt = header["selection"]["from_position"] if last is None else last + 1
        if nxt <= header["selection"]["to_position"]:
            bad(nxt, f"missing from the export: the range ends at {header['selection']['to_position']}")
    if run.failures:
        first = f"; the first bad position is {min(bad_positions)}" if bad_positions else ""
        print(f"FAILED: {len(run.failures)} of {run.checks} checks failed{first}; first: {run.failures[0]}")
        return 1
    print(f"ok: {proven} events proven against the checkpoint of {header['origin']} at tree size {tree[0]} ({run.checks} checks)")
    return 0


def check_export_header(run, header, key, vkey_text, expected_origin):
    """The header's checks; returns the signed (size, root), or None when the signature fails."""
    run.check(header["format"] == EXPORT_FORMAT, f"format {header['format']!r} is not {EXPORT_FORMAT!r}")
    run.check(header["verifier_key"] == vkey_text.strip(), f"checkpoint: the export names the verifier key {header['verifier_key']}, not the given one")
    selection = header["selection"]
    if selection["by"] == "period":
        run.check(selection["utc_offset"] == "+07:00", f"the period's offset is {selection['utc_offset']!r}, not +07:00")
        first, last = period_of(selection)
        run.check(first <= last, "the period is empty")
    elif selection["by"] == "positions":
        run.check(1 <= selection["from_position"] <= selection["to_position"], "the range is empty")
    else:
        raise Failure(f"unknown selection {selection['by']!r}")
    try:
        origin, size, root = open_checkpoint(header["checkpoint"], key)
    except Failure as f:
        run.check(False, f"checkpoint: {f}; no event of the export is proven")
        return None
    want = expected_origin or header["origin"]
    run.check(origin == want, f"checkpoint: it names origin {origin!r}, not {want!r}")
    run.check(origin == header["origin"], f"checkpoint: it names origin {origin!r}, the header {header['origin']!r}")
    run.check(size == header["tree_size"], f"checkpoint: it signs tree size {size}, the header says {header['tree_size']}")
    print(f"checkpoint: {origin} size {size} root {root.hex()} (signature verified)")
    return size, root


# --- talking to the server -------------------------------------------------------------------------


def _bearer_class():
    import grpc

    class Bearer(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor):
        """Adds `authorization: Bearer <token>` to every call."""

        def __init__(self, token):
            self.metadata = ("authorization", f"Bearer {token}")

        def _with_token(self, details):
            metadata = list(details.metadata or []) + [self.metadata]
            return details._replace(metadata=metadata) if hasattr(details, "_replace") else SimpleNamespace(
                method=details.method, timeout=details.timeout, metadata=metadata,
                credentials=details.credentials, wait_for_ready=getattr(details, "wait_for_ready", None),
                compression=getattr(details, "compression", None))

        def intercept_unary_unary(self, continuation, details, request):
            return continuation(self._with_token(details), request)

        def intercept_unary_stream(self, continuation, details, request):
            return continuation(self._with_token(details), request)

    return Bearer


def _Bearer(token):
    return _bearer_class()(token)


def load_stubs(proto_root, out_dir):
    import grpc_tools
    from grpc_tools import protoc

    well_known = os.path.join(os.path.dirname(grpc_tools.__file__), "_proto")
    rc = protoc.main(
        [
            "grpc_tools.protoc",
            f"-I{proto_root}",
            f"-I{well_known}",
            f"--python_out={out_dir}",
            f"--grpc_python_out={out_dir}",
            "kcn/ledger/v1/audit.proto",
        ]
    )
    if rc != 0:
        raise RuntimeError(f"protoc failed on {proto_root} (exit {rc})")
    sys.path.insert(0, out_dir)
    return (
        importlib.import_module("kcn.ledger.v1.audit_pb2"),
        importlib.import_module("kcn.ledger.v1.audit_pb2_grpc"),
    )


def target_of(server):
    for scheme in ("http://", "grpc://"):
        if server.startswith(scheme):
            return server[len(scheme) :].rstrip("/")
    return server


class Run:
    def __init__(self):
        self.failures = []
        self.checks = 0

    def check(self, ok, what):
        self.checks += 1
        if not ok:
            self.failures.append(what)
            print(f"FAIL: {what}", file=sys.stderr)
        return ok


def choose(n, count, rng):
    """Up to `count` positions of 1..n: the first, the last, powers of two and a random sample."""
    if n == 0:
        return []
    chosen = {1, n}
    p = 1
    while p <= n:
        chosen.add(p)
        p <<= 1
    while len(chosen) < min(n, count):
        chosen.add(rng.randint(1, n))
    return sorted(chosen)


def main(argv=None):
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--server", default="http://127.0.0.1:50051", help="the server's URL")
    ap.add_argument("--verifier-key", help="the log's published verifier key (default: asked from the server, trust on first use)")
    ap.add_argument("--origin", help="the log's expected origin")
    ap.add_argument("--trusted-checkpoint", help="a signed checkpoint note kept earlier: the log must extend it")
    ap.add_argument("--inclusion-sample", type=int, default=256, help="positions whose inclusion proof is checked (0: every one)")
    ap.add_argument("--consistency-sample", type=int, default=32, help="older sizes whose consistency proof is checked")
    ap.add_argument("--proto-root", default=os.path.join(here, "..", "proto"), help="where kcn/ledger/v1/audit.proto is")
    ap.add_argument("--seed", type=int, default=None, help="seed of the random sample, to repeat a run")
    ap.add_argument("--vectors", help="only check this verifier against integrity-vectors.json, offline")
    ap.add_argument("--export", help="only check this file written by `kcn-ledger export`, offline (needs --verifier-key)")
    args = ap.parse_args(argv)
    if args.vectors:
        return self_test(args.vectors)
    if args.export:
        if not args.verifier_key:
            ap.error("--export needs --verifier-key: the log's published key")
        try:
            return verify_export(args.export, args.verifier_key, args.origin)
        except OSError as e:
            print(f"error: cannot read the export: {e}", file=sys.stderr)
            return 2

    import grpc

    with tempfile.TemporaryDirectory(prefix="kcn-verify-") as tmp:
        pb, pb_grpc = load_stubs(os.path.abspath(args.proto_root), tmp)
        channel = grpc.insecure_channel(target_of(args.server), options=[("grpc.max_receive_message_length", 64 << 20)])
        token = os.environ.get("KCN_TOKEN", "")
        if token:
            # Every call but health's needs a principal's bearer token (an auditor's, or any
            # principal's for checkpoints and proofs); it is read from KCN_TOKEN, never a flag.
            channel = grpc.intercept_channel(channel, _Bearer(token))
        audit = pb_grpc.AuditServiceStub(channel)
        run = Run()
        rng = random.Random(args.seed)
        try:
            published = audit.GetVerifierKey(pb.GetVerifierKeyRequest())
            vkey_text = args.verifier_key or published.verifier_key
            if not args.verifier_key:
                print(f"warning: trusting the server's own verifier key {vkey_text} (pass --verifier-key)", file=sys.stderr)
            key = VerifierKey(vkey_text)
            run.check(published.verifier_key == vkey_text, "the server publishes another verifier key than the one given")

            latest = audit.GetCheckpoint(pb.GetCheckpointRequest(tree_size=0))
            origin, n, root = open_checkpoint(latest.note, key)
            expected_origin = args.origin or published.origin
            run.check(origin == expected_origin, f"checkpoint origin {origin!r} is not {expected_origin!r}")
            run.check(
                (latest.origin, latest.tree_size, latest.root_hash) == (origin, n, root),
                "the checkpoint's fields differ from its signed note",
            )
            print(f"checkpoint: {origin} size {n} root {root.hex()} (signature verified)")

            trusted = None
            if args.trusted_checkpoint:
                with open(args.trusted_checkpoint, encoding="utf-8") as f:
                    trusted_note = f.read()
                trusted = open_checkpoint(trusted_note, key)
                run.check(trusted[0] == origin, "the trusted checkpoint is of another log")
                if run.check(trusted[1] <= n, f"the log ({n}) is smaller than the trusted checkpoint ({trusted[1]}): it was rolled back"):
                    # A server that never issued this checkpoint (a fork) or no longer can (a rollback)
                    # answers NOT_FOUND or INVALID_ARGUMENT: a finding about the log, not a failure
                    # of this program.
                    try:
                        kept = audit.GetCheckpoint(pb.GetCheckpointRequest(tree_size=trusted[1])).note
                    except grpc.RpcError as e:
                        if e.code() not in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):
                            raise
                        kept = None
                    run.check(kept == trusted_note, f"the server no longer serves the checkpoint it issued at size {trusted[1]}")

            # Sizes whose roots we remember while streaming, for consistency proofs and the trusted one.
            sizes = set(choose(n - 1, args.consistency_sample, rng)) if n > 1 else set()
            if trusted and trusted[1] <= n:
                sizes.add(trusted[1])
            positions = list(range(1, n + 1)) if args.inclusion_sample == 0 else choose(n, args.inclusion_sample, rng)
            wanted = set(positions)

            frontier = Frontier()
            leaves_kept = {}
            roots = {0: sha256(b"")}
            small = [] if n <= 64 else None
            stream = audit.ReadLog(pb.ReadLogRequest(from_position=1, to_position=n))
            for item in stream:
                e = item.event
                expected = frontier.size + 1
                for wrong in check_event_form(e, expected):
                    run.check(False, f"position {expected}: {wrong}")
                try:
                    h = leaf_hash(leaf_input(e))
                except ValueError as err:
                    run.check(False, f"position {expected}: {err}")
                    h = b"\x00" * 32
                frontier.push(h)
                if small is not None:
                    small.append(h)
                if frontier.size in wanted:
                    leaves_kept[frontier.size] = h
                if frontier.size in sizes:
                    roots[frontier.size] = frontier.root()
            run.check(frontier.size == n, f"the server streamed {frontier.size} events for a tree of {n}")
            recomputed = frontier.root()
            if small is not None:
                run.check(mth(small) == recomputed, "the streamed root differs from the recursive definition")
            run.check(recomputed == root, f"the events give root {recomputed.hex()}, the signed checkpoint says {root.hex()}")
            print(f"leaves: {frontier.size} events recomputed; root {'matches' if recomputed == root else 'DIFFERS'}")

            if trusted and trusted[1] in roots:
                run.check(roots[trusted[1]] == trusted[2], f"the events no longer give the trusted root at size {trusted[1]}")

            for p in positions:
                if p not in leaves_kept:
                    continue
                proof = audit.GetInclusionProof(pb.GetInclusionProofRequest(position=p, tree_size=n))
                run.check(proof.leaf_index == p - 1, f"position {p}: leaf index {proof.leaf_index}")
                run.check(proof.leaf_hash == leaves_kept[p], f"position {p}: the server's leaf hash differs from the recomputed one")
                run.check(
                    verify_inclusion(leaves_kept[p], p - 1, n, list(proof.hashes), root),
                    f"position {p}: the inclusion proof does not lead to the signed root",
                )
            print(f"inclusion: {len(leaves_kept)} proofs checked")

            checked = 0
            for m in sorted(roots):
                if m > n:
                    continue
                proof = audit.GetConsistencyProof(pb.GetConsistencyProofRequest(old_size=m, new_size=n))
                run.check(
                    verify_consistency(m, n, roots[m], root, list(proof.hashes)),
                    f"the consistency proof from size {m} to {n} does not verify",
                )
                checked += 1
            print(f"consistency: {checked} proofs checked")
        except Failure as f:
            run.check(False, str(f))
        except grpc.RpcError as e:
            print(f"error: the server failed a request: {e.code()} {e.details()}", file=sys.stderr)
            return 2
        finally:
            channel.close()

    if run.failures:
        print(f"FAILED: {len(run.failures)} of {run.checks} checks failed; first: {run.failures[0]}")
        return 1
    print(f"ok: {run.checks} checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
