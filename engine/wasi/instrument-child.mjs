// Binaryen's work for this process (instrumenting guest modules, and compiling test modules from text), done
// in a child process of its own, started by binaryen-process.ts on first need and kept while its parent lives.
//
// Why a process of its own, in plain JavaScript: Binaryen is one 15 MB ES module (its compiler built to wasm).
// Imported through the TypeScript loader the CLI runs under, it took 27 s to load instead of 1.4 s (the
// loader's hooks read and scan the whole file), and under the pair's V8 flags (--no-liftoff
// --no-wasm-lazy-compilation, set process-wide for the guest) its wasm alone took 11 s to compile. Here it
// loads with Node's defaults, once per parent, and the work leaves the parent's event loop free (a secondary
// keeps answering heartbeats while a module it was sent is instrumented).
//
// Protocol: one JSON job per line on stdin, one JSON reply per line on stdout, in order, each with the job's id.
//  - { id, op: 'instrument', in, out, unwindable: [import names], wasiModule, globalPrefix }: Asyncify for the
//    unwindable imports and an export per global; writes the module to `out`, replies { id, globalCount,
//    globalTypes, memoryMaxPages }.
//  - { id, op: 'wat', text, features, out }: WebAssembly text to a validated binary in `out`; replies { id }.
// A job that fails replies { id, error: { code, message } } (code E_UNSUPPORTED_IMPORT for a global twinstep
// cannot snapshot, E_WAT for text that does not compile, E_INSTRUMENT otherwise). Exits when stdin ends.
import { readFileSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';

const b = (await import('binaryen')).default;
const F = b.Features;

class JobError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

function instrument(job) {
  const m = b.readBinary(readFileSync(job.in));
  try {
    // Features V8 in Node 20 executes; optimisation passes must not emit anything beyond them.
    m.setFeatures(F.MVP | F.MutableGlobals | F.NontrappingFPToInt | F.SIMD128 | F.BulkMemory | F.BulkMemoryOpt | F.SignExt | F.ReferenceTypes | F.Multivalue | F.ExtendedConst | F.CallIndirectOverlong);
    // Export every global (before Asyncify adds its own internal ones), so a snapshot can capture them.
    const globalCount = m.getNumGlobals();
    const globalTypes = [];
    for (let i = 0; i < globalCount; i++) {
      const info = b.getGlobalInfo(m.getGlobalByIndex(i));
      const type = info.type === b.i32 ? 'i32' : info.type === b.i64 ? 'i64' : info.type === b.f32 ? 'f32' : info.type === b.f64 ? 'f64' : undefined;
      if (!type) throw new JobError('E_UNSUPPORTED_IMPORT', `global ${info.name} has a type twinstep cannot snapshot (only i32, i64, f32, f64)`);
      globalTypes.push(type);
      m.addGlobalExport(info.name, job.globalPrefix + i);
    }
    let memoryMaxPages = 65536;
    try {
      const mem = b.getMemoryInfo(m);
      if (mem && typeof mem.max === 'number' && mem.max > 0) memoryMaxPages = mem.max;
    } catch {
      // No memory info: keep the wasm32 limit.
    }
    if (job.unwindable.length > 0) {
      b.setOptimizeLevel(2);
      b.setShrinkLevel(0);
      b.setPassArgument('asyncify-imports', job.unwindable.map((n) => `${job.wasiModule}.${n}`).join(','));
      m.runPasses(['asyncify']);
      b.setPassArgument('asyncify-imports', null);
      // Asyncify's output is much larger than its input; a standard optimisation pass recovers most of the
      // speed (measured in `npm run bench`, "asyncify cost").
      m.optimize();
    }
    writeFileSync(job.out, m.emitBinary());
    return { globalCount, globalTypes, memoryMaxPages };
  } finally {
    m.dispose();
  }
}

function wat(job) {
  let m;
  try {
    m = b.parseText(job.text);
  } catch (e) {
    throw new JobError('E_WAT', `test module does not parse: ${e instanceof Error ? e.message : String(e)}`);
  }
  try {
    m.setFeatures(job.features);
    if (!m.validate()) throw new JobError('E_WAT', 'test module does not validate');
    writeFileSync(job.out, m.emitBinary());
    return {};
  } finally {
    m.dispose();
  }
}

for await (const line of createInterface({ input: process.stdin })) {
  if (line.trim() === '') continue;
  const job = JSON.parse(line);
  let reply;
  try {
    reply = { id: job.id, ...(job.op === 'wat' ? wat(job) : instrument(job)) };
  } catch (e) {
    reply = { id: job.id, error: { code: e instanceof JobError ? e.code : 'E_INSTRUMENT', message: e instanceof Error ? e.message : String(e) } };
  }
  process.stdout.write(JSON.stringify(reply) + '\n');
}
