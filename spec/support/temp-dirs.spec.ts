/** The specs' temporary directories are gone once the test process exits (spec/support/temp-dirs.ts). */
import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

describe('spec temporary directories', () => {
  it('are removed when the process that made them exits, files and all', () => {
    const script = [
      "const { tempDir } = await import('./spec/support/temp-dirs.ts');",
      "const { writeFileSync, mkdirSync } = await import('node:fs');",
      "const a = tempDir('twinstep-temp-test-'); const b = tempDir('twinstep-temp-test-');",
      "mkdirSync(a + '/sub'); writeFileSync(a + '/sub/f', 'x'); writeFileSync(b + '/g', 'y');",
      'console.log(JSON.stringify([a, b]));',
    ].join('\n');
    const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: new URL('../../', import.meta.url).pathname, encoding: 'utf8' });
    const dirs = JSON.parse(out.trim().split('\n').at(-1)!) as string[];
    expect(dirs).to.have.length(2);
    for (const d of dirs) expect(existsSync(d), d).to.equal(false);
  });
});
