/**
 * The far end of the network benchmark, in its own process so the numbers include a real loopback hop between two
 * event loops (as between a primary and a secondary) instead of one loop serving both ends.
 * Messages start with a tag: 1 echo it back, 2 count it and drop it, 3 answer with the byte count so far.
 */
import { connectWs } from '../../engine/net/ws.ts';

const [url, secretHex, maxFrame] = process.argv.slice(2);
const t = await connectWs(url!, {
  secret: Buffer.from(secretHex!, 'hex'),
  vmId: 'bench',
  role: 'secondary',
  epoch: 1,
  maxFrameBytes: Number(maxFrame),
});
let sunk = 0;
t.onMessage((m) => {
  if (m[0] === 1) t.send(m);
  else if (m[0] === 2) sunk += m.byteLength;
  else if (m[0] === 3) {
    const r = new Uint8Array(9);
    r[0] = 3;
    new DataView(r.buffer).setFloat64(1, sunk);
    t.send(r);
  }
});
t.onClose(() => process.exit(0));
