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
    for (const command of ['triage', 'start', 'register-commands', 'provision', 'dlq', 'send']) {
      const r = await run([command, '--help']);
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
});
