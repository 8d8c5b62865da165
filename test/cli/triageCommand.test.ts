import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { FIXTURES_DIR, fixtureNames, fluentBitLine } from '../helpers/events.js';

const run = promisify(execFile);
const STOCK_DIR = fileURLToPath(new URL('../fixtures/falco-stock/', import.meta.url));
const INPUTS_DIR = fileURLToPath(new URL('../fixtures/inputs/', import.meta.url));

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
    expect(r.err).toContain(`${path}:1:51: falco.rules[0].route: Invalid option`);
  });

  it('reads a YAML playbook config and refuses a bad one with its line', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pb-'));
    const good = join(dir, 'playbooks.yaml');
    writeFileSync(good, 'falco:\n  rules:\n    - match: { fields: { cluster: prod-eks } }\n      route: isolate-node\nguardduty: {}\n');
    const event = { rule: 'r', output: 'x', priority: 'Critical', output_fields: { cluster: 'prod-eks' } };
    const r = await sentinel(['triage', '--json'], JSON.stringify(event), { SENTINEL_PLAYBOOKS: good });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.lines[0]!)).toMatchObject({ route: 'isolate-node', custom: { cluster: 'prod-eks' } });
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'falco:\n  rules:\n    - match:\n        namespace: kube-system\n      route: ignore\nguardduty: {}\n');
    const refused = await sentinel(['triage'], '', { SENTINEL_PLAYBOOKS: bad });
    expect(refused.code).toBe(2);
    expect(refused.err).toContain(`${bad}:4:9: falco.rules[0].match.namespace: unknown key "namespace"`);
  });

  it('--explain says which rule matched and why, and which did not, under each event', async () => {
    const r = await sentinel(['triage', '--explain', join(STOCK_DIR, 'terminal-shell.json')]);
    expect(r.code).toBe(0);
    expect(r.lines[0]).toMatch(/^approval\s+low\s+falco\s+Terminal shell in container/);
    expect(r.lines[1]).toMatch(/^ {2}event: rule "Terminal shell in container" \(the JSON output's rule field\); tag "A"; priority notice; source "syscall"/);
    expect(r.lines).toContain('  rule 1 "Falcosidekick test event" → test: no match');
    expect(r.lines).toContain('      ✗ source in ["internal"]: "syscall"');
    const decides = r.lines.findIndex((l) => /^ {2}rule \d+ "Falco stock: Terminal shell in container" → approval: decides the route$/.test(l));
    expect(decides).toBeGreaterThan(0);
    expect(r.lines[decides + 1]).toBe('      ✓ either rule in ["Terminal shell in container"]: "Terminal shell in container"');
    expect(r.lines.at(-1)).toMatch(/^ {2}decision: route approval from rule \d+ "Falco stock: Terminal shell in container"$/);
  });

  it('--explain --json adds the explanation to each result', async () => {
    const r = await sentinel(['triage', '--json', '--explain', join(STOCK_DIR, 'miner-pool-connection.json')]);
    const out = JSON.parse(r.lines[0]!);
    expect(out).toMatchObject({ route: 'block-egress', ioc: { ip: '198.51.100.77', port: 4444 } });
    expect(out.explain.rules.find((x: { outcome: string }) => x.outcome === 'decides the route')).toMatchObject({ name: 'Falco stock: Detect outbound connections to common miner pool ports' });
    expect(out.explain.decision[0]).toMatch(/^route block-egress from rule/);
  });

  it('reads `kubectl logs ds/falco` text output: alerts triaged, start-up and statistics lines skipped with a note, exit 0', async () => {
    const text = readFileSync(join(INPUTS_DIR, 'kubectl-logs-falco.txt'), 'utf8');
    const r = await sentinel(['triage'], text);
    expect(r.code).toBe(0);
    const alerts = r.lines.filter((l) => !l.startsWith('skipped'));
    expect(alerts.map((l) => l.split(/\s+/)[0])).toEqual(['approval', 'block-egress', 'approval', 'file-artifact']);
    expect(alerts[1]).toContain('ioc=203.0.113.45:4444');
    expect(alerts[3]).toContain('file=/tmp/.cache/xmrig');
    expect(r.lines[0]).toBe('skipped line 1: skipped Falco\'s own log line (start-up, configuration or statistics), not an alert: "Falco version: 0.41.3 (x86_64)"');
    expect(r.lines.filter((l) => l.startsWith('skipped'))).toHaveLength(20);
    const json = await sentinel(['triage', '--json'], text);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.lines[8]!)).toMatchObject({ skipped: expect.stringMatching(/Starting health webserver/), line: 9 });
  });

  it("reads GuardDuty's GetFindings output: one line per finding", async () => {
    const r = await sentinel(['triage', '--json', join(INPUTS_DIR, 'guardduty-get-findings.json')]);
    expect(r.code).toBe(0);
    expect(r.lines.map((l) => JSON.parse(l).route)).toEqual(['forensics', 'notify']);
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
