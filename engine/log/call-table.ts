/**
 * Host-call name <-> 1-byte id, as stored in EntryBatch.calls. The table is part of the FORMAT: ids are
 * written to trace files, so this list is APPEND-ONLY (never reorder, never remove; ids up to 254).
 * It is deliberately a literal here rather than derived from engine/wasi/calls.ts, so that editing the WASI
 * host can never renumber the ids of saved traces.
 */

/** Id of the empty call name (Digest entries). */
export const callIdNone = 0;
/** Id meaning "name stored in EntryBatch.custom_calls" (calls of non-WASI machines). */
export const callIdCustom = 255;

const callNames: readonly string[] = [
  '', // 0: Digest entries carry no call
  'args_get', 'args_sizes_get', 'environ_get', 'environ_sizes_get',
  'clock_res_get', 'clock_time_get', 'random_get',
  'fd_advise', 'fd_allocate', 'fd_close', 'fd_datasync', 'fd_fdstat_get', 'fd_fdstat_set_flags',
  'fd_fdstat_set_rights', 'fd_filestat_get', 'fd_filestat_set_size', 'fd_filestat_set_times', 'fd_pread',
  'fd_prestat_get', 'fd_prestat_dir_name', 'fd_pwrite', 'fd_read', 'fd_readdir', 'fd_renumber', 'fd_seek',
  'fd_sync', 'fd_tell', 'fd_write',
  'path_create_directory', 'path_filestat_get', 'path_filestat_set_times', 'path_link', 'path_open',
  'path_readlink', 'path_remove_directory', 'path_rename', 'path_symlink', 'path_unlink_file',
  'poll_oneoff', 'proc_exit', 'proc_raise', 'sched_yield',
  'sock_accept', 'sock_recv', 'sock_send', 'sock_shutdown',
];

const idsByName: ReadonlyMap<string, number> = new Map(callNames.map((n, i) => [n, i]));

/** Number of ids in use (ids 0 .. callIdsUsed-1 are known names). */
export const callIdsUsed = callNames.length;

/** Id of a call name, or callIdCustom when the name is not in the table. */
export function callId(name: string): number {
  return idsByName.get(name) ?? callIdCustom;
}

/** Name of a table id; undefined for callIdCustom and for ids this build does not know. */
export function callName(id: number): string | undefined {
  return id >= 0 && id < callNames.length ? callNames[id] : undefined;
}
