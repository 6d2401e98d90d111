/**
 * A deterministic scripted guest for the simulator. Its state is a small page map (memory) and block map
 * (virtual disk) of uint32 values plus a call and output counter. Which host call it makes next is a pure
 * function of its state and program seed, so two copies fed the same inputs make the same calls and outputs.
 * Output bytes fold every page, so a flipped page shows in the next output; fmix32 is a bijection, so a flip
 * is never washed out by later writes: an injected divergence stays until a resync repairs it.
 */
export const GUEST_PAGES = 16;
export const GUEST_BLOCKS = 4;

export type GuestCall =
  | { readonly kind: 'pure'; readonly name: string }
  | { readonly kind: 'input'; readonly name: string; readonly request: Uint8Array }
  | { readonly kind: 'output'; readonly name: string; readonly channel: number; readonly data: Uint8Array };

export function fmix32(x: number): number {
  let h = x >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** The request of the clock loop's reads: one array, as a host hands the same request on (never written). */
const CLOCK_LOOP_REQUEST = Uint8Array.of(1);
const text = new TextEncoder();
const untext = new TextDecoder();

/** One piece of state in a transfer chunk. */
type Piece = ['p' | 'b', number, number] | ['d', number, number, number[]];

export class GuestModel {
  pages: number[];
  blocks: number[];
  callIndex = 0;
  outputs = 0;
  /** Oracle only (not guest state): every input value consumed, to rebuild the true history. */
  inputs: number[] = [];

  constructor(readonly program: number) {
    this.pages = Array.from({ length: GUEST_PAGES }, (_, i) => fmix32(program + i));
    this.blocks = Array.from({ length: GUEST_BLOCKS }, (_, i) => fmix32(program ^ (0x1000 + i)));
  }

  private choice(): number {
    return fmix32(this.program ^ Math.imul(this.callIndex + 1, 0x9e3779b9) ^ this.pages[this.callIndex % GUEST_PAGES]!);
  }

  /** The host call the guest makes next (does not change state). */
  peek(): GuestCall {
    const h = this.choice();
    // The first 32 calls of every 256 are a loop of clock reads with one request (a guest polling a clock): the
    // entries that a primary packs into runs when its host hands them over with the same arrays.
    if (((this.callIndex >> 5) & 7) === 0) return { kind: 'input', name: 'clock_time_get', request: CLOCK_LOOP_REQUEST };
    const r = h % 100;
    if (r < 30) return { kind: 'input', name: (h >>> 8) & 1 ? 'random_get' : 'clock_time_get', request: Uint8Array.of(h & 0xff) };
    if (r < 50) {
      let fold = 0;
      for (const p of this.pages) fold = fmix32(fold ^ p);
      for (const b of this.blocks) fold = fmix32(fold ^ b);
      return { kind: 'output', name: 'fd_write', channel: 1 + ((h >>> 9) & 1), data: text.encode(`k=${this.outputs} v=${fold.toString(16)}`) };
    }
    return { kind: 'pure', name: 'fd_seek' };
  }

  /** Performs the call peek() showed; input calls take their 4 result bytes. */
  complete(result?: Uint8Array): void {
    const call = this.peek();
    const h = this.choice();
    const page = (h >>> 12) % GUEST_PAGES;
    if (call.kind === 'input') {
      const v = new DataView(result!.buffer, result!.byteOffset, result!.byteLength).getUint32(0, true);
      this.inputs.push(v);
      this.pages[page] = fmix32(this.pages[page]! ^ v);
    } else if (call.kind === 'output') {
      this.outputs++;
      this.pages[page] = fmix32(this.pages[page]! + this.outputs);
    } else {
      this.pages[page] = fmix32(this.pages[page]! + this.callIndex);
      if ((h >>> 20) % 4 === 0) {
        const b = (h >>> 22) % GUEST_BLOCKS;
        this.blocks[b] = fmix32(this.blocks[b]! ^ this.callIndex);
      }
    }
    this.callIndex++;
  }

  pageHashes(): bigint[] {
    return this.pages.map((p, i) => BigInt(fmix32(p ^ Math.imul(i, 0x27d4eb2d))));
  }
  blockHashes(): bigint[] {
    return this.blocks.map((b, i) => BigInt(fmix32(b ^ Math.imul(i + 99, 0x27d4eb2d))));
  }
  root(): bigint {
    let r = fmix32(this.callIndex ^ 0xabcdef);
    r = fmix32(r ^ this.outputs);
    for (const h of this.pageHashes()) r = fmix32(r ^ Number(h));
    for (const h of this.blockHashes()) r = fmix32(r ^ Number(h));
    return BigInt(r);
  }

  /**
   * Transfer chunks: pages/blocks whose hash differs from `against` (all when null), then the device state
   * (counters and the oracle) which always travels with the final chunk. At most 4 pieces per chunk.
   */
  chunks(against: { pages: readonly bigint[]; blocks: readonly bigint[] } | null): Uint8Array[] {
    const pieces: Piece[] = [];
    const ph = this.pageHashes();
    const bh = this.blockHashes();
    this.pages.forEach((p, i) => {
      if (!against || against.pages[i] !== ph[i]) pieces.push(['p', i, p]);
    });
    this.blocks.forEach((b, i) => {
      if (!against || against.blocks[i] !== bh[i]) pieces.push(['b', i, b]);
    });
    pieces.push(['d', this.callIndex, this.outputs, [...this.inputs]]);
    const out: Uint8Array[] = [];
    for (let i = 0; i < pieces.length; i += 4) out.push(text.encode(JSON.stringify(pieces.slice(i, i + 4))));
    return out;
  }

  /** Applies transfer chunks in order; returns how many pages/blocks were written. */
  apply(chunks: readonly Uint8Array[]): number {
    let written = 0;
    for (const c of chunks) {
      for (const piece of JSON.parse(untext.decode(c)) as Piece[]) {
        if (piece[0] === 'p') this.pages[piece[1]] = piece[2];
        else if (piece[0] === 'b') this.blocks[piece[1]] = piece[2];
        else {
          this.callIndex = piece[1];
          this.outputs = piece[2];
          this.inputs = [...(piece[3] as number[])];
          continue;
        }
        written++;
      }
    }
    return written;
  }

  /** Output k of an output's bytes (the simulator's outside world identifies outputs by it). */
  static outputIndex(data: Uint8Array): number {
    const m = /^k=(\d+) /.exec(untext.decode(data));
    if (!m) throw new Error('not a guest output');
    return Number(m[1]);
  }
}

/** The unprotected reference run: a fresh guest fed the true inputs, `calls` host calls long. Its outputs. */
export function referenceOutputs(program: number, inputs: readonly number[], calls: number): string[] {
  const g = new GuestModel(program);
  const out: string[] = [];
  let next = 0;
  while (g.callIndex < calls) {
    const c = g.peek();
    if (c.kind === 'input') {
      const b = new Uint8Array(4);
      new DataView(b.buffer).setUint32(0, inputs[next++]!, true);
      g.complete(b);
    } else {
      if (c.kind === 'output') out.push(untext.decode(c.data));
      g.complete();
    }
  }
  return out;
}
