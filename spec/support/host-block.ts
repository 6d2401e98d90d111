/**
 * Entry blocks written the way a host hands entries over: the same request array for the same request bytes, and
 * one result array per call and length, refilled before each entry. EntryBlock.fromEntries gets a new array per
 * entry and so never packs; this writes repeated clock reads into packed runs (engine/log/capture.ts), as a
 * primary does.
 */
import { EntryBlock, EntryBlockWriter } from '../../engine/log/entry-block.ts';
import { EntryKind, type LogEntry } from '../../engine/log/entry.ts';

export function hostBlock(entries: readonly LogEntry[], arenaBytes = 1 << 20): EntryBlock {
  if (entries.length === 0) throw new RangeError('a block holds at least one entry');
  const w = new EntryBlockWriter(entries[0]!.seq, arenaBytes);
  const requests = new Map<string, Uint8Array>();
  const results = new Map<string, Uint8Array>();
  for (const e of entries) {
    const key = `${e.call}:${Buffer.from(e.request).toString('hex')}`;
    let request = requests.get(key);
    if (request === undefined) requests.set(key, (request = e.request.slice()));
    let data = e.data;
    if (e.kind === EntryKind.Input) {
      const rkey = `${e.call}:${e.data.length}`;
      let r = results.get(rkey);
      if (r === undefined) results.set(rkey, (r = new Uint8Array(e.data.length)));
      r.set(e.data);
      data = r;
    }
    w.add(e.kind, e.callIndex, e.call, e.channel, request, data);
  }
  return w.sealOne()!;
}
