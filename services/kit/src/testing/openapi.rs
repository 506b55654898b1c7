//! A service's OpenAPI document checked against the router that serves it: every documented
//! operation is sent through the app, its status must be one the document lists for it, and a
//! JSON answer must have the documented schema's required properties and no undocumented one.
//! So the document can neither name a route that does not exist nor promise a shape the API
//! does not return.

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

/// Checks `/openapi.json` of `app`; `probe(method, path)` builds the request for one operation
/// (`path` is the template, e.g. `/v1/notes/{id}`: the probe fills it and adds auth and body).
/// Returns the operations checked as `METHOD path`.
///
/// # Panics
/// On the first operation that does not answer as documented, naming it.
pub async fn check_document(
    app: &Router,
    probe: impl Fn(&Method, &str) -> Request<Body>,
) -> Vec<String> {
    let (status, document) = call(
        app,
        Request::get("/openapi.json")
            .body(Body::empty())
            .expect("a request"),
    )
    .await;
    assert_eq!(status, 200, "GET /openapi.json: {document}");
    assert!(
        document["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.")),
        "not an OpenAPI 3 document: {document}"
    );
    let mut checked = Vec::new();
    let paths = document["paths"].as_object().expect("paths");
    for (path, item) in paths {
        for (method, operation) in item.as_object().expect("path item") {
            let Ok(method) = method.to_uppercase().parse::<Method>() else {
                continue; // `parameters`, `summary`: not operations
            };
            let name = format!("{method} {path}");
            let (status, body) = call(app, probe(&method, path)).await;
            let response = &operation["responses"][status.to_string()];
            assert!(
                response.is_object(),
                "{name} answered {status}, which the document does not list: {body}"
            );
            if let Some(schema) = response["content"]["application/json"]["schema"].as_object() {
                check_shape(&document, &Value::Object(schema.clone()), &body, &name);
            }
            checked.push(name);
        }
    }
    checked.sort();
    checked
}

async fn call(app: &Router, request: Request<Body>) -> (u16, Value) {
    let response = app.clone().oneshot(request).await.expect("the app answers");
    let status = response.status().as_u16();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("a body")
        .to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// The object schema `schema` points to (following one `$ref` into `components.schemas`).
fn resolve<'a>(document: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(reference) => {
            let name = reference.rsplit('/').next().unwrap_or_default();
            &document["components"]["schemas"][name]
        }
        None => schema,
    }
}

fn check_shape(document: &Value, schema: &Value, body: &Value, name: &str) {
    let schema = resolve(document, schema);
    let Some(properties) = schema["properties"].as_object() else {
        return;
    };
    let object = body
        .as_object()
        .unwrap_or_else(|| panic!("{name}: documented an object, answered {body}"));
    for key in object.keys() {
        assert!(
            properties.contains_key(key),
            "{name}: answered property `{key}` that the document does not list"
        );
    }
    for required in schema["required"].as_array().into_iter().flatten() {
        let key = required.as_str().unwrap_or_default();
        assert!(
            object.contains_key(key),
            "{name}: the document requires `{key}`, the answer has none: {body}"
        );
    }
}
