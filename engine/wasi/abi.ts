/** Numeric constants and struct layouts of wasi_snapshot_preview1 (from the witx definitions). */

export const Right = {
  FD_DATASYNC: 1n << 0n,
  FD_READ: 1n << 1n,
  FD_SEEK: 1n << 2n,
  FD_FDSTAT_SET_FLAGS: 1n << 3n,
  FD_SYNC: 1n << 4n,
  FD_TELL: 1n << 5n,
  FD_WRITE: 1n << 6n,
  FD_ADVISE: 1n << 7n,
  FD_ALLOCATE: 1n << 8n,
  PATH_CREATE_DIRECTORY: 1n << 9n,
  PATH_CREATE_FILE: 1n << 10n,
  PATH_LINK_SOURCE: 1n << 11n,
  PATH_LINK_TARGET: 1n << 12n,
  PATH_OPEN: 1n << 13n,
  FD_READDIR: 1n << 14n,
  PATH_READLINK: 1n << 15n,
  PATH_RENAME_SOURCE: 1n << 16n,
  PATH_RENAME_TARGET: 1n << 17n,
  PATH_FILESTAT_GET: 1n << 18n,
  PATH_FILESTAT_SET_SIZE: 1n << 19n,
  PATH_FILESTAT_SET_TIMES: 1n << 20n,
  FD_FILESTAT_GET: 1n << 21n,
  FD_FILESTAT_SET_SIZE: 1n << 22n,
  FD_FILESTAT_SET_TIMES: 1n << 23n,
  PATH_SYMLINK: 1n << 24n,
  PATH_REMOVE_DIRECTORY: 1n << 25n,
  PATH_UNLINK_FILE: 1n << 26n,
  POLL_FD_READWRITE: 1n << 27n,
  SOCK_SHUTDOWN: 1n << 28n,
  SOCK_ACCEPT: 1n << 29n,
} as const;

export const ALL_RIGHTS = (1n << 30n) - 1n;

/** Rights that make sense on a regular file descriptor. */
export const FILE_RIGHTS =
  Right.FD_DATASYNC | Right.FD_READ | Right.FD_SEEK | Right.FD_FDSTAT_SET_FLAGS | Right.FD_SYNC |
  Right.FD_TELL | Right.FD_WRITE | Right.FD_ADVISE | Right.FD_ALLOCATE | Right.FD_FILESTAT_GET |
  Right.FD_FILESTAT_SET_SIZE | Right.FD_FILESTAT_SET_TIMES | Right.POLL_FD_READWRITE;

/** Rights that make sense on a directory descriptor (no read/write/seek: directories are not byte streams). */
export const DIR_RIGHTS =
  Right.FD_FDSTAT_SET_FLAGS | Right.FD_SYNC | Right.FD_ADVISE | Right.PATH_CREATE_DIRECTORY |
  Right.PATH_CREATE_FILE | Right.PATH_LINK_SOURCE | Right.PATH_LINK_TARGET | Right.PATH_OPEN |
  Right.FD_READDIR | Right.PATH_READLINK | Right.PATH_RENAME_SOURCE | Right.PATH_RENAME_TARGET |
  Right.PATH_FILESTAT_GET | Right.PATH_FILESTAT_SET_SIZE | Right.PATH_FILESTAT_SET_TIMES |
  Right.FD_FILESTAT_GET | Right.FD_FILESTAT_SET_TIMES | Right.PATH_SYMLINK | Right.PATH_REMOVE_DIRECTORY |
  Right.PATH_UNLINK_FILE | Right.POLL_FD_READWRITE;

/** Rights of stdin (a read-only character device: no seek/tell, which is how guests detect a tty). */
export const STDIN_RIGHTS =
  Right.FD_READ | Right.FD_FDSTAT_SET_FLAGS | Right.FD_FILESTAT_GET | Right.POLL_FD_READWRITE;
/** Rights of stdout/stderr. */
export const STDOUT_RIGHTS =
  Right.FD_WRITE | Right.FD_FDSTAT_SET_FLAGS | Right.FD_FILESTAT_GET | Right.POLL_FD_READWRITE;

export const enum Filetype {
  UNKNOWN = 0,
  BLOCK_DEVICE = 1,
  CHARACTER_DEVICE = 2,
  DIRECTORY = 3,
  REGULAR_FILE = 4,
  SOCKET_DGRAM = 5,
  SOCKET_STREAM = 6,
  SYMBOLIC_LINK = 7,
}

export const FdFlag = { APPEND: 1, DSYNC: 2, NONBLOCK: 4, RSYNC: 8, SYNC: 16 } as const;
export const FDFLAGS_MASK = 31;
export const OFlag = { CREAT: 1, DIRECTORY: 2, EXCL: 4, TRUNC: 8 } as const;
export const OFLAGS_MASK = 15;
export const LOOKUP_SYMLINK_FOLLOW = 1;
export const FstFlag = { ATIM: 1, ATIM_NOW: 2, MTIM: 4, MTIM_NOW: 8 } as const;
export const FSTFLAGS_MASK = 15;
export const Whence = { SET: 0, CUR: 1, END: 2 } as const;
export const Clock = { REALTIME: 0, MONOTONIC: 1, PROCESS_CPUTIME: 2, THREAD_CPUTIME: 3 } as const;
export const EventType = { CLOCK: 0, FD_READ: 1, FD_WRITE: 2 } as const;
export const SUBCLOCK_ABSTIME = 1;
export const EVENT_FD_READWRITE_HANGUP = 1;
export const PREOPENTYPE_DIR = 0;

/** Struct sizes (bytes). */
export const SIZE = {
  IOVEC: 8,
  FDSTAT: 24,
  FILESTAT: 64,
  PRESTAT: 8,
  DIRENT: 24,
  SUBSCRIPTION: 48,
  EVENT: 32,
} as const;

/** The filestat.dev every virtual inode reports: one virtual device holds the whole disk. */
export const VIRTUAL_DEV = 1n;
