"""Sends careless and hostile requests to every RPC of a running kcn-ledger server, from outside Rust.

Every method of every service in proto/kcn/ledger/v1 gets: an empty request; and, for commands, a
header with an over-long request id, a timestamp far outside any calendar and a negative nanosecond,
and a body of 100,000 characters in every string field the request may have. Then, over raw HTTP/2
(the `h2` package: grpcio frames messages itself), every method gets a message flagged compressed on
a request that names no grpc-encoding, and a message whose flag byte is neither 0 nor 1. The server
must answer each with a status a caller can act on (never INTERNAL or UNKNOWN; the framing errors
exactly INVALID_ARGUMENT with a google.rpc.BadRequest), and the log must stay empty, because every
one of these commands is refused.

Usage: python hostile.py http://127.0.0.1:PORT
"""

import base64
import os
import pathlib
import re
import socket
import sys

import grpc
import h2.config
import h2.connection
import h2.events

ACCEPTABLE = {
    grpc.StatusCode.OK,
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.FAILED_PRECONDITION,
}


def varint(n: int) -> bytes:
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def field_bytes(number: int, payload: bytes) -> bytes:
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def field_varint(number: int, value: int) -> bytes:
    return varint(number << 3) + varint(value)


def hostile_header() -> bytes:
    """A CommandHeader's bytes: an over-long request id, a timestamp outside any calendar with a
    negative nanosecond, and a correlation id of control characters."""
    timestamp = field_varint(1, -99_999_999_999) + field_varint(2, -5)
    return field_bytes(1, b"r" * 5000) + field_bytes(2, timestamp) + field_bytes(4, "\u0000\u202e".encode())


def methods(root: pathlib.Path):
    for proto in sorted(root.glob("*.proto")):
        text = proto.read_text(encoding="utf-8")
        messages = dict(re.findall(r"\nmessage (\w+) \{(.*?)\n\}", text, re.S))
        for service, body in re.findall(r"\nservice (\w+) \{(.*?)\n\}", text, re.S):
            for name, request, stream in re.findall(
                r"rpc (\w+)\((\w+)\) returns \((stream )?\w+\)", body
            ):
                yield f"kcn.ledger.v1.{service}", name, messages.get(request, ""), bool(stream)


# With KCN_TOKEN set every call carries it; without, every call but health's must be refused as
# UNAUTHENTICATED before its body is looked at.
TOKEN = os.environ.get("KCN_TOKEN", "")
METADATA = [("authorization", f"Bearer {TOKEN}")] if TOKEN else []


def call(channel, path, payload, streaming):
    if streaming:
        rpc = channel.unary_stream(path)
        try:
            # The first message is the server's answer: a stream that follows the log (Subscribe)
            # never ends by itself, so the call is cancelled once it has answered.
            answered = False
            responses = rpc(payload, timeout=10, metadata=METADATA)
            for _ in responses:
                answered = True
                responses.cancel()
                break
            return grpc.StatusCode.OK, ""
        except grpc.RpcError as e:
            if answered and e.code() == grpc.StatusCode.CANCELLED:
                return grpc.StatusCode.OK, ""
            return e.code(), e.details()
    rpc = channel.unary_unary(path)
    try:
        rpc(payload, timeout=10, metadata=METADATA)
        return grpc.StatusCode.OK, ""
    except grpc.RpcError as e:
        return e.code(), e.details()


def raw_call(sock, conn, path: str, frame: bytes) -> dict:
    """Sends one request whose body is `frame` (a gRPC length-prefixed message, hand-built) and
    returns the response's headers and trailers together."""
    stream_id = conn.get_next_available_stream_id()
    conn.send_headers(
        stream_id,
        [
            (":method", "POST"),
            (":scheme", "http"),
            (":path", path),
            (":authority", "kcn-ledger"),
            ("content-type", "application/grpc"),
            ("te", "trailers"),
        ]
        + [(k, v) for k, v in METADATA],
    )
    conn.send_data(stream_id, frame, end_stream=True)
    sock.sendall(conn.data_to_send())
    answer = {}
    while True:
        data = sock.recv(65536)
        if not data:
            raise ConnectionError("the server closed the connection")
        for event in conn.receive_data(data):
            if isinstance(event, (h2.events.ResponseReceived, h2.events.TrailersReceived)) and event.stream_id == stream_id:
                answer.update((k.decode(), v.decode()) for k, v in event.headers)
            elif isinstance(event, h2.events.DataReceived):
                conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            elif isinstance(event, h2.events.StreamReset) and event.stream_id == stream_id:
                raise ConnectionError(f"the server reset the stream: {event.error_code}")
            elif isinstance(event, h2.events.StreamEnded) and event.stream_id == stream_id:
                sock.sendall(conn.data_to_send())
                return answer
        sock.sendall(conn.data_to_send())


def framing_cases(target: str, paths):
    """Messages framed wrongly: each must be INVALID_ARGUMENT with a BadRequest."""
    host, port = target.rsplit(":", 1)
    sock = socket.create_connection((host, int(port)), timeout=10)
    conn = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=True))
    conn.initiate_connection()
    sock.sendall(conn.data_to_send())
    cases = [
        # A message flagged compressed (1), zero bytes long, with no grpc-encoding header.
        ("compressed flag without grpc-encoding", b"\x01\x00\x00\x00\x00"),
        # A flag byte that is neither 0 nor 1.
        ("flag byte 2", b"\x02\x00\x00\x00\x00"),
        ("flag byte 255", b"\xff\x00\x00\x00\x02\x08\x01"),
    ]
    failures, calls = [], 0
    try:
        for path in paths:
            for label, frame in cases:
                calls += 1
                answer = raw_call(sock, conn, path, frame)
                status = answer.get("grpc-status")
                details = answer.get("grpc-status-details-bin", "")
                padded = details + "=" * (-len(details) % 4)
                if status != "3":
                    failures.append(f"{path} ({label}): grpc-status {status} {answer.get('grpc-message', '')}")
                elif b"google.rpc.BadRequest" not in base64.b64decode(padded):
                    failures.append(f"{path} ({label}): INVALID_ARGUMENT without a BadRequest")
    finally:
        sock.close()
    return calls, failures


def main() -> int:
    target = sys.argv[1].removeprefix("http://")
    root = pathlib.Path(__file__).resolve().parents[2] / "proto" / "kcn" / "ledger" / "v1"
    channel = grpc.insecure_channel(target)
    failures, calls = [], 0
    for service, name, request_body, streaming in methods(root):
        path = f"/{service}/{name}"
        # A message that is not protobuf at all: the caller is told it sent a bad argument.
        cases = [("empty", b""), ("not protobuf", b"\xff\xff\xff\xff")]
        if "CommandHeader header = 1;" in request_body:
            # Every string field (numbers 2..15) set to 100,000 characters, after the hostile header.
            strings = [
                int(n)
                for n in re.findall(r"^\s*(?:optional )?string \w+ = (\d+);", request_body, re.M)
            ]
            long_text = "Đ" * 100_000
            body = field_bytes(1, hostile_header()) + b"".join(field_bytes(n, long_text.encode()) for n in strings)
            cases.append(("hostile", body))
        for label, payload in cases:
            calls += 1
            code, details = call(channel, path, payload, streaming)
            if not TOKEN:
                if code != grpc.StatusCode.UNAUTHENTICATED:
                    failures.append(f"{path} ({label}) without a token: {code.name} {details}")
                continue
            if code not in ACCEPTABLE:
                failures.append(f"{path} ({label}): {code.name} {details}")
    if not TOKEN:
        # Refused before the body is read: the framing of a message is never looked at.
        for f in failures:
            print("FAIL", f)
        print(f"{calls} hostile calls, {len(failures)} failures")
        return 1 if failures else 0
    more, framing_failures = framing_cases(
        target, [f"/{service}/{name}" for service, name, _, _ in methods(root)]
    )
    calls += more
    failures += framing_failures
    # Nothing above may have been appended.
    events = list(channel.unary_stream("/kcn.ledger.v1.AuditService/ReadLog")(b"", timeout=10, metadata=METADATA))
    if events:
        failures.append(f"the log holds {len(events)} events after refused commands")
    for f in failures:
        print("FAIL", f)
    print(f"{calls} hostile calls, {len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
