/**
 * The shared secret both hosts authenticate the logging channel with (--secret-file). It is read as raw bytes; one
 * trailing newline is dropped because editors and `echo` add it and the other host's copy may lack it.
 */
import { readFile } from 'node:fs/promises';
import { NetError } from './errors.ts';

/** Shorter secrets are refused: the HMAC is only as strong as the secret is hard to guess. */
export const SECRET_BYTES_MIN = 16;

export async function loadSecretFile(path: string): Promise<Uint8Array> {
  if (!path) throw new NetError('E_CONFIG', 'no secret file given (--secret-file PATH)');
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'does not exist' : code === 'EACCES' ? 'is not readable' : code === 'EISDIR' ? 'is a directory' : (err as Error).message;
    throw new NetError('E_CONFIG', `secret file ${path} ${why} (--secret-file)`, false, { cause: err });
  }
  let end = bytes.length;
  if (end > 0 && bytes[end - 1] === 0x0a) end--;
  if (end > 0 && bytes[end - 1] === 0x0d) end--;
  const secret = new Uint8Array(bytes.subarray(0, end));
  if (secret.length === 0) throw new NetError('E_CONFIG', `secret file ${path} is empty (--secret-file)`);
  if (secret.length < SECRET_BYTES_MIN) {
    throw new NetError(
      'E_CONFIG',
      `secret in ${path} is ${secret.length} bytes; use at least ${SECRET_BYTES_MIN}, e.g. \`head -c 32 /dev/urandom | base64 > ${path}\``,
    );
  }
  return secret;
}
