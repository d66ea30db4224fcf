//! The OpenAPI 3.1 document of the HTTP/JSON surface ([`crate::connect`]), made from the same
//! descriptors the server serves, so that it cannot drift from the protos: every unary method is a
//! `POST /<package>.<Service>/<Method>` taking and answering its messages in proto3 JSON, and every
//! message a schema. The server serves it at `/openapi.json`; `docs/openapi.json` is the checked-in
//! copy, compared with this function's output by the tests (`KCN_BLESS=1` rewrites it).
//!
//! Why by hand: the OpenAPI generators for protos (`protoc-gen-openapi`, gnostic) are Go plugins
//! for google.api.http annotations, which this API does not use; the mapping of proto3 JSON onto
//! JSON Schema is short and lives here.

use prost_reflect::{DescriptorPool, FieldDescriptor, Kind, MessageDescriptor, ServiceDescriptor};
use serde_json::{Map, Value, json};

/// The document for the services of `pool` whose full name starts with `package.`.
pub fn document(pool: &DescriptorPool, package: &str, version: &str) -> Value {
    let mut paths = Map::new();
    let mut schemas = Map::new();
    let mut services: Vec<ServiceDescriptor> = pool
        .services()
        .filter(|s| s.package_name() == package)
        .collect();
    services.sort_by(|a, b| a.full_name().cmp(b.full_name()));
    for service in &services {
        for method in service.methods() {
            if method.is_client_streaming() || method.is_server_streaming() {
                continue;
            }
            let input = method.input();
            let output = method.output();
            collect(&input, &mut schemas);
            collect(&output, &mut schemas);
            paths.insert(
                format!("/{}/{}", service.full_name(), method.name()),
                json!({
                    "post": {
                        "operationId": format!("{}.{}", service.name(), method.name()),
                        "tags": [service.name()],
                        "requestBody": {
                            "required": true,
                            "content": { "application/json": { "schema": reference(&input) } }
                        },
                        "responses": {
                            "200": {
                                "description": format!("{} in proto3 JSON", output.name()),
                                "content": { "application/json": { "schema": reference(&output) } }
                            },
                            "default": {
                                "description": "A Connect error",
                                "content": { "application/json": {
                                    "schema": { "$ref": "#/components/schemas/connect.Error" }
                                } }
                            }
                        }
                    }
                }),
            );
        }
    }
    schemas.insert(
        "connect.Error".to_owned(),
        json!({
            "type": "object",
            "description": "Connect's error: the code's name, a message, and the google.rpc details (type, base64 bytes, decoded JSON)",
            "properties": {
                "code": { "type": "string", "enum": [
                    "canceled", "unknown", "invalid_argument", "deadline_exceeded", "not_found",
                    "already_exists", "permission_denied", "resource_exhausted",
                    "failed_precondition", "aborted", "out_of_range", "unimplemented", "internal",
                    "unavailable", "data_loss", "unauthenticated"
                ] },
                "message": { "type": "string" },
                "details": { "type": "array", "items": {
                    "type": "object",
                    "properties": {
                        "type": { "type": "string" },
                        "value": { "type": "string", "contentEncoding": "base64" },
                        "debug": { "type": "object" }
                    },
                    "required": ["type", "value"]
                } }
            },
            "required": ["code"]
        }),
    );
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "kcn-ledger",
            "version": version,
            "description": "The HTTP/JSON (Connect unary) surface of every unary RPC; the same calls over gRPC and gRPC-Web are on the same port. Authenticate with `authorization: Bearer <token>`."
        },
        "components": {
            "schemas": Value::Object(schemas),
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer" } }
        },
        "security": [{ "bearer": [] }],
        "paths": Value::Object(paths),
    })
}

fn reference(m: &MessageDescriptor) -> Value {
    json!({ "$ref": format!("#/components/schemas/{}", m.full_name()) })
}

/// Adds `m`'s schema and those of every message it reaches.
fn collect(m: &MessageDescriptor, schemas: &mut Map<String, Value>) {
    if schemas.contains_key(m.full_name()) || well_known(m).is_some() {
        return;
    }
    // Reserve the name first: messages may refer to themselves.
    schemas.insert(m.full_name().to_owned(), Value::Null);
    let mut properties = Map::new();
    for field in m.fields() {
        properties.insert(field.json_name().to_owned(), field_schema(&field, schemas));
    }
    schemas.insert(
        m.full_name().to_owned(),
        json!({ "type": "object", "properties": Value::Object(properties) }),
    );
}

/// The proto3 JSON of the well-known types used here.
fn well_known(m: &MessageDescriptor) -> Option<Value> {
    Some(match m.full_name() {
        "google.protobuf.Timestamp" => json!({ "type": "string", "format": "date-time" }),
        "google.protobuf.Duration" => {
            json!({ "type": "string", "pattern": "^-?[0-9]+(\\.[0-9]+)?s$" })
        }
        "google.protobuf.Empty" => json!({ "type": "object" }),
        "google.protobuf.Struct" => json!({ "type": "object" }),
        "google.protobuf.Value" => json!({}),
        "google.protobuf.Any" => {
            json!({ "type": "object", "properties": { "@type": { "type": "string" } } })
        }
        "google.protobuf.StringValue" => json!({ "type": "string" }),
        "google.protobuf.BoolValue" => json!({ "type": "boolean" }),
        "google.protobuf.Int64Value" | "google.protobuf.UInt64Value" => json!({ "type": "string" }),
        "google.protobuf.Int32Value" | "google.protobuf.UInt32Value" => {
            json!({ "type": "integer" })
        }
        _ => return None,
    })
}

fn field_schema(field: &FieldDescriptor, schemas: &mut Map<String, Value>) -> Value {
    if field.is_map()
        && let Kind::Message(entry) = field.kind()
    {
        let value = entry.map_entry_value_field();
        return json!({
            "type": "object",
            "additionalProperties": kind_schema(&value.kind(), schemas),
        });
    }
    let one = kind_schema(&field.kind(), schemas);
    if field.is_list() {
        json!({ "type": "array", "items": one })
    } else {
        one
    }
}

fn kind_schema(kind: &Kind, schemas: &mut Map<String, Value>) -> Value {
    match kind {
        Kind::Double | Kind::Float => json!({ "type": "number" }),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => {
            json!({ "type": "integer", "format": "int32" })
        }
        Kind::Uint32 | Kind::Fixed32 => {
            json!({ "type": "integer", "format": "int64", "minimum": 0 })
        }
        // proto3 JSON writes 64-bit integers as strings (and reads either).
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => {
            json!({ "type": "string", "format": "int64" })
        }
        Kind::Uint64 | Kind::Fixed64 => json!({ "type": "string", "format": "uint64" }),
        Kind::Bool => json!({ "type": "boolean" }),
        Kind::String => json!({ "type": "string" }),
        Kind::Bytes => json!({ "type": "string", "contentEncoding": "base64" }),
        Kind::Enum(e) => json!({
            "type": "string",
            "enum": e.values().map(|v| v.name().to_owned()).collect::<Vec<_>>(),
        }),
        Kind::Message(m) => match well_known(m) {
            Some(schema) => schema,
            None => {
                collect(m, schemas);
                reference(m)
            }
        },
    }
}
