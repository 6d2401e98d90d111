/**
 * `twinstep help`, `twinstep help COMMAND` and `twinstep COMMAND --help`, made from the same argument tables the
 * parser uses: every option a command accepts is in its usage line and its help, every option in the help is
 * accepted, a shared option a command does not take is refused, and `--help` after the module is the guest's.
 */
import { expect } from 'chai';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { COMMANDS } from '../../scripts/cli/main.ts';
import { commandHelp, usageLine } from '../../scripts/cli/help.ts';
import { SHARED_FLAGS, parseRunArgs, type SharedFlag } from '../../scripts/cli/run-options.ts';
import { CliError } from '../../scripts/cli/cli-error.ts';
import { GUEST_DIR } from '../support/guests.ts';
import { Cli, show } from './support.ts';

const HELLO = join(GUEST_DIR, 'c/hello.wasm');

/** A value each flag's parser takes without complaint (parseRunArgs checks --dir's directory exists). */
function sampleValue(flag: string): string {
  return flag === '--dir' ? '/tmp' : flag === '--env' ? 'A=1' : 'x';
}

describe('twinstep help', function () {
  this.timeout(60_000);
  const cli = new Cli();
  after(() => rmSync(cli.cache, { recursive: true, force: true }));

  for (const [name, c] of Object.entries(COMMANDS)) {
    describe(name, () => {
      const own = Object.entries(c.args.flags);
      const shared = c.args.shared as readonly string[];
      const help = commandHelp(name, c.args, c.about);

      it('lists every option it accepts, in the usage line and the help, and names each hidden alias', () => {
        expect(c.usage).to.equal(usageLine(name, c.args));
        for (const [flag, f] of own) {
          if (f.hidden) {
            expect(help, `${flag} is an alias another flag's help names`).to.include(flag);
            expect(c.usage).to.not.include(`${flag} `);
            continue;
          }
          expect(c.usage, flag).to.include(f.takesValue ? `${flag} ${f.value}` : flag);
          expect(help, flag).to.match(new RegExp(`^  ${flag.replace(/[-[\]|.]/g, '\\$&')}[ \n]`, 'm'));
        }
        for (const flag of shared) expect(help, flag).to.match(new RegExp(`^  ${flag} `, 'm'));
        if (c.args.operand) expect(c.usage).to.match(new RegExp(`${c.args.operand.replace('.', '\\.')}(\\.\\.\\.| \\[ARGS\\.\\.\\.\\])?$`));
      });

      it('accepts every option its help lists, and refuses the shared ones it does not take', () => {
        const operand = c.args.operand ? ['operand'] : [];
        for (const [flag, f] of [...own, ...shared.map((s) => [s, SHARED_FLAGS[s as SharedFlag]] as const)]) {
          const argv = [flag, ...(f.takesValue ? [sampleValue(flag)] : []), ...operand];
          const { flags } = parseRunArgs(argv, c.args);
          if (!(flag in SHARED_FLAGS)) expect(flags.get(flag), flag).to.have.length(1);
        }
        for (const flag of Object.keys(SHARED_FLAGS).filter((s) => !shared.includes(s))) {
          expect(() => parseRunArgs([flag, sampleValue(flag), ...operand], c.args), flag).to.throw(CliError, `unknown option '${flag}'`);
        }
      });
    });
  }

  it('prints the whole help for COMMAND --help, -h and help COMMAND (exit 0), and refuses an unknown command', async () => {
    const [a, b, h, unknown, all] = await Promise.all([
      cli.run(['replay', '--help']),
      cli.run(['replay', '-h']),
      cli.run(['help', 'replay']),
      cli.run(['help', 'frobnicate']),
      cli.run(['help']),
    ]);
    for (const r of [a, b, h]) {
      expect(r.code, show(r)).to.equal(0);
      expect(r.stdout).to.equal(commandHelp('replay', COMMANDS.replay.args, COMMANDS.replay.about));
    }
    expect(a.stdout).to.match(/^twinstep replay: re-execute a guest against one or more traces/);
    expect(a.stdout).to.match(/\n  --digests full\|files\|off +what the trace's state digests are compared against/);
    expect(unknown.code).to.equal(64);
    expect(unknown.stderr).to.match(/^twinstep: unknown command 'frobnicate'/);
    expect(all.code).to.equal(0);
    for (const c of Object.values(COMMANDS)) expect(all.stdout).to.include(`  ${c.usage}\n`);
  });

  it('leaves --help after the module to the guest', async () => {
    const r = await cli.run(['run', HELLO, '--help']);
    expect(r.code, show(r)).to.equal(0);
    expect(r.stdout).to.include('argv[1]=--help\n');
  });

  it('wraps the help for a 100-column terminal', () => {
    for (const [name, c] of Object.entries(COMMANDS)) {
      for (const line of commandHelp(name, c.args, c.about).split('\n')) {
        // A single word longer than the line (an option's value syntax) may stand alone.
        if (line.trim().includes(' ')) expect(line.length, `${name}: ${line}`).to.be.at.most(100);
      }
    }
  });
});
