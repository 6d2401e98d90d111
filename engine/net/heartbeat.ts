/**
 * HeartbeatMonitor: when to send a beat and when the peer is lost, as a pure object. It never reads a clock; the
 * caller passes the time to every method, so the simulator drives it with virtual time and the ws layer with a
 * real timer.
 *
 * Any traffic counts: a message received is as good as a beat from the peer, and a message sent makes our own beat
 * unnecessary, so a busy channel carries no extra frames.
 */
export interface HeartbeatConfig {
  /** Send a beat when we have sent nothing for this long. */
  heartbeatMs: number;
  /** The peer is lost when nothing arrived from it for this long. Must exceed heartbeatMs (a few times over). */
  timeoutMs: number;
}

export interface HeartbeatTick {
  /** Send a beat now (and then call onSent). */
  readonly beat: boolean;
  /** The peer is lost; stays true from then on. */
  readonly lost: boolean;
}

export class HeartbeatMonitor {
  private lastReceivedMs: number;
  private lastSentMs: number;
  private isLost = false;

  constructor(
    private readonly config: HeartbeatConfig,
    nowMs: number,
  ) {
    const { heartbeatMs, timeoutMs } = config;
    if (!(heartbeatMs > 0) || !(timeoutMs > heartbeatMs)) {
      throw new RangeError(`heartbeat config needs 0 < heartbeatMs < timeoutMs, got ${heartbeatMs}, ${timeoutMs}`);
    }
    // The peer gets a full timeout from the start, and we beat right away so it learns we are here.
    this.lastReceivedMs = nowMs;
    this.lastSentMs = nowMs - heartbeatMs;
  }

  get lost(): boolean {
    return this.isLost;
  }

  /** Anything arrived from the peer. */
  onBeat(nowMs: number): void {
    if (!this.isLost && nowMs > this.lastReceivedMs) this.lastReceivedMs = nowMs;
  }

  /** We sent anything to the peer. */
  onSent(nowMs: number): void {
    if (nowMs > this.lastSentMs) this.lastSentMs = nowMs;
  }

  tick(nowMs: number): HeartbeatTick {
    if (!this.isLost && nowMs - this.lastReceivedMs >= this.config.timeoutMs) this.isLost = true;
    return { beat: !this.isLost && nowMs - this.lastSentMs >= this.config.heartbeatMs, lost: this.isLost };
  }

  /** The next time tick() could answer differently (when a timer should fire); Infinity once lost. */
  nextTickMs(): number {
    if (this.isLost) return Infinity;
    return Math.min(this.lastSentMs + this.config.heartbeatMs, this.lastReceivedMs + this.config.timeoutMs);
  }
}
