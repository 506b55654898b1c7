//! API Concepts, "Retrieving large results sets in chunks": `limit` returns at most that many
//! objects and a `continue` token while more remain; every page reports the first page's
//! resourceVersion; a bad token is 400; kube's paged LIST (as its watcher does) sees every
//! object once.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::needless_pass_by_value
)]

mod support;

use kube::api::{ListParams, PostParams};
use serde_json::json;
use support::{cm, code, setup};

#[tokio::test]
async fn lists_come_in_chunks_with_continue_tokens() {
    let (_fake, cms, _) = setup().await;
    for i in 0..7 {
        cms.create(
            &PostParams::default(),
            &cm(&format!("cm-{i}"), json!({"app": "x"}), json!({})),
        )
        .await
        .unwrap();
    }
    let first = cms.list(&ListParams::default().limit(3)).await.unwrap();
    assert_eq!(first.items.len(), 3);
    let token = first.metadata.continue_.clone().expect("more remain");
    // A write between pages does not change the version the pages report.
    cms.create(&PostParams::default(), &cm("zz", json!({}), json!({})))
        .await
        .unwrap();
    let second = cms
        .list(&ListParams::default().limit(3).continue_token(&token))
        .await
        .unwrap();
    assert_eq!(
        second.metadata.resource_version,
        first.metadata.resource_version
    );
    let mut names: Vec<String> = first
        .items
        .iter()
        .chain(&second.items)
        .filter_map(|c| c.metadata.name.clone())
        .collect();
    assert_eq!(names, ["cm-0", "cm-1", "cm-2", "cm-3", "cm-4", "cm-5"]);

    // Page through everything with a selector: each matching object once, then no token.
    names.clear();
    let mut params = ListParams::default().labels("app=x").limit(2);
    loop {
        let page = cms.list(&params).await.unwrap();
        names.extend(page.items.iter().filter_map(|c| c.metadata.name.clone()));
        match page.metadata.continue_ {
            Some(token) if !token.is_empty() => params = params.continue_token(&token),
            _ => break,
        }
    }
    assert_eq!(names.len(), 7, "{names:?}");

    let bad = cms
        .list(&ListParams::default().limit(2).continue_token("garbage"))
        .await
        .unwrap_err();
    assert_eq!(code(bad).0, 400);
}
