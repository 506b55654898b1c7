//! The field-encryption plugin's conformance scenarios (see
//! `lockstep_field_encryption::conformance`) on this target, through SeaORM on the driver's pool.

use crate::fresh::{Case, Ctx};

/// One case per conformance scenario.
pub fn cases() -> Vec<Case> {
    lockstep_field_encryption::conformance::all()
        .into_iter()
        .map(|scenario| Case {
            suite: "encryption",
            name: scenario.name,
            exclusive: false,
            run: std::sync::Arc::new(move |ctx: Ctx| {
                Box::pin(async move {
                    let db = ctx.db.sea_orm();
                    (scenario.run)(&db)
                        .await
                        .map_err(|e| anyhow::anyhow!("{e}"))
                })
            }),
        })
        .collect()
}
