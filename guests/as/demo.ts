// demo: the AssemblyScript guest, compiled with @assemblyscript/wasi-shim.
// Covers stdio, args, env, a deterministic compute checksum, the realtime and
// monotonic clocks, random bytes, and (through raw WASI bindings, since the
// shim has no file API) a small file round-trip in the first preopen.
//
// usage: demo [ROUNDS]   (default 1000000 hashing rounds)
// Exit code 0 when every check passed, 1 otherwise.

import {
  environ_get, environ_sizes_get, fd_close, fd_prestat_get, fd_read, fd_seek, fd_write, path_open,
  path_unlink_file, errno, oflags, prestat, rights, whence,
} from "bindings/wasi_snapshot_preview1";

let failures = 0;

function check(ok: bool, what: string): void {
  console.log((ok ? "ok   " : "FAIL ") + what);
  if (!ok) failures++;
}

function hex32(v: u32): string {
  let s = v.toString(16);
  while (s.length < 8) s = "0" + s;
  return s;
}

// Same murmur-style mixer as the C compute guest's hashing phase, so the
// two toolchains can be compared on equal footing.
function hashLoop(iterations: u32): u32 {
  let h: u32 = 0x9747b28c;
  for (let i: u32 = 0; i < iterations; i++) {
    let k = i * 0xcc9e2d51;
    k = rotl<u32>(k, 15) * 0x1b873593;
    h ^= k;
    h = rotl<u32>(h, 13) * 5 + 0xe6546b64;
  }
  h ^= h >> 16; h *= 0x85ebca6b; h ^= h >> 13; h *= 0xc2b2ae35; h ^= h >> 16;
  return h;
}

// Looks one variable up with the raw WASI calls. The shim's process.env
// aborts when the environment is empty (it calls environ_get with a
// zero-sized buffer, which Node's WASI rejects with EINVAL).
function getEnv(name: string, fallback: string): string {
  const sizes = memory.data(8);
  if (environ_sizes_get(sizes, sizes + 4) != errno.SUCCESS) return fallback;
  const count = load<u32>(sizes);
  if (count == 0) return fallback;
  const ptrs = new ArrayBuffer(<i32>count * 4);
  const data = new ArrayBuffer(<i32>load<u32>(sizes, 4));
  if (environ_get(changetype<usize>(ptrs), changetype<usize>(data)) != errno.SUCCESS) return fallback;
  const prefix = name + "=";
  for (let i: u32 = 0; i < count; i++) {
    const p = load<usize>(changetype<usize>(ptrs) + i * 4);
    const entry = String.UTF8.decodeUnsafe(p, changetype<usize>(data) + data.byteLength - p, true);
    if (entry.startsWith(prefix)) return entry.substring(prefix.length);
  }
  return fallback;
}

// Writes, rewinds, reads back and unlinks a file in the preopen at fd 3.
// Returns false if there is no preopen (the check is then skipped).
function fileRoundTrip(): bool {
  const scratch = memory.data(64);
  if (fd_prestat_get(3, changetype<prestat>(scratch)) != errno.SUCCESS) return false;

  const name = String.UTF8.encode("twinstep-as-demo.txt");
  const text = String.UTF8.encode("written by the AssemblyScript guest\n");
  const fdOut = scratch + 8;
  const iov = scratch + 16;
  const nOut = scratch + 24;
  const all: u64 = rights.FD_READ | rights.FD_WRITE | rights.FD_SEEK | rights.FD_TELL;

  let err = path_open(3, 0, changetype<usize>(name), name.byteLength,
    oflags.CREAT | oflags.TRUNC, all, all, 0, fdOut);
  check(err == errno.SUCCESS, "path_open twinstep-as-demo.txt");
  if (err != errno.SUCCESS) return true;
  const fd = load<u32>(fdOut);

  store<usize>(iov, changetype<usize>(text));
  store<usize>(iov, text.byteLength, 4);
  check(fd_write(fd, iov, 1, nOut) == errno.SUCCESS && load<usize>(nOut) == <usize>text.byteLength,
    "fd_write file");
  check(fd_seek(fd, 0, whence.SET, scratch + 32) == errno.SUCCESS && load<u64>(scratch + 32) == 0,
    "fd_seek to 0");

  const back = new ArrayBuffer(128);
  store<usize>(iov, changetype<usize>(back));
  store<usize>(iov, back.byteLength, 4);
  err = fd_read(fd, iov, 1, nOut);
  const got = String.UTF8.decode(back.slice(0, <i32>load<usize>(nOut)));
  check(err == errno.SUCCESS && got == String.UTF8.decode(text), "fd_read back the same text");
  check(fd_close(fd) == errno.SUCCESS, "fd_close");
  check(path_unlink_file(3, changetype<usize>(name), name.byteLength) == errno.SUCCESS,
    "path_unlink_file");
  return true;
}

const args = process.argv;
console.log("hello from twinstep (AssemblyScript)");
for (let i = 0; i < args.length; i++) console.log("argv[" + i.toString() + "]=" + args[i]);
console.log("TWINSTEP_GREETING=" + getEnv("TWINSTEP_GREETING", "(unset)"));

const rounds: u32 = args.length > 1 ? <u32>I32.parseInt(args[1]) : 1000000;
console.log("checksum=" + hex32(hashLoop(rounds)));

// Clocks and randomness: nondeterministic values, printed for replay tests.
const t0 = process.hrtime();
console.log("realtime_ms=" + Date.now().toString());
const t1 = process.hrtime();
console.log("monotonic_ns=" + t1.toString());
check(t1 >= t0, "monotonic clock did not go backwards");
const bytes = new Uint8Array(16);
crypto.getRandomValues(bytes);
let randomHex = "";
for (let i = 0; i < bytes.length; i++) randomHex += (bytes[i] < 16 ? "0" : "") + bytes[i].toString(16);
console.log("random=" + randomHex);

if (!fileRoundTrip()) console.log("skip files (no preopen)");

console.log("demo: " + (failures == 0 ? "all checks passed" : failures.toString() + " checks failed"));
process.exit(failures == 0 ? 0 : 1);
