import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { FIXTURES_DIR, fixtureNames, fluentBitLine } from '../helpers/events.js';

const run = promisify(execFile);

async function sentinel(argv: string[], stdin = '', env: Record<string, string> = {}) {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (d) => (out += d));
  stderr.on('data', (d) => (err += d));
  const code = await main({ argv, env: { SENTINEL_LOG_LEVEL: 'error', ...env }, stdin: Readable.from([stdin]), stdout, stderr });
  return { code, out, err, lines: out.split('\n').filter(Boolean) };
}

describe('sentinel triage', () => {
  it('prints one JSON line per sample with the right route', async () => {
    const files = fixtureNames().map((f) => join(FIXTURES_DIR, f));
    const r = await sentinel(['triage', '--json', ...files]);
    expect(r.code).toBe(0);
    const routes = r.lines.map((l) => JSON.parse(l).route);
    expect(routes).toEqual([
      'approval', // falco-terminal-shell
      'block-egress', // falcosidekick-reverse-shell
      'approval', // fluentbit-artifact-exec
      'file-artifact', // fluentbit-artifact-write
      'record', // fluentbit-exec-audit
      'approval', // fluentbit-exec-interactive
      'approval', // fluentbit-exec-recon
      'isolate-node', // fluentbit-raw-message-webshell
      'block-egress', // fluentbit-reverse-shell
      'file-artifact', // fluentbit-upload-move
      'ignore', // guardduty-ec2-low-severity
      'forensics', // guardduty-ec2-reverse-shell
      'notify', // guardduty-iam-credential-exfiltration
    ]);
  });

  it('reads NDJSON from stdin, reports bad lines in order and exits 1', async () => {
    const input = [JSON.stringify(fluentBitLine('PRJ_EXEC_RECON proc=id')), '{broken', '{"hello":1}', JSON.stringify(fluentBitLine('X a=b'))].join('\n');
    const r = await sentinel(['triage', '--json'], input);
    expect(r.code).toBe(1);
    const parsed = r.lines.map((l) => JSON.parse(l));
    expect(parsed[0].route).toBe('approval');
    expect(parsed[1]).toEqual({ error: expect.stringMatching(/invalid JSON/), line: 2 });
    expect(parsed[2]).toEqual({ error: expect.stringMatching(/not a recognizable event/), line: 3 });
    expect(parsed[3].route).toBe('record');
  });

  it('prints a readable line without --json and keeps control characters out of the terminal', async () => {
    const r = await sentinel(['triage'], JSON.stringify(fluentBitLine('PRJ_EXEC_RECON proc=id pod=p1 ns=n1 \u001b[31mred')));
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^approval\s+medium\s+falco\s+PRJ_EXEC_RECON/);
    expect(r.out).not.toContain('\u001b');
  });

  it('reports an unreadable file and goes on with the rest', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'triage-'));
    const good = join(dir, 'good.ndjson');
    writeFileSync(good, `${JSON.stringify(fluentBitLine('X a=b'))}\n`);
    const r = await sentinel(['triage', '--json', join(dir, 'missing.json'), good]);
    expect(r.code).toBe(1);
    expect(JSON.parse(r.lines[0]!)).toMatchObject({ error: expect.stringMatching(/cannot read .*missing.json: ENOENT/), file: join(dir, 'missing.json') });
    expect(JSON.parse(r.lines[1]!).route).toBe('record');
  });

  it('exits 0 with no output on empty input', async () => {
    const r = await sentinel(['triage', '--json'], '');
    expect(r).toMatchObject({ code: 0, out: '' });
  });

  it('refuses an invalid playbook config at start with its location', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pb-'));
    const path = join(dir, 'playbooks.json');
    writeFileSync(path, JSON.stringify({ falco: { rules: [{ match: { tag: ['X'] }, route: 'nuke' }] }, guardduty: {} }));
    const r = await sentinel(['triage'], '', { SENTINEL_PLAYBOOKS: path });
    expect(r.code).toBe(2);
    expect(r.err).toContain(`${path}: falco.rules[0].route`);
  });

  it('names each bad setting and exits non-zero', async () => {
    const r = await sentinel(['triage'], '', { SENTINEL_LOG_LEVEL: 'loud', DISCORD_CHANNEL_ID: 'general' });
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/SENTINEL_LOG_LEVEL: expected one of error, warn, info, debug/);
    expect(r.err).toMatch(/DISCORD_CHANNEL_ID: expected the incident channel id/);
  });

  it('rejects an unknown command and an unknown option', async () => {
    expect((await sentinel(['frobnicate'])).code).toBe(2);
    expect((await sentinel(['triage', '--nope'])).code).toBe(2);
  });

  it('stops quietly when its reader goes away', async () => {
    const bin = new URL('../../bin/sentinel', import.meta.url).pathname;
    // Far more output than a pipe buffers, so writes go on after `head` has left.
    const big = join(mkdtempSync(join(tmpdir(), 'epipe-')), 'many.ndjson');
    writeFileSync(big, `${JSON.stringify(fluentBitLine(`PRJ_EXEC_RECON proc=id cmdline=${'x'.repeat(200)}`))}\n`.repeat(5000));
    const { stdout, stderr } = await run('/bin/sh', ['-c', '"$0" triage --json "$1" | head -n 1', bin, big], { env: { ...process.env, SENTINEL_LOG_LEVEL: 'error' } });
    expect(stdout.split('\n').filter(Boolean)).toHaveLength(1);
    expect(stderr).not.toMatch(/EPIPE|Error/);
  });

  it('runs as ./bin/sentinel', async () => {
    const bin = new URL('../../bin/sentinel', import.meta.url).pathname;
    const { stdout } = await run(bin, ['triage', '--json', join(FIXTURES_DIR, 'fluentbit-reverse-shell.json')], { env: { ...process.env, SENTINEL_LOG_LEVEL: 'error' } });
    expect(JSON.parse(stdout)).toMatchObject({ route: 'block-egress', ioc: { ip: '203.0.113.45', port: 4444 } });
  });
});
