//! The operator as the chart's service account on the fake API server: exactly
//! `rbac::PERMISSIONS`, a request outside them is 403 as on a cluster. Shared by the fake-cluster
//! tests (`fake_support`) and the e2e suites on the fake (`e2e_support`).

use lockstep_fake_api::FakeApi;

/// Who the operator is on the fake API server.
pub(crate) const OPERATOR_USER: &str = "system:serviceaccount:lockstep:lockstep-operator";

/// A client for the operator that `fake` authorizes as the chart's Role would.
pub(crate) fn operator_client(fake: &FakeApi) -> kube::Client {
    fake.authorize(|r| {
        r.user != OPERATOR_USER
            || lockstep_operator::run::rbac::allows(&lockstep_operator::run::rbac::Call {
                group: r.group.clone(),
                resource: r.resource.clone(),
                verb: r.verb,
            })
    });
    fake.client_as(OPERATOR_USER)
}
