/**
 * The logging channel as both drivers use it: protocol messages in and out of an authenticated transport.
 * A frame that does not decode is reported to the transport (which closes the connection after too many)
 * and never reaches the core; a failed send is logged and left to the core's retransmission.
 */
import type { Message, PrimaryHeartbeat, SecondaryHeartbeat } from '../core/messages.ts';
import { decodeChannelMessage, encodeChannelMessage } from '../log/channel-codec.ts';
import type { NetError } from '../net/errors.ts';
import type { Transport } from '../net/transport.ts';

export function listenChannel(t: Transport, onMessage: (m: Message) => void, onClose: (err?: NetError) => void): void {
  t.onMessage((bytes) => {
    let m: Message;
    try {
      m = decodeChannelMessage(bytes);
    } catch (e) {
      t.reportInvalid((e as Error).message);
      return;
    }
    onMessage(m);
  });
  t.onClose(onClose);
}

/**
 * A message already encoded: what a driver keeps instead of the message when it cannot send at once (a core that
 * reuses its log buffers, PrimaryConfig.reuseLogBuffers, needs every entries message encoded before its next step).
 */
export interface EncodedMessage {
  readonly encoded: Uint8Array;
}

/**
 * What a driver keeps of a message it sends later: an entries message encoded now (its block's buffer may be
 * reused once the entries are acknowledged), any other message as it is. Undefined when the message does not
 * encode: that is logged as a failed send, and the core retransmits what was not acknowledged.
 */
export function keepForLater(m: Message, log: (line: string) => void): Message | EncodedMessage | undefined {
  if (m.type !== 'entries') return m;
  try {
    return { encoded: encodeChannelMessage(m) };
  } catch (e) {
    log(`send failed: ${(e as Error).message}`);
    return undefined;
  }
}

/** Sends one message if the channel is open; returns its size on the wire (0 when not sent). */
export function sendOnChannel(t: Transport | undefined, m: Message | EncodedMessage, log: (line: string) => void): number {
  if (!t || t.closed) return 0; // the core retransmits what was not acknowledged
  try {
    const bytes = 'encoded' in m ? m.encoded : encodeChannelMessage(m);
    t.send(bytes);
    return bytes.length;
  } catch (e) {
    log(`send failed: ${(e as Error).message}`);
    return 0;
  }
}

/**
 * Sends messages in order, coalesced into as few writes as the transport allows (a slice's entry batches, or
 * acks with a heartbeat, cost one system call instead of one each); `sent` gets each message's size on the wire.
 */
export function sendAllOnChannel(t: Transport | undefined, messages: ReadonlyArray<Message | EncodedMessage>, log: (line: string) => void, sent?: (bytes: number) => void): void {
  if (messages.length === 0) return;
  const cork = messages.length > 1 && t !== undefined && !t.closed && t.cork !== undefined;
  if (cork) t.cork!();
  try {
    for (const m of messages) {
      const n = sendOnChannel(t, m, log);
      if (n > 0) sent?.(n);
    }
  } finally {
    if (cork) t.uncork!();
  }
}

/**
 * The heartbeat a driver hands the channel for a long stretch of its thread (Transport.whileBusy), encoded at most
 * once per `everyMs`: the channel asks for it at the start of every guest slice and after every send inside one.
 * Its sequence numbers may be that much behind (the peer keeps the highest it heard); a new epoch, mode or join
 * encodes a new one at once, so a repeat never speaks for a state this side has left.
 */
export class StandInBeat {
  private bytes: Uint8Array | undefined;
  private at = -Infinity;
  private key = '';

  constructor(
    private readonly now: () => number,
    private readonly everyMs: number,
    private readonly heartbeat: () => PrimaryHeartbeat | SecondaryHeartbeat | undefined,
  ) {}

  readonly get = (): Uint8Array | undefined => {
    const h = this.heartbeat();
    if (h === undefined) return undefined;
    const key = h.type === 'primary-heartbeat' ? `${h.epoch}/${h.mode}/${h.joinId}` : `${h.epoch}/${h.state}`;
    const now = this.now();
    if (this.bytes === undefined || key !== this.key || now - this.at >= this.everyMs) {
      this.bytes = encodeChannelMessage(h);
      this.key = key;
      this.at = now;
    }
    return this.bytes;
  };
}

/** Runs a long synchronous stretch (a guest slice) with the channel's stand-in sending `beat` meanwhile, where it has one. */
export function whileBusy<T>(t: Transport | undefined, everyMs: number, beat: StandInBeat, work: () => T): T {
  return t?.whileBusy && !t.closed ? t.whileBusy(everyMs, beat.get, work) : work();
}
