import { expect } from 'chai';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DiskLoadError, loadDisk } from '../../engine/wasi/image.ts';
import { InodeKind } from '../../engine/wasi/state.ts';
import { makeTree } from './fixtures.ts';

describe('wasi disk image loading', () => {
  let tree: ReturnType<typeof makeTree>;
  beforeEach(() => {
    tree = makeTree();
  });
  afterEach(() => tree.cleanup());

  const now = (): bigint => 0n;

  it('loads files, directories and symlinks in sorted order with the boot timestamp', () => {
    const fs = loadDisk([{ host: tree.dir, guest: '/' }], { timeNs: 99n, now });
    const root = fs.mounts[0].root;
    expect([...root.entries.keys()]).to.deep.equal(['a.txt', 'link-a', 'link-abs', 'link-out', 'loop1', 'loop2', 'sub']);
    const link = root.entries.get('link-abs')!;
    expect(link.kind).to.equal(InodeKind.Symlink);
    expect(link.kind === InodeKind.Symlink && link.target).to.equal('/etc/passwd');
    const a = root.entries.get('a.txt')!;
    expect(a.kind === InodeKind.File && new TextDecoder().decode(a.content())).to.equal('alpha');
    expect([a.ino, a.mtimNs, a.atimNs, a.ctimNs]).to.deep.equal([2n, 99n, 99n, 99n]);
    expect(fs.nextIno).to.equal(11n);
    expect(fs.usedBytes).to.equal(10);
  });

  it('gives two loads of the same tree the same inode numbers', () => {
    const a = loadDisk([{ host: tree.dir, guest: '/' }, { host: join(tree.dir, 'sub'), guest: '/s' }], { timeNs: 0n, now });
    const b = loadDisk([{ host: tree.dir, guest: '/' }, { host: join(tree.dir, 'sub'), guest: '/s' }], { timeNs: 0n, now });
    expect(a.mounts.map((m) => m.root.ino)).to.deep.equal([1n, 11n]);
    expect(b.mounts.map((m) => m.root.ino)).to.deep.equal([1n, 11n]);
  });

  it('refuses trees beyond the load limits with a clear error', () => {
    expect(() => loadDisk([{ host: tree.dir, guest: '/' }], { timeNs: 0n, now, loadLimits: { maxLoadBytes: 1 << 20, maxLoadFiles: 3 } })).to.throw(
      DiskLoadError,
      /more than 3 entries/,
    );
    expect(() => loadDisk([{ host: tree.dir, guest: '/' }], { timeNs: 0n, now, loadLimits: { maxLoadBytes: 6, maxLoadFiles: 100 } })).to.throw(
      DiskLoadError,
      /more than 6 bytes/,
    );
  });

  it('refuses a missing or non-directory preopen', () => {
    expect(() => loadDisk([{ host: join(tree.dir, 'nope'), guest: '/' }], { timeNs: 0n, now })).to.throw(DiskLoadError, /nope/);
    expect(() => loadDisk([{ host: join(tree.dir, 'a.txt'), guest: '/' }], { timeNs: 0n, now })).to.throw(DiskLoadError, /not a directory/);
  });

  it('enforces the disk quota on guest writes (ENOSPC / EFBIG)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'twinstep-quota-'));
    try {
      mkdirSync(join(dir, 'd'));
      writeFileSync(join(dir, 'd', 'f'), 'x'.repeat(10));
      const fs = loadDisk([{ host: dir, guest: '/' }], { timeNs: 0n, now, fsLimits: { maxBytes: 16, maxFileBytes: 12, maxNodes: 100 } });
      const f = fs.mounts[0].root.entries.get('d')!;
      const file = f.kind === InodeKind.Directory ? f.entries.get('f')! : undefined;
      if (file?.kind !== InodeKind.File) throw new Error('fixture');
      expect(() => fs.setSize(file, 13)).to.throw().with.property('errno', 22);
      fs.setSize(file, 12);
      const g = fs.newFile();
      expect(() => fs.setSize(g, 5)).to.throw().with.property('errno', 51);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
