/** The functions of wasi_snapshot_preview1, and which of them can ever be input or output calls. */

/**
 * The WebAssembly type of every function of wasi_snapshot_preview1 (from its witx: 64-bit values such as
 * timestamps, file sizes, offsets, rights and directory cookies are i64; handles, flags, lengths and pointers
 * are i32; a string or an array is a pointer and a length), as 'PARAMS:RESULTS' with i for i32 and I for i64.
 * A guest that imports one with another type is refused at load (loader.ts): its calls would reach the host
 * with arguments of the wrong kinds.
 */
export const WASI_SIGNATURES: Readonly<Record<string, string>> = {
  args_get: 'ii:i',
  args_sizes_get: 'ii:i',
  environ_get: 'ii:i',
  environ_sizes_get: 'ii:i',
  clock_res_get: 'ii:i',
  clock_time_get: 'iIi:i',
  random_get: 'ii:i',
  fd_advise: 'iIIi:i',
  fd_allocate: 'iII:i',
  fd_close: 'i:i',
  fd_datasync: 'i:i',
  fd_fdstat_get: 'ii:i',
  fd_fdstat_set_flags: 'ii:i',
  fd_fdstat_set_rights: 'iII:i',
  fd_filestat_get: 'ii:i',
  fd_filestat_set_size: 'iI:i',
  fd_filestat_set_times: 'iIIi:i',
  fd_pread: 'iiiIi:i',
  fd_prestat_get: 'ii:i',
  fd_prestat_dir_name: 'iii:i',
  fd_pwrite: 'iiiIi:i',
  fd_read: 'iiii:i',
  fd_readdir: 'iiiIi:i',
  fd_renumber: 'ii:i',
  fd_seek: 'iIii:i',
  fd_sync: 'i:i',
  fd_tell: 'ii:i',
  fd_write: 'iiii:i',
  path_create_directory: 'iii:i',
  path_filestat_get: 'iiiii:i',
  path_filestat_set_times: 'iiiiIIi:i',
  path_link: 'iiiiiii:i',
  path_open: 'iiiiiIIii:i',
  path_readlink: 'iiiiii:i',
  path_remove_directory: 'iii:i',
  path_rename: 'iiiiii:i',
  path_symlink: 'iiiii:i',
  path_unlink_file: 'iii:i',
  poll_oneoff: 'iiii:i',
  proc_exit: 'i:',
  proc_raise: 'i:i',
  sched_yield: ':i',
  sock_accept: 'iii:i',
  sock_recv: 'iiiiii:i',
  sock_send: 'iiiii:i',
  sock_shutdown: 'ii:i',
};

export const WASI_CALLS: ReadonlySet<string> = new Set(Object.keys(WASI_SIGNATURES));

/**
 * Calls that may be input (nondeterministic) or output (externally visible), depending on their arguments.
 * Under unwind mode 'io' only these are pause points. proc_exit is left out: the guest never continues
 * after it, so there is nothing to resume.
 */
export const IO_CALLS: ReadonlySet<string> = new Set([
  'clock_time_get', 'random_get', 'fd_read', 'fd_pread', 'fd_write', 'fd_pwrite', 'poll_oneoff', 'sched_yield',
]);
