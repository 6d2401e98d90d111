/**
 * The types of a module's function imports, read from its type and import sections. Node's WebAssembly API
 * lists imports without their types, and a guest that declares a WASI function with other types than
 * preview1's links anyway to a JavaScript host function, which then receives arguments of the wrong kinds.
 *
 * Reads a module WebAssembly.Module has already validated. Returns undefined when the module uses a form this
 * reader does not know (a type that is not a plain function type, an import kind beyond the five of the core
 * specification and its exception-handling tag): the check is then skipped, never guessed.
 */

/** A function import and its type as 'PARAMS:RESULTS' (i i32, I i64, f f32, F f64, x anything else). */
export interface FunctionImport {
  readonly module: string;
  readonly name: string;
  readonly type: string;
}

const VALTYPE: Record<number, string> = { 0x7f: 'i', 0x7e: 'I', 0x7d: 'f', 0x7c: 'F' };
const decoder = new TextDecoder();

class Unknown extends Error {}

export function functionImports(bytes: Uint8Array): FunctionImport[] | undefined {
  let at = 8;
  const byte = (): number => {
    if (at >= bytes.length) throw new Unknown();
    return bytes[at++]!;
  };
  const leb = (): number => {
    let v = 0;
    let shift = 0;
    for (;;) {
      const b = byte();
      v += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) return v;
      shift += 7;
      if (shift > 63) throw new Unknown();
    }
  };
  const name = (): string => {
    const n = leb();
    const s = decoder.decode(bytes.subarray(at, at + n));
    at += n;
    return s;
  };
  const limits = (): void => {
    const flags = byte();
    leb();
    if (flags & 1) leb();
  };
  try {
    const types: string[] = [];
    const out: FunctionImport[] = [];
    while (at < bytes.length) {
      const id = byte();
      const size = leb();
      const end = at + size;
      if (id === 1) {
        const n = leb();
        for (let k = 0; k < n; k++) {
          if (byte() !== 0x60) return undefined;
          const params = leb();
          let t = '';
          for (let j = 0; j < params; j++) t += VALTYPE[byte()] ?? 'x';
          t += ':';
          const results = leb();
          for (let j = 0; j < results; j++) t += VALTYPE[byte()] ?? 'x';
          types.push(t);
        }
      } else if (id === 2) {
        const n = leb();
        for (let k = 0; k < n; k++) {
          const module = name();
          const field = name();
          const kind = byte();
          if (kind === 0) {
            const type = types[leb()];
            if (type === undefined) return undefined;
            out.push({ module, name: field, type });
          } else if (kind === 1) {
            byte();
            limits();
          } else if (kind === 2) {
            limits();
          } else if (kind === 3) {
            byte();
            byte();
          } else if (kind === 4) {
            byte();
            leb();
          } else {
            return undefined;
          }
        }
        return out;
      }
      // Sections come in order: past the imports' place, there are none.
      if (id > 2 && id !== 0) return out;
      at = end;
    }
    return out;
  } catch (e) {
    if (e instanceof Unknown) return undefined;
    throw e;
  }
}

/** 'iIi:i' as '(i32, i64, i32) -> i32'. */
export function describeType(t: string): string {
  const names: Record<string, string> = { i: 'i32', I: 'i64', f: 'f32', F: 'f64', x: 'other' };
  const [p = '', r = ''] = t.split(':');
  const list = (s: string) => [...s].map((c) => names[c] ?? c).join(', ');
  return `(${list(p)}) -> ${r.length === 0 ? 'nothing' : r.length === 1 ? list(r) : `(${list(r)})`}`;
}
