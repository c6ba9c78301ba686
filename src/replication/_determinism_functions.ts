/**
 * @module
 * The function lists behind the determinism rules (DESIGN.md, "Determinism"): which calls give a
 * different value on each server. PostgreSQL's volatility classes are the source
 * (https://www.postgresql.org/docs/15/xfunc-volatility.html): a VOLATILE function "can return
 * different results on successive calls with the same arguments", so every volatile built-in is
 * non-deterministic unless listed as an exception; a few STABLE built-ins are too, because their
 * value depends on the transaction, the backend or the server rather than on their arguments
 * (`now()` is the transaction's start time, which differs on every server).
 *
 * `VOLATILE_CATALOG_NAMES` was generated once from a PostgreSQL 15.18 catalog on a throwaway
 * server (`scripts/pg_server.ts`) with:
 *
 * ```sql
 * SELECT string_agg(proname, chr(32) ORDER BY proname) FROM (
 *   SELECT proname FROM pg_proc
 *   WHERE pronamespace = 'pg_catalog'::regnamespace
 *     AND NOT 'internal'::regtype = ANY (proargtypes::oid[])
 *   GROUP BY proname HAVING bool_or(provolatile = 'v')) f
 * ```
 *
 * then wrapped at 98 columns: every `pg_catalog` name with at least one callable volatile overload.
 */

/** Names of the pg_catalog functions (PostgreSQL 15) with a callable VOLATILE overload. */
const VOLATILE_CATALOG_NAMES = `
RI_FKey_cascade_del RI_FKey_cascade_upd RI_FKey_check_ins RI_FKey_check_upd RI_FKey_noaction_del
RI_FKey_noaction_upd RI_FKey_restrict_del RI_FKey_restrict_upd RI_FKey_setdefault_del
RI_FKey_setdefault_upd RI_FKey_setnull_del RI_FKey_setnull_upd amvalidate
binary_upgrade_create_empty_extension binary_upgrade_set_missing_value
binary_upgrade_set_next_array_pg_type_oid binary_upgrade_set_next_heap_pg_class_oid
binary_upgrade_set_next_heap_relfilenode binary_upgrade_set_next_index_pg_class_oid
binary_upgrade_set_next_index_relfilenode binary_upgrade_set_next_multirange_array_pg_type_oid
binary_upgrade_set_next_multirange_pg_type_oid binary_upgrade_set_next_pg_authid_oid
binary_upgrade_set_next_pg_enum_oid binary_upgrade_set_next_pg_tablespace_oid
binary_upgrade_set_next_pg_type_oid binary_upgrade_set_next_toast_pg_class_oid
binary_upgrade_set_next_toast_relfilenode binary_upgrade_set_record_init_privs
brin_desummarize_range brin_summarize_new_values brin_summarize_range clock_timestamp
current_query currtid2 currval cursor_to_xml cursor_to_xmlschema gen_random_uuid
gin_clean_pending_list lastval lo_close lo_creat lo_create lo_export lo_from_bytea lo_get
lo_import lo_lseek lo_lseek64 lo_open lo_put lo_tell lo_tell64 lo_truncate lo_truncate64
lo_unlink loread lowrite nextval pg_advisory_lock pg_advisory_lock_shared pg_advisory_unlock
pg_advisory_unlock_all pg_advisory_unlock_shared pg_advisory_xact_lock
pg_advisory_xact_lock_shared pg_backup_start pg_backup_stop pg_blocking_pids pg_cancel_backend
pg_collation_actual_version pg_control_checkpoint pg_control_init pg_control_recovery
pg_control_system pg_copy_logical_replication_slot pg_copy_physical_replication_slot
pg_create_logical_replication_slot pg_create_physical_replication_slot pg_create_restore_point
pg_current_logfile pg_current_wal_flush_lsn pg_current_wal_insert_lsn pg_current_wal_lsn
pg_database_collation_actual_version pg_database_size pg_drop_replication_slot pg_export_snapshot
pg_extension_config_dump pg_get_backend_memory_contexts pg_get_multixact_members
pg_get_shmem_allocations pg_get_wal_replay_pause_state pg_get_wal_resource_managers
pg_hba_file_rules pg_ident_file_mappings pg_import_system_collations pg_indexes_size
pg_is_in_recovery pg_is_wal_replay_paused pg_isolation_test_session_is_blocked pg_jit_available
pg_last_committed_xact pg_last_wal_receive_lsn pg_last_wal_replay_lsn
pg_last_xact_replay_timestamp pg_lock_status pg_log_backend_memory_contexts
pg_logical_emit_message pg_logical_slot_get_binary_changes pg_logical_slot_get_changes
pg_logical_slot_peek_binary_changes pg_logical_slot_peek_changes pg_ls_archive_statusdir
pg_ls_dir pg_ls_logdir pg_ls_logicalmapdir pg_ls_logicalsnapdir pg_ls_replslotdir pg_ls_tmpdir
pg_ls_waldir pg_nextoid pg_notification_queue_usage pg_notify pg_partition_ancestors
pg_partition_tree pg_prepared_xact pg_promote pg_read_binary_file pg_read_file pg_read_file_old
pg_relation_size pg_reload_conf pg_replication_origin_advance pg_replication_origin_create
pg_replication_origin_drop pg_replication_origin_progress pg_replication_origin_session_is_setup
pg_replication_origin_session_progress pg_replication_origin_session_reset
pg_replication_origin_session_setup pg_replication_origin_xact_reset
pg_replication_origin_xact_setup pg_replication_slot_advance pg_rotate_logfile
pg_rotate_logfile_old pg_safe_snapshot_blocking_pids pg_sequence_last_value
pg_show_all_file_settings pg_show_replication_origin_status pg_sleep pg_sleep_for pg_sleep_until
pg_stat_clear_snapshot pg_stat_file pg_stat_force_next_flush pg_stat_get_recovery_prefetch
pg_stat_get_xact_blocks_fetched pg_stat_get_xact_blocks_hit pg_stat_get_xact_function_calls
pg_stat_get_xact_function_self_time pg_stat_get_xact_function_total_time
pg_stat_get_xact_numscans pg_stat_get_xact_tuples_deleted pg_stat_get_xact_tuples_fetched
pg_stat_get_xact_tuples_hot_updated pg_stat_get_xact_tuples_inserted
pg_stat_get_xact_tuples_returned pg_stat_get_xact_tuples_updated pg_stat_have_stats pg_stat_reset
pg_stat_reset_replication_slot pg_stat_reset_shared pg_stat_reset_single_function_counters
pg_stat_reset_single_table_counters pg_stat_reset_slru pg_stat_reset_subscription_stats
pg_stop_making_pinned_objects pg_switch_wal pg_table_size pg_tablespace_size pg_terminate_backend
pg_total_relation_size pg_try_advisory_lock pg_try_advisory_lock_shared pg_try_advisory_xact_lock
pg_try_advisory_xact_lock_shared pg_wal_replay_pause pg_wal_replay_resume
pg_xact_commit_timestamp pg_xact_commit_timestamp_origin pg_xact_status plpgsql_call_handler
plpgsql_validator query_to_xml query_to_xml_and_xmlschema query_to_xmlschema random set_config
setseed setval suppress_redundant_updates_trigger timeofday ts_rewrite ts_stat
tsvector_update_trigger tsvector_update_trigger_column txid_status unique_key_recheck
`;

/**
 * Built-ins whose value differs between servers although they are not (all) volatile in
 * PostgreSQL 15: clocks (`now()` and friends are STABLE), transaction and snapshot ids, the
 * backend and the network, server start and configuration times, statistics and physical
 * storage, OIDs, sequence state of the session (`currval`/`lastval` depend on which values this
 * server's `nextval` returned), `age()` (one argument: against the current date or transaction),
 * and the names PostgreSQL 16 and later added (absent from the list above), plus the
 * uuid-ossp extension's generators, which are usually called unqualified.
 */
const EXTRA_NONDETERMINISTIC = `
now transaction_timestamp statement_timestamp clock_timestamp timeofday
random random_normal gen_random_uuid uuidv4 uuidv7 uuid_generate_v1 uuid_generate_v1mc
uuid_generate_v4 txid_current txid_current_if_assigned txid_current_snapshot pg_current_xact_id
pg_current_xact_id_if_assigned pg_current_snapshot pg_backend_pid inet_client_addr
inet_client_port inet_server_addr inet_server_port pg_postmaster_start_time pg_conf_load_time
pg_current_wal_lsn pg_current_wal_insert_lsn pg_current_wal_flush_lsn version age mxid_age
currval lastval pg_my_temp_schema pg_relation_filenode pg_relation_filepath pg_filenode_relation
pg_column_size pg_trigger_depth pg_stat_get_snapshot_timestamp array_sample array_shuffle
any_value system_user
`;

/**
 * Volatile built-ins that are replicated as they are: `setval` sets the same value everywhere,
 * the blocking advisory lock functions return void and take the same locks on every server,
 * and settings, notifications and sleeps change no row. The `pg_try_advisory_*` functions are
 * not here: their result depends on what other sessions hold at that instant on each server.
 * `nextval` is handled on its own (see `_determinism_scan.ts`).
 */
const DETERMINISTIC_VOLATILE = `
setval pg_advisory_lock pg_advisory_lock_shared pg_advisory_unlock pg_advisory_unlock_shared
pg_advisory_unlock_all pg_advisory_xact_lock pg_advisory_xact_lock_shared set_config pg_notify
pg_sleep pg_sleep_for pg_sleep_until
`;

function words(text: string): string[] {
  return text.trim().split(/\s+/);
}

const DETERMINISTIC_EXCEPTIONS: ReadonlySet<string> = new Set(words(DETERMINISTIC_VOLATILE));

/**
 * Built-in (pg_catalog) names whose calls give a different value on each server: the volatile
 * catalog names and the extra list, minus the exceptions. `nextval` is among them.
 */
export const NONDETERMINISTIC_FUNCTIONS: ReadonlySet<string> = new Set(
  [...words(VOLATILE_CATALOG_NAMES), ...words(EXTRA_NONDETERMINISTIC)]
    .filter((name) => !DETERMINISTIC_EXCEPTIONS.has(name)),
);

/** Names known to be built-in (volatile or not): the catalog's volatile names and the extras. */
export const KNOWN_VOLATILE_BUILTINS: ReadonlySet<string> = new Set([
  ...words(VOLATILE_CATALOG_NAMES),
  ...words(EXTRA_NONDETERMINISTIC),
  ...DETERMINISTIC_EXCEPTIONS,
]);

/** Functions whose name starts with one of these read statistics: a different value everywhere. */
export const NONDETERMINISTIC_PREFIXES: readonly string[] = ["pg_stat_get_"];
