/**
 * A broken invariant is a programmer error (in the core or in its driver): it throws a plain Error so it
 * crashes loudly instead of being mistaken for an operating condition (those are ProtocolError).
 */
export function invariant(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(`twinstep core invariant broken: ${message}`);
}

/** The same failure for a condition the caller has already tested (keeps message formatting off hot paths). */
export function broken(message: string): never {
  throw new Error(`twinstep core invariant broken: ${message}`);
}
