//! The choice of endpoint per unit of work, and the wake-up of work waiting on a dead endpoint.
use super::*;

fn endpoints(n: u16) -> Endpoints {
    let list = (0..n)
        .map(|i| MySqlConnectOptions::new().host("127.0.0.1").port(4000 + i))
        .collect();
    let endpoints = Endpoints::new(list);
    for e in &endpoints.list {
        e.healthy.store(true, Ordering::Relaxed);
    }
    endpoints
}

#[test]
fn the_least_busy_healthy_endpoint_is_chosen() {
    assert_eq!(choose([Some(5), Some(2), Some(7)].into_iter(), 0), 1);
    // Down endpoints are never chosen while one is up, however idle.
    assert_eq!(choose([None, Some(9), Some(3)].into_iter(), 0), 2);
    assert_eq!(choose([Some(4), None, None].into_iter(), 2), 0);
}

#[test]
fn ties_rotate_from_the_cursor_and_all_down_falls_back_to_it() {
    let tied: Vec<usize> = (0..4)
        .map(|start| choose([Some(1), Some(1), Some(1)].into_iter(), start))
        .collect();
    assert_eq!(tied, [0, 1, 2, 0]);
    // Only the healthy ones share the turns of a dead one.
    let shared: Vec<usize> = (0..4)
        .map(|start| choose([Some(0), None, Some(0)].into_iter(), start))
        .collect();
    assert_eq!(shared, [0, 2, 2, 0]);
    assert_eq!(choose([None, None].into_iter(), 5), 1);
}

#[test]
fn pick_spreads_idle_pools_and_prefers_a_recovered_empty_one() {
    let e = endpoints(2);
    let idle: Vec<usize> = (0..4).map(|_| e.pick(|_| 0)).collect();
    assert_eq!(idle, [0, 1, 0, 1]);
    // Endpoint 1 just came back with an empty pool while 0 carries eight busy connections.
    let after: Vec<usize> = (0..3).map(|_| e.pick(|i| [8, 0][i])).collect();
    assert_eq!(after, [1, 1, 1]);
    e.list[1].healthy.store(false, Ordering::Relaxed);
    assert_eq!(e.pick(|i| [8, 0][i]), 0);
}

#[tokio::test(start_paused = true)]
async fn waiting_work_is_woken_when_its_endpoint_is_found_down() {
    let e = std::sync::Arc::new(endpoints(2));
    let waiter = {
        let e = e.clone();
        tokio::spawn(async move { e.list[0].went_down().await })
    };
    tokio::task::yield_now().await;
    assert!(!waiter.is_finished());
    let refused: Result<()> = Err(Error::InvalidArgument("refused".into()));
    e.mark(&e.list[0], &refused);
    tokio::time::timeout(Duration::from_secs(1), waiter)
        .await
        .expect("woken")
        .unwrap();
    // Already down: no wait at all.
    tokio::time::timeout(Duration::from_secs(1), e.list[0].went_down())
        .await
        .expect("at once");
}

#[test]
fn a_suspect_endpoint_is_avoided_until_a_probe_answers() {
    let e = endpoints(2);
    e.suspect(0);
    // Far less busy, still avoided.
    assert_eq!(e.pick(|i| [0, 50][i]), 1);
    // The only healthy one: chosen anyway.
    e.list[1].healthy.store(false, Ordering::Relaxed);
    assert_eq!(e.pick(|i| [0, 50][i]), 0);
    e.list[1].healthy.store(true, Ordering::Relaxed);
    e.mark(&e.list[0], &Ok(()));
    assert_eq!(e.pick(|i| [0, 50][i]), 0);
}
