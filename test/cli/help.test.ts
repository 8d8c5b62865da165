import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import packageJson from '../../package.json' with { type: 'json' };

async function run(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (d) => (out += d));
  stderr.on('data', (d) => (err += d));
  // No settings at all: help and the version must not need any.
  const code = await main({ argv, env: {}, stdin: new PassThrough(), stdout, stderr });
  return { code, out, err };
}

describe('sentinel --help and --version', () => {
  it('prints the version', async () => {
    expect(await run(['--version'])).toMatchObject({ code: 0, out: `sentinel ${packageJson.version}\n` });
  });

  it('gives every subcommand --help, without any setting, and exits 0', async () => {
    for (const command of ['triage', 'start', 'register-commands', 'provision', 'dlq', 'dlq list', 'dlq replay', 'send']) {
      const r = await run([...command.split(' '), '--help']);
      expect(r.code, command).toBe(0);
      expect(r.out, command).toMatch(new RegExp(`usage: sentinel ${command}`));
      expect(r.err, command).toBe('');
    }
  });

  it('lists the commands and points at --help', async () => {
    const r = await run(['--help']);
    expect(r.code).toBe(0);
    expect(r.out).toContain('sentinel <command> --help');
  });
  it("generates each command's help from its definition: usage, options, and the same text from sentinel help <command>", async () => {
    const provision = await run(['provision', '--help']);
    expect(provision.out).toMatch(/^usage: sentinel provision \[--dry-run\] \[--prefix NAME\]\n/);
    expect(provision.out).toMatch(/^  --dry-run /m);
    expect(provision.out).toMatch(/^  --prefix <NAME> /m);
    expect((await run(['help', 'provision'])).out).toBe(provision.out);
    const replay = await run(['dlq', 'replay', '-h']);
    for (const option of ['--queue <queue>', '--id <MESSAGE_ID>', '--all', '--resend', '--dry-run']) expect(replay.out).toContain(`  ${option} `);
    const dlq = await run(['dlq', '--help']);
    expect(dlq.out).toContain('sentinel dlq list [--queue intake|control] [--json]');
    expect(dlq.out).toContain('would carry your SenderId');
  });

  it('exits 2 on a usage error, naming the command, before reading any setting', async () => {
    const none = await run([]);
    expect(none).toMatchObject({ code: 2, err: '' });
    expect(none.out).toContain('sentinel <command> --help');
    const unknown = await run(['isolate']);
    expect(unknown.code).toBe(2);
    expect(unknown.err).toMatch(/^sentinel: unknown command 'isolate'\n/);
    expect(unknown.err).toContain('usage: sentinel <command> [options]');
    const option = await run(['triage', '--nope']);
    expect(option).toMatchObject({ code: 2, out: '' });
    expect(option.err).toMatch(/^sentinel triage: unknown option '--nope'\n\(sentinel triage --help says more\)\n$/);
    expect((await run(['start', 'now'])).code).toBe(2);
    expect((await run(['provision', '--prefix'])).err).toMatch(/^sentinel provision: option '--prefix <NAME>' argument missing/);
    expect((await run(['dlq', 'list', '--queue', 'all'])).err).toBe('sentinel dlq list: --queue "all": expected intake or control\n');
  });

  it('answers sentinel version and -V like --version', async () => {
    for (const argv of [['version'], ['-V']]) expect(await run(argv)).toMatchObject({ code: 0, out: `sentinel ${packageJson.version}\n` });
  });
});
