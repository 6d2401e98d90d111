/**
 * Input runs: how a recording handler takes a host-call-heavy guest's repeated input calls without being called
 * for each of them.
 *
 * Most host calls of such a guest are one input call again and again (a clock read per iteration): the same call,
 * the same request array (machine.ts: the same array means the same bytes), and a result of one or two 8-byte
 * words. After a handler logged such a call at index i, it may OPEN a run: "the calls from i + 1 on, while they
 * are this call with this request, at most `room` of them, are mine without asking". The machine then performs
 * each of those calls live and hands the result to the run (push), which copies its words into its own buffer;
 * the handler's input() is not called. At its next look (any other call of the handler, the end of the machine's
 * run(), or whenever it needs its log complete), the handler CLOSES the run: the run gives its entries to the handler's
 * `flush` callback in one go (first call index, count, call, request, results back to back), in call order and
 * before anything the handler logs next.
 *
 * What the handler gives up for those calls is what it would have done at each of them: its per-call checks. So
 * a handler opens a run only for as many calls (`room`) as nothing of its own can fall due in (a digest by call
 * count, a bound), and looks at time-based duties when the run is closed (at most INPUT_RUN_CAPACITY calls later).
 * beforeCall still runs at every call as before: a handler that pauses there closes the run first.
 *
 * A machine that does not know input runs (a researcher's own Machine) ignores `HostCallHandler.inputRun`: every
 * call then reaches input() as before, and an open run simply stays empty.
 */

/** The most calls a run takes before the handler sees a call again (its buffer: 4 words per entry at most). */
export const INPUT_RUN_CAPACITY = 1024;

/** The handler's side: where a closed run's entries go. `words` holds `count` results of `width` 32-bit words each. */
export type InputRunFlush = (first: number, count: number, call: string, request: Uint8Array, words: Int32Array, width: number) => void;

/** Entry `k` of a run's results (`width` words each, back to back in `words`) as bytes. */
export function runEntryBytes(words: Int32Array, width: number, k: number): Uint8Array {
  return new Uint8Array(words.buffer, words.byteOffset + k * width * 4, width * 4);
}

export class InputRun {
  /** The call index the run takes next (-1: the run is closed). Read by the machine at every input call. */
  next = -1;
  /** The run's call and request (the request array by identity). */
  call = '';
  request: Uint8Array | undefined = undefined;
  /** Calls the run may still take. */
  room = 0;
  /** Result width in 32-bit words (2 or 4). */
  private width = 0;
  private first = 0;
  private count = 0;
  private readonly words = new Int32Array(INPUT_RUN_CAPACITY * 4);
  /** The last result array pushed and its word view (the machine's live results come in reused arrays). */
  private lastData: Uint8Array | undefined;
  private lastWords: Int32Array | undefined;
  private readonly scratchWords = new Int32Array(4);
  private readonly scratch = new Uint8Array(this.scratchWords.buffer);

  constructor(private readonly flushTo: InputRunFlush) {}

  /**
   * Opens a run after the handler logged `call` with `request` and a result of `bytes` bytes at `next - 1`: the
   * machine may give it up to `room` of the following calls (capped at INPUT_RUN_CAPACITY). Only results of 8 or
   * 16 bytes make runs; for any other size (or no room) the run stays closed. An open run must be closed first.
   */
  open(next: number, call: string, request: Uint8Array, bytes: number, room: number): void {
    if (this.count !== 0) throw new Error('input run opened with entries not flushed');
    if ((bytes !== 8 && bytes !== 16) || room < 1) {
      this.next = -1;
      return;
    }
    this.next = next;
    this.first = next;
    this.call = call;
    this.request = request;
    this.width = bytes >> 2;
    this.room = Math.min(room, INPUT_RUN_CAPACITY);
  }

  /**
   * Whether the run takes the input call `call` at `index` with `request` (the machine asks before performing it).
   * The name counts too: a machine may hand two calls the same request array (an empty one, say).
   */
  takes(index: number, call: string, request: Uint8Array): boolean {
    return index === this.next && request === this.request && call === this.call && this.room > 0;
  }

  /**
   * The result of the call the run took (takes() said yes and the machine performed it): copied, and true; or
   * false when its size is not the run's (nothing taken: the machine hands the call to the handler as usual, and
   * the run is over).
   */
  push(data: Uint8Array): boolean {
    let w = this.lastWords;
    if (data !== this.lastData) {
      if (data.length !== this.width << 2) return this.refuse();
      if ((data.byteOffset & 3) === 0) {
        w = new Int32Array(data.buffer, data.byteOffset, data.length >> 2);
        this.lastData = data;
        this.lastWords = w;
      } else {
        // A result at an odd offset (a slice of a pooled buffer): its bytes through an aligned copy.
        this.scratch.set(data);
        w = this.scratchWords;
      }
    } else if (w!.length !== this.width) {
      return this.refuse();
    }
    const words = this.words;
    const at = this.count * this.width;
    words[at] = w![0]!;
    words[at + 1] = w![1]!;
    if (this.width === 4) {
      words[at + 2] = w![2]!;
      words[at + 3] = w![3]!;
    }
    this.count++;
    this.next++;
    this.room--;
    return true;
  }

  private refuse(): boolean {
    this.next = -1;
    return false;
  }

  /** Entries taken and not flushed yet. */
  get pending(): number {
    return this.count;
  }

  /** Closes the run: its entries (if any) go to the handler's flush, and the machine gives it no more calls. */
  close(): void {
    this.next = -1;
    const n = this.count;
    if (n === 0) return;
    this.count = 0;
    this.flushTo(this.first, n, this.call, this.request!, this.words, this.width);
  }
}
