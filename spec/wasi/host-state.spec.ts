import { expect } from 'chai';
import { Errno } from '../../engine/wasi/errno.ts';
import { OFlag, FdFlag, Right } from '../../engine/wasi/abi.ts';
import { makeTree, probeOver, ROOT_FD } from './fixtures.ts';
import type { Probe } from './harness.ts';

/** A workload touching every kind of state: contents, offsets, flags, rights, orphans, renames, links. */
function mutate(p: Probe): number[] {
  const fds: number[] = [];
  const [, f] = p.open(ROOT_FD, 'sub/deep/new.bin', { oflags: OFlag.CREAT, fdflags: FdFlag.APPEND });
  p.write(f, 'one');
  p.write(f, 'two');
  fds.push(f);
  const [, a] = p.open(ROOT_FD, 'a.txt', { base: Right.FD_READ | Right.FD_SEEK | Right.FD_TELL | Right.FD_FILESTAT_GET });
  p.read(a, 2);
  fds.push(a);
  const [, orphan] = p.open(ROOT_FD, 'sub/b.txt');
  p.path('path_unlink_file', ROOT_FD, 'sub/b.txt');
  fds.push(orphan);
  p.path('path_create_directory', ROOT_FD, 'gone');
  const [, goneFd] = p.dir(ROOT_FD, 'gone');
  p.path('path_remove_directory', ROOT_FD, 'gone');
  fds.push(goneFd);
  const [t, tl] = p.str('sub/deep');
  const [n, nl] = p.str('link-deep');
  p.call('path_symlink', t, tl, ROOT_FD, n, nl);
  const [o, ol] = p.str('link-a');
  const [r, rl] = p.str('renamed-link');
  p.call('path_rename', ROOT_FD, o, ol, ROOT_FD, r, rl);
  p.call('fd_renumber', a, 20);
  return fds;
}

/** The same follow-up on two hosts must give the same answers. */
function followUp(p: Probe): unknown[] {
  const out: unknown[] = [];
  out.push(p.read(20, 10));
  const [, f] = p.open(ROOT_FD, 'sub/deep/new.bin');
  out.push(p.read(f, 100));
  out.push(p.open(ROOT_FD, 'later', { oflags: OFlag.CREAT }));
  out.push(p.filestat(p.open(ROOT_FD, 'later')[1]));
  out.push(p.read(6, 100)); // the orphan, still open
  out.push(p.open(ROOT_FD, 'link-deep/new.bin', { follow: true }));
  out.push(p.path('path_create_directory', 7, 'x')); // inside the removed directory
  const [, root] = p.dir(ROOT_FD, '.');
  out.push(p.readdir(root));
  out.push(p.write(4, 'three'));
  return out;
}

describe('WasiHost state export/import', () => {
  let tree: ReturnType<typeof makeTree>;
  beforeEach(() => {
    tree = makeTree();
  });
  afterEach(() => tree.cleanup());

  it('round-trips to a host that behaves identically', async () => {
    const p = await probeOver(tree.dir);
    mutate(p);
    const state = p.host.exportState();
    // Plain data: survives structured cloning (as it must survive the snapshot codec).
    const q = await probeOver(tree.dir, { state: structuredClone(state) });
    expect(q.host.exportState()).to.deep.equal(state);
    expect(q.host.digestInput()).to.deep.equal(p.host.digestInput());
    // Same answers from here on, and the same state afterwards.
    const a = followUp(p);
    const b = followUp(q);
    expect(b).to.deep.equal(a);
    expect(a[6]).to.equal(Errno.NOENT);
    expect(q.host.exportState()).to.deep.equal(p.host.exportState());
    expect(q.host.digest()).to.deep.equal(p.host.digest());
  });

  it('restores without reading the host directory again', async () => {
    const p = await probeOver(tree.dir);
    const state = p.host.exportState();
    tree.cleanup();
    const q = await probeOver(tree.dir, { state });
    const [e, fd] = q.open(ROOT_FD, 'a.txt');
    expect(e).to.equal(Errno.SUCCESS);
    expect(new TextDecoder().decode(q.read(fd, 10)[1])).to.equal('alpha');
  });

  it('keeps a closed preopen tree in the state (mounts)', async () => {
    const p = await probeOver(tree.dir);
    const [, sub] = p.dir(ROOT_FD, 'sub');
    p.call('fd_close', ROOT_FD);
    const state = p.host.exportState();
    expect(state.mounts).to.deep.equal([{ guest: '/', ino: 1n }]);
    const q = await probeOver(tree.dir, { state });
    expect([...q.host.digest().files.keys()]).to.deep.equal(['/a.txt', '/sub/b.txt']);
    expect(q.readdir(sub)).to.deep.equal(['.', '..', 'b.txt', 'deep']);
  });

  describe('digest input', () => {
    it('lists files by guest path and changes with content and metadata', async () => {
      const p = await probeOver(tree.dir);
      const d0 = p.host.digest();
      expect([...d0.files.keys()]).to.deep.equal(['/a.txt', '/sub/b.txt']);
      const q = await probeOver(tree.dir);
      expect(q.host.digest()).to.deep.equal(d0);
      const [, fd] = p.open(ROOT_FD, 'a.txt');
      p.write(fd, 'A');
      const d1 = p.host.digest();
      expect(d1.files.get('/a.txt')).to.not.equal(d0.files.get('/a.txt'));
      expect(d1.files.get('/sub/b.txt')).to.equal(d0.files.get('/sub/b.txt'));
      expect(d1.devices).to.not.equal(d0.devices);
    });

    it('covers the descriptor table (offsets)', async () => {
      const p = await probeOver(tree.dir);
      const [, fd] = p.open(ROOT_FD, 'a.txt');
      const d0 = p.host.digest().devices;
      p.read(fd, 1);
      expect(p.host.digest().devices).to.not.equal(d0);
    });
  });

  describe('directory cookies (fd_readdir)', () => {
    /** A directory of n files, listed from cookie 0 with a buffer that holds a few entries at a time. */
    async function crowded(n: number): Promise<{ p: Probe; fd: number }> {
      const p = await probeOver(tree.dir);
      p.path('path_create_directory', ROOT_FD, 'many');
      for (let i = 0; i < n; i++) p.open(ROOT_FD, `many/file-${String(i).padStart(3, '0')}`, { oflags: OFlag.CREAT });
      const [, fd] = p.dir(ROOT_FD, 'many');
      return { p, fd };
    }

    it('a guest removing what it read and reading on from its cookie sees every entry (rm -rf of a large directory)', async () => {
      const { p, fd } = await crowded(40);
      let cookie = 0n;
      const seen: string[] = [];
      for (let calls = 0; calls < 100; calls++) {
        const batch = p.readdirFrom(fd, cookie, 128);
        if (batch.length === 0) break;
        for (const e of batch) {
          if (e.name !== '.' && e.name !== '..') {
            seen.push(e.name);
            expect(p.path('path_unlink_file', ROOT_FD, `many/${e.name}`), e.name).to.equal(Errno.SUCCESS);
          }
          cookie = e.next;
        }
      }
      expect(seen).to.have.length(40);
      expect(new Set(seen).size).to.equal(40);
      expect(p.path('path_remove_directory', ROOT_FD, 'many')).to.equal(Errno.SUCCESS);
    });

    it('numbers survive export and import: the same listing from a held cookie, the same cookie for a new entry, equal digests', async () => {
      const { p, fd } = await crowded(6);
      p.path('path_unlink_file', ROOT_FD, 'many/file-001');
      p.path('path_unlink_file', ROOT_FD, 'many/file-005');
      const held = p.readdirFrom(fd, 0n, 4096);
      const cookie = held.find((e) => e.name === 'file-002')!.next;
      const state = p.host.exportState();
      const q = await probeOver(tree.dir, { state });
      expect(q.host.digest()).to.deep.equal(p.host.digest());
      for (const probe of [p, q]) probe.open(ROOT_FD, 'many/after', { oflags: OFlag.CREAT });
      const fromP = p.readdirFrom(fd, cookie, 4096);
      expect(fromP.map((e) => e.name)).to.deep.equal(['file-003', 'file-004', 'after']);
      expect(q.readdirFrom(fd, cookie, 4096)).to.deep.equal(fromP);
      expect(q.host.digest()).to.deep.equal(p.host.digest());
      // The data carries the numbers of entries behind a removed one, and the next number after a removed last one.
      const many = state.inodes.find((n) => n.entries?.some((e) => e.name === 'file-000'))!;
      expect(many.entries!.map((e) => e.number)).to.deep.equal([undefined, 4n, 5n, 6n]);
      expect(many.nextNumber).to.equal(8n);
    });

    it('a directory nothing was removed from carries no numbers (it encodes and digests as before numbers existed)', async () => {
      const { p } = await crowded(3);
      const state = p.host.exportState();
      for (const n of state.inodes) {
        expect(n.nextNumber, `inode ${n.ino}`).to.equal(undefined);
        for (const e of n.entries ?? []) expect(e.number, `${e.name}`).to.equal(undefined);
      }
      // An entry made and removed leaves the names as they were, but not the next number: the digest says so.
      const before = p.host.digest().devices;
      p.open(ROOT_FD, 'many/x', { oflags: OFlag.CREAT });
      p.path('path_unlink_file', ROOT_FD, 'many/x');
      expect(p.host.exportState().inodes.find((n) => n.entries?.some((e) => e.name === 'file-000'))!.nextNumber).to.equal(6n);
      expect(p.host.digest().devices).to.not.equal(before);
    });
  });
});
