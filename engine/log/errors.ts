/**
 * The one error type of the log formats (entries, frames, traces, snapshots, messages). Every malformed
 * input maps to a fixed `code`, so callers branch on codes, never on message text, and a bad byte never
 * surfaces as a RangeError or TypeError from deep inside a decoder.
 */
export type LogFormatCode =
  /** Input ends before a complete structure (short buffer, torn file header). */
  | 'E_TRUNCATED'
  /** A checksum over bytes (frame payload, frame header, snapshot envelope) does not match. */
  | 'E_CHECKSUM'
  /** The hash chain or sequence numbering is broken: lost, reordered or altered entries. */
  | 'E_CHAIN'
  /** A format version this build cannot read (newer, or unknown). */
  | 'E_VERSION'
  /** Not a twinstep file/buffer of the expected kind. */
  | 'E_MAGIC'
  /** Structurally invalid content behind a valid checksum: bad offsets, column mismatch, bad enum... */
  | 'E_MALFORMED'
  /** A frame larger than the reader's limit (protects memory against a hostile or corrupt length). */
  | 'E_FRAME_SIZE'
  /** An entry handed to an encoder violates the LogEntry contract (not a decoding problem). */
  | 'E_ENTRY'
  /** A configured cap (trace bytes) would be exceeded. */
  | 'E_LIMIT'
  /** The object was used after close. */
  | 'E_CLOSED'
  /** Writing failed: a file system error, or the trace encoder thread failed or stopped responding. */
  | 'E_IO';

export class LogFormatError extends Error {
  constructor(
    readonly code: LogFormatCode,
    message: string,
    /** Byte offset in the file/stream where the problem was found, when known. */
    readonly offset?: number,
  ) {
    super(offset === undefined ? message : `${message} (at byte ${offset})`);
    this.name = 'LogFormatError';
  }
}
