/**
 * Format versions. A reader accepts every version in its supported range (old traces must stay readable:
 * spec/fixtures holds one trace per released version) and refuses newer ones with E_VERSION, because a
 * newer writer may have changed meaning in ways an old reader would silently misread.
 */

/**
 * Version written into new trace files (file prelude and TraceHeader.format_version). 2: a batch may store its
 * payloads in forms (EntryBatch.payload_forms: a repeated request left out, 8 bytes of data as a difference).
 */
export const traceFormatVersion = 2;
/** Oldest trace version this build still reads. */
export const traceFormatVersionMin = 1;

/** Version of the snapshot envelope and Snapshot table. */
export const snapshotFormatVersion = 1;
export const snapshotFormatVersionMin = 1;

/**
 * Live-channel protocol version (Hello.format_version); peers must match exactly. 2: periodic Digest entries
 * are taken only before input and output calls (a secondary replays through pure calls without waiting).
 * 3: state chunks are hashed with xxh64 (was FNV-1a), and a full pre-copy may come as a full piece without
 * memory followed by diff pieces. 4: entries travel as entry blocks (capture records) instead of FlatBuffers
 * entry batches. 5: an entry block may hold packed runs (capture.ts: a repeated clock read is 8 bytes).
 */
export const channelFormatVersion = 5;

/** Default "created by" string for traces and Hello messages. */
export const createdByDefault = 'twinstep 0.1.0';
