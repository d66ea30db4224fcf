"""Server reflection from an independent client: grpcio-reflection's descriptor database, which
speaks grpc.reflection.v1alpha only (as older tools do). It must list the ledger's services,
resolve a method's messages, and resolve the google.rpc error-detail types, so that a generic
client can decode an error's details.

Usage: reflection.py http://127.0.0.1:PORT  (KCN_TOKEN: the bearer token to present)
"""

import os
import sys

import grpc
from google.protobuf.descriptor_pool import DescriptorPool
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)


class Bearer(grpc.StreamStreamClientInterceptor, grpc.UnaryUnaryClientInterceptor):
    """Adds the token to every call."""

    def __init__(self, token):
        self.metadata = [("authorization", f"Bearer {token}")]

    def _details(self, details):
        return details._replace(metadata=list(details.metadata or []) + self.metadata)

    def intercept_stream_stream(self, continuation, details, requests):
        return continuation(self._details(details), requests)

    def intercept_unary_unary(self, continuation, details, request):
        return continuation(self._details(details), request)


def main():
    target = sys.argv[1].removeprefix("http://")
    channel = grpc.insecure_channel(target)
    token = os.environ.get("KCN_TOKEN")
    if token:
        channel = grpc.intercept_channel(channel, Bearer(token))
    database = ProtoReflectionDescriptorDatabase(channel)
    services = set(database.get_services())
    expected = {
        "kcn.ledger.v1.RegistryService",
        "kcn.ledger.v1.AuditService",
        "kcn.ledger.v1.AuditQueryService",
        "grpc.health.v1.Health",
    }
    missing = expected - services
    if missing:
        print(f"services missing from reflection: {sorted(missing)}")
        return 1
    pool = DescriptorPool(database)
    method = pool.FindMethodByName("kcn.ledger.v1.RegistryService.RegisterPark")
    if method.input_type.full_name != "kcn.ledger.v1.RegisterParkRequest":
        print(f"RegisterPark takes {method.input_type.full_name}")
        return 1
    for detail in ("google.rpc.BadRequest", "google.rpc.ErrorInfo", "google.rpc.RetryInfo",
                   "google.rpc.PreconditionFailure", "google.rpc.Status"):
        pool.FindMessageTypeByName(detail)
    print(f"reflection v1alpha: {len(services)} services, error details resolved")
    return 0


if __name__ == "__main__":
    sys.exit(main())
