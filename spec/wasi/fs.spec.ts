import { expect } from 'chai';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Errno } from '../../engine/wasi/errno.ts';
import { OFlag, Right, Filetype } from '../../engine/wasi/abi.ts';
import { makeTree, probeOver, ROOT_FD } from './fixtures.ts';
import type { Probe } from './harness.ts';

describe('wasi virtual file system', () => {
  let tree: ReturnType<typeof makeTree>;
  let p: Probe;
  beforeEach(async () => {
    tree = makeTree();
    p = await probeOver(tree.dir);
  });
  afterEach(() => tree.cleanup());

  describe('sandbox', () => {
    it('refuses absolute paths', () => {
      expect(p.open(ROOT_FD, '/a.txt')[0]).to.equal(Errno.NOTCAPABLE);
      expect(p.open(ROOT_FD, '/')[0]).to.equal(Errno.NOTCAPABLE);
    });

    it('refuses ".." above the directory descriptor, but allows it inside', () => {
      expect(p.open(ROOT_FD, '..')[0]).to.equal(Errno.NOTCAPABLE);
      expect(p.open(ROOT_FD, 'sub/../../a.txt')[0]).to.equal(Errno.NOTCAPABLE);
      expect(p.open(ROOT_FD, 'sub/deep/../../a.txt')[0]).to.equal(Errno.SUCCESS);
      // A descriptor for sub/ is its own sandbox root: it cannot climb back to the preopen.
      const [e, sub] = p.dir(ROOT_FD, 'sub');
      expect(e).to.equal(Errno.SUCCESS);
      expect(p.open(sub, '../a.txt')[0]).to.equal(Errno.NOTCAPABLE);
      expect(p.open(sub, 'b.txt')[0]).to.equal(Errno.SUCCESS);
    });

    it('loads host symlinks as symlinks and refuses ones that escape', () => {
      const [e, fd] = p.open(ROOT_FD, 'link-a', { follow: true });
      expect(e).to.equal(Errno.SUCCESS);
      expect(new TextDecoder().decode(p.read(fd, 100)[1])).to.equal('alpha');
      expect(p.open(ROOT_FD, 'link-out', { follow: true })[0]).to.equal(Errno.NOTCAPABLE);
      expect(p.open(ROOT_FD, 'link-abs', { follow: true })[0]).to.equal(Errno.NOTCAPABLE);
      // Without follow, opening a symlink fails with ELOOP (O_NOFOLLOW).
      expect(p.open(ROOT_FD, 'link-a')[0]).to.equal(Errno.LOOP);
    });

    it('reports symlink loops as ELOOP', () => {
      expect(p.open(ROOT_FD, 'loop1', { follow: true })[0]).to.equal(Errno.LOOP);
      expect(p.open(ROOT_FD, 'loop1/x')[0]).to.equal(Errno.LOOP);
    });

    it('refuses creating absolute symlinks and escaping through new ones', () => {
      const [t, tl] = p.str('/etc');
      const [n, nl] = p.str('etc');
      expect(p.call('path_symlink', t, tl, ROOT_FD, n, nl)).to.equal(Errno.NOTCAPABLE);
      const [t2, tl2] = p.str('sub/../..');
      expect(p.call('path_symlink', t2, tl2, ROOT_FD, n, nl)).to.equal(Errno.SUCCESS);
      expect(p.open(ROOT_FD, 'etc/passwd', { follow: true })[0]).to.equal(Errno.NOTCAPABLE);
    });

    it('never writes to the host directory', () => {
      const before = readdirSync(tree.dir).sort();
      const [, fd] = p.open(ROOT_FD, 'a.txt', { oflags: OFlag.TRUNC });
      expect(p.write(fd, 'changed')[0]).to.equal(Errno.SUCCESS);
      expect(p.open(ROOT_FD, 'new.txt', { oflags: OFlag.CREAT })[0]).to.equal(Errno.SUCCESS);
      expect(p.path('path_create_directory', ROOT_FD, 'newdir')).to.equal(Errno.SUCCESS);
      expect(p.path('path_unlink_file', ROOT_FD, 'sub/b.txt')).to.equal(Errno.SUCCESS);
      expect(readdirSync(tree.dir).sort()).to.deep.equal(before);
      expect(readFileSync(join(tree.dir, 'a.txt'), 'utf8')).to.equal('alpha');
      expect(readFileSync(join(tree.dir, 'sub', 'b.txt'), 'utf8')).to.equal('bravo');
    });
  });

  describe('rights', () => {
    it('masks a new descriptor by the parent inheriting rights and the file type', () => {
      const [, fd] = p.open(ROOT_FD, 'a.txt', { base: Right.FD_READ, inheriting: 0n });
      const st = p.alloc(24);
      expect(p.call('fd_fdstat_get', fd, st)).to.equal(Errno.SUCCESS);
      expect(p.u64(st + 8)).to.equal(Right.FD_READ);
      expect(p.write(fd, 'x')[0]).to.equal(Errno.NOTCAPABLE);
      expect(p.read(fd, 10)[0]).to.equal(Errno.SUCCESS);
      const [, dfd] = p.open(ROOT_FD, 'sub', { oflags: OFlag.DIRECTORY, base: Right.FD_SEEK | Right.FD_READDIR });
      expect(p.call('fd_fdstat_get', dfd, st)).to.equal(Errno.SUCCESS);
      expect(p.u64(st + 8) & Right.FD_SEEK).to.equal(0n);
      expect(p.bytes[st]).to.equal(Filetype.DIRECTORY);
    });

    it('only lets rights shrink, and children inherit the shrunken set', () => {
      const st = p.alloc(24);
      p.call('fd_fdstat_get', ROOT_FD, st);
      const base = p.u64(st + 8);
      const inh = p.u64(st + 16);
      expect(p.call('fd_fdstat_set_rights', ROOT_FD, base, inh & ~Right.FD_WRITE)).to.equal(Errno.SUCCESS);
      expect(p.call('fd_fdstat_set_rights', ROOT_FD, base, inh)).to.equal(Errno.NOTCAPABLE);
      const [, fd] = p.open(ROOT_FD, 'a.txt');
      expect(p.write(fd, 'x')[0]).to.equal(Errno.NOTCAPABLE);
      expect(p.call('fd_fdstat_set_rights', ROOT_FD, base & ~Right.PATH_OPEN, inh & ~Right.FD_WRITE)).to.equal(Errno.SUCCESS);
      expect(p.open(ROOT_FD, 'a.txt')[0]).to.equal(Errno.NOTCAPABLE);
    });

    it('requires PATH_CREATE_FILE for O_CREAT and PATH_FILESTAT_SET_SIZE for O_TRUNC', () => {
      const st = p.alloc(24);
      p.call('fd_fdstat_get', ROOT_FD, st);
      const base = p.u64(st + 8);
      p.call('fd_fdstat_set_rights', ROOT_FD, base & ~(Right.PATH_CREATE_FILE | Right.PATH_FILESTAT_SET_SIZE), p.u64(st + 16));
      expect(p.open(ROOT_FD, 'n.txt', { oflags: OFlag.CREAT })[0]).to.equal(Errno.NOTCAPABLE);
      expect(p.open(ROOT_FD, 'a.txt', { oflags: OFlag.TRUNC })[0]).to.equal(Errno.NOTCAPABLE);
    });
  });

  describe('semantics', () => {
    it('writes, seeks, appends and truncates file content', () => {
      const [, fd] = p.open(ROOT_FD, 'a.txt');
      const off = p.alloc(8);
      expect(p.call('fd_seek', fd, 0n, 2, off)).to.equal(Errno.SUCCESS);
      expect(p.u64(off)).to.equal(5n);
      p.write(fd, '!');
      expect(p.call('fd_seek', fd, -1n, 1, off)).to.equal(Errno.SUCCESS);
      expect(p.u64(off)).to.equal(5n);
      expect(p.call('fd_seek', fd, -10n, 1, off)).to.equal(Errno.INVAL);
      expect(p.filestat(fd).size).to.equal(6n);
      expect(p.call('fd_filestat_set_size', fd, 2n)).to.equal(Errno.SUCCESS);
      expect(p.call('fd_filestat_set_size', fd, 4n)).to.equal(Errno.SUCCESS);
      p.call('fd_seek', fd, 0n, 0, off);
      expect([...p.read(fd, 10)[1]]).to.deep.equal([97, 108, 0, 0]);
    });

    it('applies trailing-slash and directory rules', () => {
      expect(p.open(ROOT_FD, 'a.txt/')[0]).to.equal(Errno.NOTDIR);
      expect(p.open(ROOT_FD, 'sub/', { base: Right.FD_READDIR })[0]).to.equal(Errno.SUCCESS);
      expect(p.open(ROOT_FD, 'a.txt', { oflags: OFlag.DIRECTORY })[0]).to.equal(Errno.NOTDIR);
      expect(p.open(ROOT_FD, 'sub', { base: Right.FD_WRITE })[0]).to.equal(Errno.ISDIR);
      expect(p.path('path_unlink_file', ROOT_FD, 'sub')).to.equal(Errno.ISDIR);
      expect(p.path('path_remove_directory', ROOT_FD, 'a.txt')).to.equal(Errno.NOTDIR);
      expect(p.path('path_remove_directory', ROOT_FD, 'sub')).to.equal(Errno.NOTEMPTY);
      expect(p.path('path_create_directory', ROOT_FD, 'sub')).to.equal(Errno.EXIST);
      expect(p.open(ROOT_FD, 'a.txt', { oflags: OFlag.CREAT | OFlag.EXCL })[0]).to.equal(Errno.EXIST);
      const [, dfd] = p.open(ROOT_FD, 'sub', { base: Right.FD_READ | Right.FD_SEEK });
      const off = p.alloc(8);
      expect(p.call('fd_seek', dfd, 0n, 0, off)).to.be.oneOf([Errno.NOTCAPABLE, Errno.ISDIR]);
      expect(p.read(dfd, 10)[0]).to.be.oneOf([Errno.NOTCAPABLE, Errno.ISDIR]);
    });

    it('lists directories with "." and ".." in insertion order', () => {
      const [, fd] = p.dir(ROOT_FD, 'sub');
      expect(p.readdir(fd)).to.deep.equal(['.', '..', 'b.txt', 'deep']);
      p.open(ROOT_FD, 'sub/z', { oflags: OFlag.CREAT });
      p.open(ROOT_FD, 'sub/c', { oflags: OFlag.CREAT });
      expect(p.readdir(fd)).to.deep.equal(['.', '..', 'b.txt', 'deep', 'z', 'c']);
    });

    it('renames, hard-links and keeps unlinked open files readable', () => {
      const [on, onl] = p.str('a.txt');
      const [nn, nnl] = p.str('sub/deep/moved.txt');
      expect(p.call('path_rename', ROOT_FD, on, onl, ROOT_FD, nn, nnl)).to.equal(Errno.SUCCESS);
      expect(p.open(ROOT_FD, 'a.txt')[0]).to.equal(Errno.NOENT);
      const [ln, lnl] = p.str('hard.txt');
      expect(p.call('path_link', ROOT_FD, 0, nn, nnl, ROOT_FD, ln, lnl)).to.equal(Errno.SUCCESS);
      const [, fd] = p.open(ROOT_FD, 'hard.txt');
      expect(p.filestat(fd).nlink).to.equal(2n);
      expect(p.path('path_unlink_file', ROOT_FD, 'hard.txt')).to.equal(Errno.SUCCESS);
      expect(p.path('path_unlink_file', ROOT_FD, 'sub/deep/moved.txt')).to.equal(Errno.SUCCESS);
      expect(p.filestat(fd).nlink).to.equal(0n);
      expect(new TextDecoder().decode(p.read(fd, 10)[1])).to.equal('alpha');
      // A directory cannot move below itself.
      const [s, sl] = p.str('sub');
      const [t, tl] = p.str('sub/deep/x');
      expect(p.call('path_rename', ROOT_FD, s, sl, ROOT_FD, t, tl)).to.equal(Errno.INVAL);
    });

    it('takes timestamps only from ctx.fsTimeNs()', () => {
      p.ctx.fsTime = 42n;
      const [, fd] = p.open(ROOT_FD, 'f', { oflags: OFlag.CREAT });
      expect(p.filestat(fd).mtim).to.equal(42n);
      p.ctx.fsTime = 43n;
      p.write(fd, 'x');
      expect(p.filestat(fd).mtim).to.equal(43n);
      // Loaded files carry the configured boot time, not host mtimes.
      const [, a] = p.open(ROOT_FD, 'a.txt');
      expect(p.filestat(a).mtim).to.equal(500n);
    });

    it('numbers inodes in sorted load order', () => {
      const ino = (path: string): bigint => {
        const [pp, pl] = p.str(path);
        const st = p.alloc(64);
        expect(p.call('path_filestat_get', ROOT_FD, 0, pp, pl, st)).to.equal(Errno.SUCCESS);
        return p.u64(st + 8);
      };
      // root=1, then a.txt, link-a, link-abs, link-out, loop1, loop2, sub, sub/b.txt, sub/deep
      expect([ino('.'), ino('a.txt'), ino('link-a'), ino('sub'), ino('sub/b.txt'), ino('sub/deep')]).to.deep.equal([1n, 2n, 3n, 8n, 9n, 10n]);
    });
  });
});
