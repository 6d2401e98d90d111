/**
 * The handshake frames and their MACs: pure functions, no I/O. Fixed binary layouts, big-endian:
 *
 *   HELLO    server→client  magic "TWS2" | type 1 | serverNonce[32]                                          37 bytes
 *   AUTH     client→server  magic | type 2 | role u8 | epoch u64 | clientNonce[32] | vmIdLen u8 | vmId
 *                           | settingsLen u8 | settings | mac[32]
 *   OK       server→client  magic | type 3 | role u8 | epoch u64 | mac[32]                                    46 bytes
 *   CONFIRM  client→server  magic | type 4                                                                   5 bytes
 *
 *   AUTH.mac = HMAC-SHA256(secret, "twinstep/auth/client/v2" | serverNonce | clientNonce | vmIdLen | vmId
 *                                  | settingsLen | settings | clientEpoch | clientRole)
 *   OK.mac   = HMAC-SHA256(secret, "twinstep/auth/server/v2" | serverNonce | clientNonce | vmIdLen | vmId
 *                                  | settingsLen | settings | clientEpoch | clientRole | serverEpoch | serverRole)
 *
 * Why this shape: the server's fresh nonce makes a recorded AUTH useless on a new connection; the client's nonce
 * does the same for a recorded OK, so the client also proves the server knows the secret (mutual authentication: an
 * impostor secondary could otherwise ack entries and make the primary release outputs). Distinct labels stop a
 * message from one direction being reflected as the other. vmId is length-prefixed so no two (vmId, epoch, role)
 * tuples hash the same bytes. `settings` is what both sides must run alike (the pair's release rule and dispatch
 * side: a mismatch would drop or repeat outputs); the server refuses other settings with E_SETTINGS. CONFIRM lets the server hand the connection to the driver only after the client
 * accepted it too. Refusals are not frames: the refusing side closes with a close code carrying the NetError code.
 * The handshake authenticates; it does not encrypt (use a private network or a TLS tunnel for confidentiality).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Role } from './transport.ts';

export const NONCE_BYTES = 32;
export const MAC_BYTES = 32;
export const VM_ID_BYTES_MAX = 128;

const MAGIC = [0x54, 0x57, 0x53, 0x32]; // "TWS2": also the version; a new layout gets a new magic.
export const SETTINGS_BYTES_MAX = 255;
const HELLO = 1;
const AUTH = 2;
const OK = 3;
const CONFIRM = 4;
const HEADER_BYTES = MAGIC.length + 1;
const HELLO_BYTES = HEADER_BYTES + NONCE_BYTES;
const OK_BYTES = HEADER_BYTES + 1 + 8 + MAC_BYTES;
const AUTH_FIXED_BYTES = HEADER_BYTES + 1 + 8 + NONCE_BYTES + 1 + 1 + MAC_BYTES;

const ROLE_CODES: Record<Role, number> = { primary: 1, secondary: 2 };

function roleOf(code: number): Role | null {
  return code === 1 ? 'primary' : code === 2 ? 'secondary' : null;
}

export interface AuthFrame {
  role: Role;
  epoch: number;
  clientNonce: Uint8Array;
  vmId: string;
  settings: string;
  mac: Uint8Array;
}

export interface OkFrame {
  role: Role;
  epoch: number;
  mac: Uint8Array;
}

function header(buf: Uint8Array, type: number): void {
  buf.set(MAGIC, 0);
  buf[MAGIC.length] = type;
}

function hasHeader(buf: Uint8Array, type: number): boolean {
  return buf.length >= HEADER_BYTES && MAGIC.every((b, i) => buf[i] === b) && buf[MAGIC.length] === type;
}

function view(buf: Uint8Array): DataView {
  return new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
}

function checkEpoch(epoch: number): void {
  if (!Number.isSafeInteger(epoch) || epoch < 0) throw new RangeError(`epoch must be a non-negative safe integer, got ${epoch}`);
}

export function vmIdBytes(vmId: string): Uint8Array {
  const bytes = Buffer.from(vmId, 'utf8');
  if (bytes.length === 0 || bytes.length > VM_ID_BYTES_MAX) throw new RangeError(`vmId must be 1..${VM_ID_BYTES_MAX} UTF-8 bytes`);
  return bytes;
}

export function settingsBytes(settings: string): Uint8Array {
  const bytes = Buffer.from(settings, 'utf8');
  if (bytes.length > SETTINGS_BYTES_MAX) throw new RangeError(`settings must be at most ${SETTINGS_BYTES_MAX} UTF-8 bytes`);
  return bytes;
}

export function encodeHello(serverNonce: Uint8Array): Uint8Array {
  const buf = new Uint8Array(HELLO_BYTES);
  header(buf, HELLO);
  buf.set(serverNonce, HEADER_BYTES);
  return buf;
}

export function decodeHello(buf: Uint8Array): { serverNonce: Uint8Array } | null {
  if (buf.length !== HELLO_BYTES || !hasHeader(buf, HELLO)) return null;
  return { serverNonce: buf.slice(HEADER_BYTES) };
}

export function encodeAuth(f: AuthFrame): Uint8Array {
  checkEpoch(f.epoch);
  const id = vmIdBytes(f.vmId);
  const set = settingsBytes(f.settings);
  const buf = new Uint8Array(AUTH_FIXED_BYTES + id.length + set.length);
  header(buf, AUTH);
  let at = HEADER_BYTES;
  buf[at++] = ROLE_CODES[f.role];
  view(buf).setBigUint64(at, BigInt(f.epoch));
  at += 8;
  buf.set(f.clientNonce, at);
  at += NONCE_BYTES;
  buf[at++] = id.length;
  buf.set(id, at);
  at += id.length;
  buf[at++] = set.length;
  buf.set(set, at);
  at += set.length;
  buf.set(f.mac, at);
  return buf;
}

export function decodeAuth(buf: Uint8Array): AuthFrame | null {
  if (buf.length < AUTH_FIXED_BYTES + 1 || !hasHeader(buf, AUTH)) return null;
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  let at = HEADER_BYTES;
  const role = roleOf(buf[at++]!);
  const epoch = view(buf).getBigUint64(at);
  at += 8;
  const clientNonce = buf.slice(at, at + NONCE_BYTES);
  at += NONCE_BYTES;
  const idLen = buf[at++]!;
  if (role === null || epoch > BigInt(Number.MAX_SAFE_INTEGER) || idLen === 0 || idLen > VM_ID_BYTES_MAX) return null;
  if (buf.length < AUTH_FIXED_BYTES + idLen) return null;
  const idBytes = buf.subarray(at, at + idLen);
  at += idLen;
  const setLen = buf[at++]!;
  if (buf.length !== AUTH_FIXED_BYTES + idLen + setLen) return null;
  const setBytes = buf.subarray(at, at + setLen);
  at += setLen;
  let vmId: string;
  let settings: string;
  try {
    vmId = utf8.decode(idBytes);
    settings = utf8.decode(setBytes);
  } catch {
    return null;
  }
  return { role, epoch: Number(epoch), clientNonce, vmId, settings, mac: buf.slice(at, at + MAC_BYTES) };
}

export function encodeOk(f: OkFrame): Uint8Array {
  checkEpoch(f.epoch);
  const buf = new Uint8Array(OK_BYTES);
  header(buf, OK);
  buf[HEADER_BYTES] = ROLE_CODES[f.role];
  view(buf).setBigUint64(HEADER_BYTES + 1, BigInt(f.epoch));
  buf.set(f.mac, HEADER_BYTES + 9);
  return buf;
}

export function decodeOk(buf: Uint8Array): OkFrame | null {
  if (buf.length !== OK_BYTES || !hasHeader(buf, OK)) return null;
  const role = roleOf(buf[HEADER_BYTES]!);
  const epoch = view(buf).getBigUint64(HEADER_BYTES + 1);
  if (role === null || epoch > BigInt(Number.MAX_SAFE_INTEGER)) return null;
  return { role, epoch: Number(epoch), mac: buf.slice(HEADER_BYTES + 9) };
}

export function encodeConfirm(): Uint8Array {
  const buf = new Uint8Array(HEADER_BYTES);
  header(buf, CONFIRM);
  return buf;
}

export function isConfirm(buf: Uint8Array): boolean {
  return buf.length === HEADER_BYTES && hasHeader(buf, CONFIRM);
}

function u64(n: number): Uint8Array {
  const b = new Uint8Array(8);
  view(b).setBigUint64(0, BigInt(n));
  return b;
}

export interface MacInput {
  serverNonce: Uint8Array;
  clientNonce: Uint8Array;
  vmId: string;
  settings: string;
  clientEpoch: number;
  clientRole: Role;
}

export function clientMac(secret: Uint8Array, m: MacInput): Uint8Array {
  const id = vmIdBytes(m.vmId);
  const set = settingsBytes(m.settings);
  return createHmac('sha256', secret)
    .update('twinstep/auth/client/v2')
    .update(m.serverNonce)
    .update(m.clientNonce)
    .update(Uint8Array.of(id.length))
    .update(id)
    .update(Uint8Array.of(set.length))
    .update(set)
    .update(u64(m.clientEpoch))
    .update(Uint8Array.of(ROLE_CODES[m.clientRole]))
    .digest();
}

export function serverMac(secret: Uint8Array, m: MacInput & { serverEpoch: number; serverRole: Role }): Uint8Array {
  const id = vmIdBytes(m.vmId);
  const set = settingsBytes(m.settings);
  return createHmac('sha256', secret)
    .update('twinstep/auth/server/v2')
    .update(m.serverNonce)
    .update(m.clientNonce)
    .update(Uint8Array.of(id.length))
    .update(id)
    .update(Uint8Array.of(set.length))
    .update(set)
    .update(u64(m.clientEpoch))
    .update(Uint8Array.of(ROLE_CODES[m.clientRole]))
    .update(u64(m.serverEpoch))
    .update(Uint8Array.of(ROLE_CODES[m.serverRole]))
    .digest();
}

/** Constant-time comparison, so response timing reveals nothing about how much of a forged MAC was right. */
export function macEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === MAC_BYTES && b.length === MAC_BYTES && timingSafeEqual(a, b);
}
