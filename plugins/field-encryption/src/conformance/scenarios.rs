//! The scenario list. Each scenario gets an empty database and returns `Err` with a message on
//! failure; `paths` covers the SeaORM read/write paths and isolation, `lifecycle` keys over time.

use super::Scenario;
use super::{exact, index, lifecycle, paths, refused, retire, rows, versions};

macro_rules! scenario {
    ($module:ident :: $f:ident) => {
        Scenario {
            name: stringify!($f),
            run: |db| Box::pin($module::$f(db)),
        }
    };
}

/// Every scenario.
pub fn all() -> Vec<Scenario> {
    vec![
        scenario!(paths::active_model_insert_update_save),
        scenario!(paths::insert_many_and_update_many),
        scenario!(paths::raw_statement_and_into_json),
        scenario!(paths::ciphertext_at_rest),
        scenario!(paths::cross_tenant_and_moved_values_fail),
        scenario!(paths::tampered_values_fail),
        scenario!(paths::missing_tenant_never_writes),
        scenario!(refused::refused_writes_change_no_row),
        scenario!(paths::plaintext_through_col_expr_is_refused),
        scenario!(lifecycle::rotation_and_rewrap_with_concurrent_writes),
        scenario!(lifecycle::blind_index_finds_exact_rows_per_tenant),
        scenario!(index::blind_index_v2_normalises_binds_the_tenant_and_migrates),
        scenario!(index::reindex_fills_null_indexes),
        scenario!(lifecycle::base64_text_column),
        scenario!(lifecycle::wrapped_keys_in_the_database),
        scenario!(lifecycle::plaintext_migration),
        scenario!(exact::compare_and_set_is_byte_exact),
        scenario!(exact::jobs_select_the_exact_tenant),
        scenario!(exact::base64_rewrap_between_case_variant_key_ids),
        scenario!(retire::retiring_a_key_waits_for_every_column_and_every_replica),
        scenario!(retire::undecryptable_rows_are_named_or_quarantined),
        scenario!(retire::wrapped_keys_of_case_variant_tenants_stay_apart),
        scenario!(rows::row_binding_stops_values_moving_between_rows),
        scenario!(rows::row_binding_covers_version_1_values),
        scenario!(versions::rolling_upgrade_across_envelope_versions),
    ]
}
