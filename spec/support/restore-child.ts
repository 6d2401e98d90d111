/**
 * Child process for cross-process restore tests: restores an encoded snapshot into a FRESH machine in this
 * process, replays the recorded inputs from the job file, and prints what the guest did as JSON.
 * argv: JOB.json  {module, snapshot (file), inputs: {index: hex}}
 */
import { readFileSync } from 'node:fs';
import { loadModule } from '../../engine/wasi/loader.ts';
import { WasiMachine } from '../../engine/wasi/machine.ts';
import { fakeDevices } from './fake-devices.ts';
import { newTape, player, type Tape } from './tape.ts';

const job = JSON.parse(readFileSync(process.argv[2], 'utf8')) as { module: string; snapshot: string; inputs: Record<string, string> };
const module = await loadModule(readFileSync(job.module));
const machine = WasiMachine.restoreEncoded(module, readFileSync(job.snapshot), fakeDevices(12345));
const tape = newTape();
for (const [k, v] of Object.entries(job.inputs)) tape.inputs.set(Number(k), Buffer.from(v, 'hex'));
const outs: Tape['outputs'] = [];
const result = machine.run(player(tape, outs));
process.stdout.write(JSON.stringify({ result: result.status === 'trapped' ? { status: 'trapped' } : result, outputs: outs.map((o) => ({ index: o.index, channel: o.channel, data: Buffer.from(o.data).toString('hex') })) }));
