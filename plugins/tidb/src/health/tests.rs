//! Target choice: round robin over healthy endpoints, pins after a recovery, the recycle budget.
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

fn names(endpoints: &Endpoints, n: usize) -> Vec<u16> {
    (0..n)
        .map(|_| endpoints.next_target().map_or(0, |e| e.options.get_port()))
        .collect()
}

#[test]
fn round_robin_skips_endpoints_that_are_down() {
    let e = endpoints(3);
    assert_eq!(names(&e, 4), [4000, 4001, 4002, 4000]);
    e.list[1].healthy.store(false, Ordering::Relaxed);
    // Its turns spread over the others, not all to its neighbour.
    assert_eq!(names(&e, 4), [4000, 4002, 4000, 4002]);
}

#[test]
fn a_pin_sends_its_share_to_the_recovered_endpoint_then_round_robin_resumes() {
    let e = endpoints(2);
    *e.pinned.lock().unwrap() = Some((1, 3));
    assert_eq!(names(&e, 5), [4001, 4001, 4001, 4000, 4001]);
    // An endpoint that goes down again loses its pin and its pending recycling.
    *e.pinned.lock().unwrap() = Some((1, 3));
    e.recycle.store(2, Ordering::Relaxed);
    e.list[1].healthy.store(false, Ordering::Relaxed);
    assert_eq!(names(&e, 2), [4000, 4000]);
    assert!(!e.recycle_on_release());
}

#[test]
fn releases_are_recycled_exactly_as_many_times_as_asked() {
    let e = endpoints(2);
    assert!(!e.recycle_on_release());
    e.recycle.store(2, Ordering::Relaxed);
    let recycled: Vec<bool> = (0..4).map(|_| e.recycle_on_release()).collect();
    assert_eq!(recycled, [true, true, false, false]);
    assert_eq!(e.stats().recycled, 2);
}
