//! A scripted API server for controller tests (tower-test): each test states the calls it
//! expects, in order, and what the server answers.
// Shared by several test binaries; each uses a subset.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use http::{Method, Request, Response, StatusCode};
use kube::client::Body;
use serde_json::{Value, json};

/// The test's end of the mocked connection.
pub type Handle = tower_test::mock::Handle<Request<Body>, Response<Body>>;

/// A client whose every call goes to the returned handle.
pub fn client(namespace: &str) -> (kube::Client, Handle) {
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    (kube::Client::new(service, namespace), handle)
}

/// Waits for the next request, checks method and path, answers with `reply(request body)`.
pub async fn expect(
    handle: &mut Handle,
    method: Method,
    path: &str,
    status: StatusCode,
    reply: impl FnOnce(Value) -> Value,
) -> Value {
    let (request, send) = handle
        .next_request()
        .await
        .expect("the controller made no further request");
    assert_eq!(
        (request.method(), request.uri().path()),
        (&method, path),
        "unexpected call {} {}",
        request.method(),
        request.uri()
    );
    let watch = request
        .uri()
        .query()
        .is_some_and(|q| q.split('&').any(|kv| kv == "watch=true"));
    let call =
        lockstep_operator::rbac::call_of(request.method().as_str(), request.uri().path(), watch)
            .expect("a resource call");
    assert!(
        lockstep_operator::rbac::allows(&call),
        "{call:?} is not in rbac::PERMISSIONS, so the chart's role would refuse it"
    );
    let bytes = request.into_body().collect_bytes().await.unwrap();
    let body: Value = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap()
    };
    let answer = reply(body.clone());
    send.send_response(
        Response::builder()
            .status(status)
            .body(Body::from(serde_json::to_vec(&answer).unwrap()))
            .unwrap(),
    );
    body
}

pub fn not_found(_: Value) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "reason": "NotFound", "code": 404, "message": "not found"})
}

/// Echoes the object back as the API server would, with a uid.
pub fn created(mut body: Value) -> Value {
    body["metadata"]["uid"] = json!("uid-created");
    body
}
