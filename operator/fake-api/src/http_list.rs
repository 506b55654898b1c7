//! LIST in chunks, as a real API server serves it.

use std::collections::HashMap;

use serde_json::{Value, json};

use crate::http_target::Target;
use crate::store::ApiError;

/// LIST, in chunks when the client sends `limit`: the `continue` token carries the first
/// page's resourceVersion (every page reports it, as a real server serves them all from one
/// snapshot; changes made meanwhile reach a watch started from that version) and the last
/// key sent. A malformed token is `400 BadRequest`.
pub(crate) fn list(
    store: &crate::store::Store,
    target: &Target,
    query: &HashMap<String, String>,
) -> Result<(Vec<Value>, Value), ApiError> {
    let selector = query.get("labelSelector").map(String::as_str);
    let namespace = target.namespace.as_deref();
    let limit = query
        .get("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .filter(|l| *l > 0);
    let Some(limit) = limit else {
        let items = store.list(&target.collection, namespace, selector);
        return Ok((
            items,
            json!({"resourceVersion": store.resource_version().to_string()}),
        ));
    };
    let (rv, after) = match query.get("continue").filter(|c| !c.is_empty()) {
        None => (store.resource_version().to_string(), None),
        Some(token) => {
            let mut parts = token.splitn(3, ':');
            match (parts.next(), parts.next(), parts.next()) {
                (Some(rv), Some(ns), Some(name)) if rv.parse::<u64>().is_ok() => {
                    (rv.to_owned(), Some((ns.to_owned(), name.to_owned())))
                }
                _ => {
                    return Err(ApiError::new(
                        400,
                        "BadRequest",
                        format!("invalid continue token {token:?}"),
                    ));
                }
            }
        }
    };
    let (items, next) = store.list_page(
        &target.collection,
        namespace,
        selector,
        limit,
        after.as_ref(),
    );
    let mut metadata = json!({ "resourceVersion": rv });
    if let Some((ns, name)) = next {
        metadata["continue"] = json!(format!("{rv}:{ns}:{name}"));
    }
    Ok((items, metadata))
}
