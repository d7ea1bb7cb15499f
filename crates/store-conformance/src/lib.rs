//! One behavioural suite every storage backend must pass: an `async fn` per behaviour of
//! the store traits (their doc comments are the contract), and [`conformance_tests!`],
//! which expands them into one test each for a backend.

use std::sync::Arc;

use wirecash_core::Store;

pub mod concurrency;
mod fixtures;
pub mod guard;
pub mod guarded;
pub mod introspectors;
pub mod maintenance;
pub mod operator;
pub mod races;
pub mod rotation;
pub mod sessions;
pub mod transfer;
pub mod users;
pub mod webhooks;

/// What a backend's fixture may return: a fresh, empty store and a guard that keeps its
/// resources (a temporary directory, a scratch schema) alive for the test, either as is
/// or as a `Result` when creating it can fail.
pub trait Fixture {
    /// Kept alive until the test ends.
    type Guard;
    /// The store and its guard.
    fn into_fixture(self) -> anyhow::Result<(Arc<dyn Store>, Self::Guard)>;
}

impl<G> Fixture for (Arc<dyn Store>, G) {
    type Guard = G;
    fn into_fixture(self) -> anyhow::Result<(Arc<dyn Store>, G)> {
        Ok(self)
    }
}

impl<G, E: Into<anyhow::Error>> Fixture for Result<(Arc<dyn Store>, G), E> {
    type Guard = G;
    fn into_fixture(self) -> anyhow::Result<(Arc<dyn Store>, G)> {
        self.map_err(Into::into)
    }
}

#[doc(hidden)]
pub mod __private {
    pub use anyhow;
}

/// Expands into one `#[tokio::test]` per behaviour. This list is the one place a
/// behaviour is named: adding one is its `async fn` in a module and its line here. `$make` is an async function (or a
/// closure returning a future) called with no arguments for every test; it returns a
/// fresh, empty store and a guard (see [`Fixture`]).
///
/// ```ignore
/// // crates/store-xyz/tests/conformance.rs
/// async fn fresh_store() -> anyhow::Result<(Arc<dyn Store>, TempDir)> { ... }
/// wirecash_store_conformance::conformance_tests!(fresh_store);
/// ```
/// The calling crate needs `tokio` (with `macros` and `rt-multi-thread`) as a dependency.
#[macro_export]
macro_rules! conformance_tests {
    ($make:expr) => {
        $crate::__conformance_tests!(
            $make;
            users::create_user_then_find_and_list_by_name,
            users::duplicate_username_conflicts_within_env_but_not_across_envs,
            users::disabling_user_revokes_its_sessions_and_unknown_user_is_not_found,
            users::change_password_replaces_hash_and_revokes_sessions,
            users::rehash_password_applies_only_over_old_hash_and_keeps_sessions,
            users::delete_user_removes_user_and_sessions_and_unknown_is_not_found,
            sessions::create_then_load_session_round_trips_every_field,
            sessions::create_session_with_taken_id_conflicts_and_changes_nothing,
            sessions::load_session_in_another_env_finds_nothing,
            sessions::revoke_session_applies_once,
            sessions::revoke_user_sessions_counts_only_live_sessions,
            sessions::create_session_beyond_max_live_deletes_least_recently_used,
            sessions::list_sessions_filters_by_username_and_limit_newest_first,
            rotation::rotate_applies_once_and_loses_compare_and_set_afterwards,
            rotation::rotate_with_stale_generation_or_hash_loses,
            rotation::rotate_on_revoked_session_loses,
            rotation::concurrent_rotations_with_same_expectation_have_exactly_one_winner,
            maintenance::purge_deletes_dead_sessions_in_batches_and_keeps_live_ones,
            maintenance::keys_insert_list_by_activation_and_delete,
            maintenance::ping_succeeds_on_a_fresh_store,
            concurrency::many_concurrent_writes_all_succeed,
            concurrency::failed_writes_among_concurrent_ones_fail_alone,
            transfer::users_after_pages_through_every_user_in_id_order,
            transfer::sessions_export_and_import_round_trip_every_field,
            transfer::all_keys_returns_every_environment,
            guarded::rotate_guarded_applies_exactly_when_the_lifecycle_says_rotate,
            guard::login_guards_round_trip_read_as_zero_and_purge,
            guard::concurrent_login_guard_updates_are_atomic,
            guard::create_session_settles_login_guards_with_it,
            races::create_session_is_refused_for_a_user_changed_since_it_was_read,
            races::inserts_racing_a_password_change_all_end,
            races::session_kinds_have_their_own_limits_and_revoked_ones_are_pruned,
            races::password_hash_params_lists_each_parameter_set_once,
            introspectors::introspectors_add_find_list_and_remove_per_environment,
            operator::events_are_written_with_their_cause_and_only_then,
            operator::login_guard_updates_store_the_events_they_return,
            operator::events_page_filter_and_purge,
            operator::admin_keys_create_find_list_and_revoke,
            operator::idempotency_keys_claim_complete_release_and_purge,
            operator::users_page_by_prefix_and_env_stats,
            operator::sessions_page_with_cursor_and_client_address,
            operator::revoke_env_sessions_is_scoped_to_its_environment,
            operator::rotate_password_keeps_the_previous_hash_until_the_overlap_ends,
            webhooks::webhooks_create_list_pause_rotate_delete_and_sync,
            webhooks::dispatch_queues_each_event_once_per_subscribed_webhook,
            webhooks::deliveries_are_leased_once_and_finish_as_told,
            webhooks::deliveries_page_test_events_and_cascade,
            webhooks::concurrent_dispatch_and_claims_hand_out_each_delivery_once,
            webhooks::a_claim_for_one_webhook_takes_only_its_deliveries,
            webhooks::concurrent_config_syncs_all_succeed,
        );
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_tests {
    ($make:expr; $($module:ident :: $name:ident),* $(,)?) => {
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() -> $crate::__private::anyhow::Result<()> {
                let (store, _guard) = $crate::Fixture::into_fixture(($make)().await)?;
                $crate::$module::$name(store).await
            }
        )*
    };
}
