/** Generated FlatBuffers code must match schema/twinstep.fbs (runs `tsx scripts/schema.ts --check`). */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

describe('schema drift', () => {
  it('schema/generated is up to date with schema/twinstep.fbs', function () {
    this.timeout(120_000);
    const root = fileURLToPath(new URL('../../', import.meta.url));
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/schema.ts', '--check'], { cwd: root, encoding: 'utf8' });
    expect(r.status, `${r.stdout}\n${r.stderr}`).to.equal(0);
  });
});
