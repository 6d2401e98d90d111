/**
 * Operating errors of the logging channel. Every one has a fixed code; the table below is the one docs/PROTOCOL.md
 * lists. Programmer errors (bad options, using the API wrong) are plain Errors and are never reported as NetError.
 *
 *   code          meaning                                                        ws close code
 *   E_AUTH        the peer failed the challenge/response (wrong secret)          4001
 *   E_VMID        the peer belongs to another VM                                 4002
 *   E_EPOCH       the peer's epoch is older than the one we accept               4003
 *   E_ROLE        the peer has our role (two primaries or two secondaries)       4004
 *   E_FRAME_SIZE  a message is larger than maxFrameBytes                         4005, 1009
 *   E_MALFORMED   bad handshake frame, ws protocol violation, too many invalid   4006, 1002, 1003, 1007
 *                 messages reported
 *   E_TIMEOUT     handshake not finished in time, or heartbeats stopped          4007
 *   E_LIMIT       a resource limit (pending handshakes, queued messages)         4008
 *   E_SETTINGS    the peer runs other pair settings (release rule, dispatch)     4010
 *   E_CLOSED      the connection is gone (lost, or used after close)             other
 *   E_CONNECT     could not reach the peer at all                                (local only)
 *   E_CONFIG      unusable local configuration, e.g. the secret file             (local only)
 */
export type NetErrorCode =
  | 'E_AUTH'
  | 'E_VMID'
  | 'E_EPOCH'
  | 'E_ROLE'
  | 'E_FRAME_SIZE'
  | 'E_MALFORMED'
  | 'E_TIMEOUT'
  | 'E_LIMIT'
  | 'E_SETTINGS'
  | 'E_CLOSED'
  | 'E_CONNECT'
  | 'E_CONFIG';

export class NetError extends Error {
  constructor(
    readonly code: NetErrorCode,
    message: string,
    /** true when the peer decided this and told us (e.g. it refused our handshake); false when we detected it. */
    readonly remote = false,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'NetError';
  }
}

/** Codes that travel to the peer in a close frame, so both sides log the same reason. */
const WIRE_CODES: ReadonlyArray<NetErrorCode> = [
  'E_AUTH', 'E_VMID', 'E_EPOCH', 'E_ROLE', 'E_FRAME_SIZE', 'E_MALFORMED', 'E_TIMEOUT', 'E_LIMIT', 'E_CLOSED', 'E_SETTINGS',
];
const WIRE_BASE = 4000;

export function closeCodeOf(err: NetError): number {
  const i = WIRE_CODES.indexOf(err.code);
  return i < 0 ? WIRE_BASE + WIRE_CODES.indexOf('E_CLOSED') + 1 : WIRE_BASE + i + 1;
}

/** The error a ws close code stands for; undefined for a clean close. */
export function errorOfCloseCode(code: number, reason: string): NetError | undefined {
  if (code === 1000) return undefined;
  const detail = reason ? `: ${reason}` : '';
  if (code > WIRE_BASE && code <= WIRE_BASE + WIRE_CODES.length) {
    return new NetError(WIRE_CODES[code - WIRE_BASE - 1]!, `closed by peer${detail}`, true);
  }
  if (code === 1009) return new NetError('E_FRAME_SIZE', `message too big (ws close 1009)${detail}`, true);
  if (code === 1002 || code === 1003 || code === 1007) return new NetError('E_MALFORMED', `protocol error (ws close ${code})${detail}`, true);
  return new NetError('E_CLOSED', `connection closed (ws close ${code})${detail}`, code !== 1006);
}
