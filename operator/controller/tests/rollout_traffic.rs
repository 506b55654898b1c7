//! The rollout state machine with exact traffic (`trafficRouting`) and blue-green: the split
//! each decision asks for, the pods behind it, and the stages of a blue-green rollout.

mod rollout_support;

use lockstep_crd::spec::{RolloutSpec, Step, Strategy};
use lockstep_crd::status::Phase;
use lockstep_crd::traffic::{
    BlueGreen, CanaryScale, GatewayApiRoute, HeaderMatch, HeaderRoute, HeaderValue, TrafficRouting,
};
use lockstep_operator::core::rollout::AnalysisOutcome;
use lockstep_operator::core::traffic::Split;
use rollout_support::*;

fn routed(steps: Vec<Step>) -> RolloutSpec {
    RolloutSpec {
        traffic_routing: Some(TrafficRouting {
            gateway_api: GatewayApiRoute {
                http_route: "web".into(),
                namespace: None,
            },
        }),
        ..canary(steps)
    }
}

fn header_step(name: &str, on: bool) -> Step {
    Step {
        set_header_route: Some(HeaderRoute {
            name: name.into(),
            matches: if on {
                vec![HeaderMatch {
                    header_name: "x-canary".into(),
                    value: HeaderValue {
                        exact: Some("yes".into()),
                        prefix: None,
                        regular_expression: None,
                    },
                }]
            } else {
                vec![]
            },
        }),
        ..Step::default()
    }
}

fn headers(split: &Split) -> Vec<&str> {
    split.headers.iter().map(|h| h.name.as_str()).collect()
}

#[test]
fn a_routed_canary_sets_each_weight_once_its_pods_are_ready() {
    let steps = vec![
        weight(5),
        header_step("testers", true),
        weight(25),
        header_step("testers", false),
        weight(100),
    ];
    let mut run = Run::new(routed(steps), Some(1), 2);
    run.ready(1, 4).ready(2, 0);
    let d = run.step(None);
    // 5 % of 4 replicas is one pod; the stable revision keeps all four (abort needs no pod).
    assert_eq!(d.scale, scale(&[(1, 4), (2, 1)]));
    assert_eq!(
        (d.traffic.stable, d.traffic.canary, d.traffic.weight),
        (Some(1), Some(2), 0),
        "no request before the pod is ready"
    );
    assert_eq!(d.serving, None);
    run.ready(2, 1);
    let d = run.step(None);
    assert_eq!(reasons(&d), ["StepCompleted"]);
    assert_eq!(
        d.traffic.weight, 5,
        "step 0's weight, written in the decision that passes it"
    );
    let d = run.step(None);
    assert_eq!(
        (d.traffic.weight, headers(&d.traffic)),
        (5, vec!["testers"])
    );
    let d = run.step(None);
    assert_eq!(
        d.scale,
        scale(&[(1, 4), (2, 1)]),
        "25 % of 4 is still one pod"
    );
    assert_eq!(
        (d.traffic.weight, headers(&d.traffic)),
        (25, vec!["testers"])
    );
    let d = run.step(None);
    assert_eq!(
        (d.traffic.weight, headers(&d.traffic)),
        (25, vec![]),
        "removed by its step"
    );
    let d = run.step(None);
    assert_eq!(d.scale, scale(&[(1, 4), (2, 4)]));
    assert_eq!(d.traffic.weight, 25, "100 % waits for four ready pods");
    run.ready(2, 4);
    let d = run.step(None);
    assert_eq!(d.traffic.weight, 100);
    let d = run.step(None);
    assert_eq!(reasons(&d), ["RolloutCompleted"]);
    assert_eq!(
        d.traffic,
        Split::only(2),
        "completed: both Services select 2, weights 100/0"
    );
}

#[test]
fn abort_returns_every_request_to_stable_at_once() {
    let mut run = Run::new(
        routed(vec![weight(25), header_step("t", true), pause(None)]),
        Some(1),
        2,
    );
    run.ready(1, 4).ready(2, 1);
    run.step(None);
    run.step(None);
    let d = run.step(None);
    assert_eq!(
        (d.phase, d.traffic.weight, headers(&d.traffic)),
        (Phase::Paused, 25, vec!["t"])
    );
    run.abort = Some("a1".into());
    let d = run.step(None);
    assert_eq!(reasons(&d), ["Aborted", "RolledBack"]);
    assert_eq!(
        d.traffic,
        Split::only(1),
        "100/0 and no header route, in one decision"
    );
    assert_eq!(d.scale, scale(&[(1, 4)]));
}

#[test]
fn a_route_that_cannot_take_the_split_holds_the_rollout_past_the_deadline() {
    let mut run = Run::new(routed(vec![weight(25)]), Some(1), 2);
    run.ready(1, 4).ready(2, 1);
    run.traffic_blocked = Some("HTTPRoute shop/web not found".into());
    let d = run.step(None);
    assert_eq!(d.phase, Phase::Progressing);
    assert!(
        d.message
            .contains("waiting for traffic routing: HTTPRoute shop/web not found"),
        "{}",
        d.message
    );
    run.now += 3600;
    let d = run.step(None);
    assert!(
        reasons(&d).is_empty(),
        "no rollback while a person must fix the route: {:?}",
        reasons(&d)
    );
    assert_eq!(d.state.step, Some(0));
    run.traffic_blocked = None;
    run.traffic_restored = true;
    let d = run.step(None);
    assert_eq!(reasons(&d), ["StepCompleted"]);
}

#[test]
fn set_canary_scale_decides_the_pods_until_told_to_follow_the_weight() {
    let scale_to = |c: CanaryScale| Step {
        set_canary_scale: Some(c),
        ..Step::default()
    };
    let three = CanaryScale {
        replicas: Some(3),
        weight: None,
        match_traffic_weight: false,
    };
    let follow = CanaryScale {
        replicas: None,
        weight: None,
        match_traffic_weight: true,
    };
    let mut run = Run::new(
        routed(vec![
            scale_to(three),
            weight(5),
            scale_to(follow),
            weight(10),
        ]),
        Some(1),
        2,
    );
    run.ready(1, 4).ready(2, 0);
    assert_eq!(run.step(None).scale, scale(&[(1, 4), (2, 3)]));
    run.ready(2, 3);
    run.step(None);
    let d = run.step(None);
    assert_eq!(
        (d.scale.clone(), d.traffic.weight),
        (scale(&[(1, 4), (2, 3)]), 5),
        "3 pods for 5 %"
    );
    run.step(None);
    let d = run.step(None);
    assert_eq!(d.scale, scale(&[(1, 4), (2, 1)]), "10 % of 4 again");
}

fn blue_green(bg: BlueGreen) -> RolloutSpec {
    RolloutSpec {
        strategy: Strategy::BlueGreen,
        blue_green: Some(bg),
        ..RolloutSpec::default()
    }
}

#[test]
fn blue_green_previews_promotes_by_a_flip_and_flips_back_on_failed_analysis() {
    let bg = BlueGreen {
        preview_replicas: Some(1),
        post_promotion_analysis: Some(analysis("errors", 1)),
        ..BlueGreen::default()
    };
    let mut run = Run::new(blue_green(bg), Some(1), 2);
    run.ready(1, 4).ready(2, 0);
    let d = run.step(None);
    assert_eq!(
        (d.scale.clone(), d.serving),
        (scale(&[(1, 4), (2, 1)]), Some(1)),
        "the preview: 1 pod, stable serves"
    );
    run.ready(2, 1);
    let d = run.step(None);
    assert_eq!(reasons(&d), ["PreviewReady"]);
    run.now += 7200;
    let d = run.step(None);
    assert_eq!(
        (d.phase, reasons(&d)),
        (Phase::Paused, vec![]),
        "waits for promote, past any deadline"
    );
    run.promote = Some("p1".into());
    let d = run.step(None);
    assert_eq!(reasons(&d), ["Promoted"]);
    assert_eq!(
        (d.scale.clone(), d.serving),
        (scale(&[(1, 4), (2, 4)]), Some(1)),
        "grows before the flip"
    );
    run.ready(2, 4);
    let d = run.step(None);
    assert_eq!(reasons(&d), ["TrafficSwitched"]);
    assert_eq!(
        (d.scale.clone(), d.serving),
        (scale(&[(1, 4), (2, 4)]), Some(2)),
        "flipped; 1 still runs"
    );
    let d = run.step(None);
    assert!(d.analysis_needed);
    let d = run.step(Some(AnalysisOutcome::Value(0.5)));
    assert_eq!(reasons(&d), ["RolledBack"]);
    assert_eq!(
        (d.scale.clone(), d.serving),
        (scale(&[(1, 4)]), Some(1)),
        "flipped back to running pods"
    );
}

#[test]
fn blue_green_completes_and_keeps_the_previous_revision_warm() {
    let bg = BlueGreen {
        auto_promotion_seconds: Some(30),
        ..BlueGreen::default()
    };
    let mut run = Run::new(blue_green(bg), Some(1), 2);
    run.ready(1, 4).ready(2, 4);
    assert_eq!(reasons(&run.step(None)), ["RolloutStarted", "PreviewReady"]);
    let d = run.step(None);
    assert!(d.message.contains("promoting in 30s"), "{}", d.message);
    run.now += 30;
    assert_eq!(reasons(&run.step(None)), ["Promoted"]);
    assert_eq!(reasons(&run.step(None)), ["TrafficSwitched"]);
    let d = run.step(None);
    assert_eq!(reasons(&d), ["RolloutCompleted"]);
    assert_eq!(
        (d.serving, d.state.stable, d.state.warm.map(|w| w.0)),
        (Some(2), Some(2), Some(1))
    );
}

#[test]
fn blue_green_pre_promotion_analysis_failing_rolls_back_before_any_request() {
    let bg = BlueGreen {
        pre_promotion_analysis: Some(analysis("errors", 2)),
        ..BlueGreen::default()
    };
    let mut run = Run::new(blue_green(bg), Some(1), 2);
    run.ready(1, 4).ready(2, 4);
    let d = run.step(None);
    assert!(d.analysis_needed);
    assert_eq!(d.serving, Some(1));
    let d = run.step(Some(AnalysisOutcome::Value(0.9)));
    assert_eq!(reasons(&d), ["RolledBack"]);
    assert_eq!((d.serving, d.scale), (Some(1), scale(&[(1, 4)])));
}

#[test]
fn a_promote_given_while_paused_promotes_once_resumed() {
    let mut run = Run::new(blue_green(BlueGreen::default()), Some(1), 2);
    run.ready(1, 4).ready(2, 4);
    run.step(None);
    run.paused = true;
    run.promote = Some("p1".into());
    assert_eq!(run.step(None).phase, Phase::Paused);
    run.paused = false;
    assert_eq!(reasons(&run.step(None)), ["Promoted"]);
}
