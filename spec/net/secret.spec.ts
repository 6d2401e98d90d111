import { expect } from 'chai';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NetError } from '../../engine/net/errors.ts';
import { loadSecretFile } from '../../engine/net/secret.ts';

describe('net/loadSecretFile', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'twinstep-secret-'));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  async function failure(path: string): Promise<NetError> {
    const err = await loadSecretFile(path).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(NetError);
    expect((err as NetError).code).to.equal('E_CONFIG');
    return err as NetError;
  }

  it('reads the bytes and drops one trailing newline', async () => {
    await writeFile(join(dir, 's'), 'abcdefghijklmnopqrstuvwxyz\n');
    expect(Buffer.from(await loadSecretFile(join(dir, 's'))).toString()).to.equal('abcdefghijklmnopqrstuvwxyz');
    await writeFile(join(dir, 'crlf'), 'abcdefghijklmnopqrstuvwxyz\r\n');
    expect((await loadSecretFile(join(dir, 'crlf'))).length).to.equal(26);
  });

  it('explains a missing, empty, short or unreadable secret file', async () => {
    expect((await failure(join(dir, 'nope'))).message).to.match(/does not exist.*--secret-file/);
    await writeFile(join(dir, 'empty'), '\n');
    expect((await failure(join(dir, 'empty'))).message).to.contain('is empty');
    await writeFile(join(dir, 'short'), 'short');
    expect((await failure(join(dir, 'short'))).message).to.contain('at least 16');
    expect((await failure(dir)).message).to.contain('is a directory');
    expect((await failure('')).message).to.contain('--secret-file');
  });
});
