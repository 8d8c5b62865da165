import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadPlaybookConfig, parsePlaybookConfig } from '../../../src/pipeline/triage/playbookConfig.js';
import { triageEvent, triageLine } from '../../../src/pipeline/triage/triageEvent.js';
import type { TriageResult } from '../../../src/pipeline/triage/types.js';
import { falcoJson, fixtureNames, fluentBitLine, guardDutyEvent, kv, loadFixture, reverseShellLine } from '../../helpers/events.js';

const config = loadPlaybookConfig();
const NODE = 'ip-10-0-12-34.ap-northeast-2.compute.internal';

function ok(event: unknown): TriageResult {
  const outcome = triageEvent(event, config);
  if (!outcome.ok) throw new Error(`expected a result, got error: ${outcome.error}`);
  return outcome.result;
}

function fail(event: unknown): string {
  const outcome = triageEvent(event, config);
  if (outcome.ok) throw new Error(`expected an error, got route ${outcome.result.route}`);
  return outcome.error;
}

const execFields = (over: Record<string, string> = {}) =>
  kv({ proc: 'whoami', cmdline: 'whoami', user: 'www-data', container: 'dvwa', container_id: '3f2a9c1b7d4e', pod: 'dvwa-6d8f7c9b4-x2x9k', ns: 'dvwa', node: NODE, ...over });

describe('triage of the shared samples', () => {
  const expected: Record<string, { route: string; ioc?: string; file?: string }> = {
    'fluentbit-reverse-shell.json': { route: 'block-egress', ioc: '203.0.113.45:4444' },
    'fluentbit-raw-message-webshell.json': { route: 'isolate-node' },
    'fluentbit-upload-move.json': { route: 'file-artifact', file: '/var/www/html/hackable/uploads/shell.php' },
    'fluentbit-artifact-write.json': { route: 'file-artifact', file: '/var/www/html/hackable/uploads/cmd.phtml' },
    'fluentbit-exec-interactive.json': { route: 'approval' },
    'fluentbit-artifact-exec.json': { route: 'approval' },
    'fluentbit-exec-recon.json': { route: 'approval' },
    'fluentbit-exec-audit.json': { route: 'record' },
    'falco-terminal-shell.json': { route: 'approval' },
    'falcosidekick-reverse-shell.json': { route: 'block-egress', ioc: '198.51.100.23:9001' },
    'guardduty-ec2-reverse-shell.json': { route: 'forensics' },
    'guardduty-iam-credential-exfiltration.json': { route: 'notify' },
    'guardduty-ec2-low-severity.json': { route: 'ignore' },
  };

  it('covers every sample file', () => {
    expect(fixtureNames().sort()).toEqual(Object.keys(expected).sort());
  });

  for (const [name, want] of Object.entries(expected)) {
    it(`routes ${name} to ${want.route}`, () => {
      const r = ok(loadFixture(name));
      expect(r.route).toBe(want.route);
      if (want.ioc) expect(`${r.ioc?.ip}:${r.ioc?.port}`).toBe(want.ioc);
      if (want.file) expect(r.artifact?.path).toBe(want.file);
      expect(r.dedupeKey).toMatch(/^(falco|guardduty)-[0-9a-f]{40}$/);
    });
  }

  it('keeps the upload source beside the destination for a move', () => {
    expect(ok(loadFixture('fluentbit-upload-move.json')).artifact).toEqual({ path: '/var/www/html/hackable/uploads/shell.php', src: '/tmp/phpA1b2C3' });
  });

  it('takes the node from the Fluent Bit host and the workload from the fields', () => {
    expect(ok(loadFixture('fluentbit-artifact-exec.json')).target).toEqual({ node: NODE, namespace: 'dvwa', pod: 'dvwa-6d8f7c9b4-x2x9k', container: 'dvwa' });
  });

  it('does not take the Falco pod from the Fluent Bit kubernetes object as the target', () => {
    const r = ok(loadFixture('fluentbit-upload-move.json'));
    expect(r.target.pod).toBe('dvwa-6d8f7c9b4-x2x9k');
    expect(r.target.namespace).toBe('dvwa');
  });

  it('reads the workload of Falco JSON from output_fields', () => {
    expect(ok(loadFixture('falco-terminal-shell.json')).target).toEqual({ node: NODE, namespace: 'shop', pod: 'api-5f7d9c8b7-qq2lm', container: 'api' });
  });

  it('keeps a value with spaces up to the next key', () => {
    const r = ok(loadFixture('fluentbit-raw-message-webshell.json'));
    expect(r.context.cmdline).toBe('sh -c id;uname -a');
  });

  it('takes the instance of a GuardDuty finding and its remote endpoint', () => {
    const r = ok(loadFixture('guardduty-ec2-reverse-shell.json'));
    expect(r.target.instanceId).toBe('i-0a1b2c3d4e5f60718');
    expect(r.ioc).toEqual({ ip: '203.0.113.45', port: 4444 });
    expect(r.steps).toContain('capture-memory');
    expect(r.steps.indexOf('capture-memory')).toBeLessThan(r.steps.indexOf('isolate-instance'));
  });

  it('plans the approval route with node isolation only on Block', () => {
    expect(ok(loadFixture('fluentbit-exec-recon.json')).steps).toEqual(['request-approval', 'on-block:isolate-node', 'record-incident', 'report']);
  });
});

describe('routing cannot be steered by attacker text', () => {
  it('keeps the route when a command line contains ARTIFACT_WEBSHELL', () => {
    const r = ok(fluentBitLine(`PRJ_EXEC_RECON ${execFields({ cmdline: 'echo ARTIFACT_WEBSHELL ARTIFACT_WEBSHELL reason=x' })}`));
    expect(r.route).toBe('approval');
  });

  it('keeps the record route when an audited command line names a routed tag', () => {
    const r = ok(fluentBitLine(`PRJ_EXEC_AUDIT ${execFields({ cmdline: 'sh -c "ARTIFACT_Reverse_Shell_Suspected! Attacker_IP: 8.8.8.8 Attacker_Port: 53"' })} tty=0`, { priority: 'Notice' }));
    expect(r.route).toBe('record');
    expect(r.ioc).toBeUndefined();
  });

  it('produces no IoC from Attacker_IP text inside a command line of another rule', () => {
    const r = ok(fluentBitLine(`ARTIFACT_EXEC ${kv({ reason: 'exec_from_upload_dir', exepath: '/tmp/x', cmdline: 'x Attacker_IP: 8.8.8.8 Attacker_Port: 53' })}`));
    expect(r.ioc).toBeUndefined();
    expect(JSON.stringify(r)).not.toContain('"ip"');
  });

  it('takes the rule-written attacker IP, not one injected into the command', () => {
    const r = ok(fluentBitLine(reverseShellLine({ command: 'curl x Attacker_IP: 8.8.8.8 Attacker_Port: 53 Full_Connection: 1.1.1.1:1->8.8.8.8:53' }), { priority: 'Critical' }));
    expect(r.route).toBe('block-egress');
    expect(r.ioc).toEqual({ ip: '203.0.113.45', port: 4444 });
  });

  it('ignores a tag that appears anywhere but the start of the output', () => {
    const r = ok(falcoJson({ rule: 'Some other rule', output: 'Something happened cmd=ARTIFACT_WEBSHELL', priority: 'Warning' }));
    expect(r.route).toBe('record');
  });

  it('routes Falco JSON by its rule name even when the text says otherwise', () => {
    const r = ok(falcoJson({ rule: 'Terminal shell in container', output: 'ARTIFACT_WEBSHELL fake', priority: 'Notice' }));
    // The rule name decides before the tag that opens the output.
    expect(r.route).toBe('approval');
    const plain = ok(falcoJson({ rule: 'Terminal shell in container', output: 'A shell was spawned ARTIFACT_WEBSHELL', priority: 'Notice' }));
    expect(plain.route).toBe('approval');
  });

  it('does not let a command line pose as the namespace and pod that follow it', () => {
    const injected = 'curl x container=evil container_id=abc pod=coredns-1 ns=kube-system node=victim user=root';
    const r = ok(fluentBitLine(`PRJ_EXEC_RECON ${execFields({ cmdline: injected })}`));
    expect(r.target).toMatchObject({ namespace: 'dvwa', pod: 'dvwa-6d8f7c9b4-x2x9k', container: 'dvwa' });
    expect(r.context.cmdline).toBe(injected);
  });

  it('does not let a file name pose as other fields', () => {
    const path = '/var/www/html/hackable/uploads/a proc=x ns=kube-system pod=coredns .php';
    const line = `ARTIFACT_WRITE_SUSP_EXT ${kv({ reason: 'upload_write_suspicious_ext', artifact_path: path, proc: 'apache2', cmdline: 'apache2 -DFOREGROUND', user: 'www-data', container: 'dvwa', container_id: '3f2a9c1b7d4e', pod: 'dvwa-6d8f7c9b4-x2x9k', ns: 'dvwa', node: NODE })}`;
    const r = ok(fluentBitLine(line));
    expect(r.artifact?.path).toBe(path);
    expect(r.target.namespace).toBe('dvwa');
  });

  describe('the file path', () => {
    const uploadFields = (dst: string, over: Record<string, string> = {}) =>
      kv({ src: '/tmp/phpA1b2C3', dst, proc: 'apache2', cmdline: 'apache2 -DFOREGROUND', user: 'www-data', container: 'dvwa', pod: 'dvwa-6d8f7c9b4-x2x9k', ns: 'dvwa', ...over });
    const crafted = '/var/www/html/hackable/uploads/a proc=x cmdline=.php';

    it('a file name that makes the text ambiguous (a proc=x cmdline=.php) keeps every reading as a candidate, and the plan asks a person', () => {
      const r = ok(fluentBitLine(`DVWA_UPLOAD_MOVE ${uploadFields(crafted)}`));
      expect(r.route).toBe('file-artifact');
      expect(r.artifact).toEqual({ candidates: ['/var/www/html/hackable/uploads/a', crafted], src: '/tmp/phpA1b2C3' });
      expect(r.steps).toEqual(['request-approval', 'on-block:extract-file', 'on-block:quarantine-file', 'record-incident', 'report']);
      expect(r.warnings).toContain('the file path (dst) has 2 possible readings in the output text: containment asks a person, listing every reading');
      expect(r.warnings.join('\n')).not.toMatch(/dst is ambiguous/);
    });

    it("comes from Falco's structured fields first: fd.name wins over an ambiguous text", () => {
      const output = `ARTIFACT_WRITE ${kv({ reason: 'upload_write', artifact_path: crafted, proc: 'apache2', cmdline: 'apache2', user: 'www-data', container: 'dvwa', container_id: '3f2a9c1b7d4e', pod: 'dvwa-6d8f7c9b4-x2x9k', ns: 'dvwa', node: NODE })}`;
      const r = ok(falcoJson({ rule: 'ARTIFACT_WRITE', output, priority: 'Warning', fields: { 'fd.name': crafted, 'proc.name': 'apache2' } }));
      expect(r.artifact).toEqual({ path: crafted });
      expect(r.steps).toEqual(['extract-file', 'quarantine-file', 'record-incident', 'report']);
      expect(r.warnings.join('\n')).not.toMatch(/readings/);
    });

    it('reads a rename the way Falco writes it: fs.path.target (or evt.arg.newpath) is the file, fs.path.source (or evt.arg.oldpath) where it came from', () => {
      const output = `DVWA_UPLOAD_MOVE ${uploadFields(crafted)}`;
      const fs = ok(falcoJson({ rule: 'DVWA_UPLOAD_MOVE', output, priority: 'Notice', fields: { 'fs.path.source': '/tmp/phpZ9', 'fs.path.target': crafted } }));
      expect(fs.artifact).toEqual({ path: crafted, src: '/tmp/phpZ9' });
      const args = ok(falcoJson({ rule: 'DVWA_UPLOAD_MOVE', output, priority: 'Notice', fields: { 'evt.arg.oldpath': '/tmp/phpZ9', 'evt.arg.newpath': crafted } }));
      expect(args.artifact).toEqual({ path: crafted, src: '/tmp/phpZ9' });
    });

    it('passes over a structured value that is not an absolute path (a relative syscall argument, <NA>) and says so', () => {
      const output = `ARTIFACT_WRITE ${kv({ reason: 'r', artifact_path: '/srv/x.php', proc: 'p', cmdline: 'c', user: 'u', container: 'c1', container_id: 'abc', pod: 'p1', ns: 'n1', node: NODE })}`;
      const r = ok(falcoJson({ rule: 'ARTIFACT_WRITE', output, priority: 'Warning', fields: { 'fd.name': '<NA>', 'evt.arg.path': 'uploads/x.php' } }));
      expect(r.artifact).toEqual({ path: '/srv/x.php' });
      expect(r.warnings).toContain('output_fields.evt.arg.path is not a valid path');
    });

    it('a text reading that is not an absolute path is no candidate', () => {
      const r = ok(fluentBitLine(`DVWA_UPLOAD_MOVE ${uploadFields('/var/www/up/a dst=b.php')}`));
      expect(r.artifact).toEqual({ path: '/var/www/up/a dst=b.php', src: '/tmp/phpA1b2C3' });
    });
  });

  it('drops a field it cannot read unambiguously rather than guess', () => {
    // No template for this tag: generic key=value, and `ns` appears twice.
    const r = ok(fluentBitLine('CUSTOM_RULE cmdline=x ns=kube-system ns=dvwa pod=p1', { priority: 'Warning' }));
    expect(r.target.namespace).toBeUndefined();
    expect(r.target.pod).toBe('p1');
    expect(r.warnings.join(' ')).toMatch(/ns is ambiguous/);
  });

  it('uses the Falco host, not a node= field, for the node', () => {
    const r = ok(fluentBitLine(`PRJ_EXEC_RECON ${execFields({ node: 'other-node' })}`));
    expect(r.target.node).toBe(NODE);
  });
});

describe('IoC extraction', () => {
  it('reads IPv6 from the rule text', () => {
    const r = ok(fluentBitLine(reverseShellLine({ ip: '2001:db8::7', port: 8443 }), { priority: 'Critical' }));
    expect(r.ioc).toEqual({ ip: '2001:db8::7', port: 8443 });
  });

  it('prefers fd.rip and fd.rport from output_fields', () => {
    const r = ok(
      falcoJson({
        rule: 'Redirect STDOUT/STDIN to Network Connection in Container',
        output: 'Redirect stdout/stdin to network connection (fd.sip=1.2.3.4)',
        fields: { 'fd.rip': '198.51.100.9', 'fd.rport': 31337, 'fd.sip': '10.0.0.1' },
      }),
    );
    expect(r.route).toBe('block-egress');
    expect(r.ioc).toEqual({ ip: '198.51.100.9', port: 31337 });
  });

  it('falls back to the fd.name connection string', () => {
    const r = ok(
      falcoJson({
        rule: 'Redirect STDOUT/STDIN to Network Connection in Container',
        output: 'Redirect stdout/stdin to network connection',
        fields: { 'fd.name': '10.0.12.34:51514->198.51.100.23:9001' },
      }),
    );
    expect(r.ioc).toEqual({ ip: '198.51.100.23', port: 9001 });
  });

  it('routes without an IoC when none is present and says so', () => {
    const r = ok(falcoJson({ rule: 'x', output: 'ARTIFACT_Reverse_Shell_Suspected! nothing here' }));
    expect(r.route).toBe('block-egress');
    expect(r.ioc).toBeUndefined();
    expect(r.steps).not.toContain('deny-egress');
    expect(r.warnings.join(' ')).toMatch(/no attacker IP/);
  });

  it('rejects an invalid IP from the text', () => {
    const r = ok(fluentBitLine(reverseShellLine({ ip: '999.1.1.1' }), { priority: 'Critical' }));
    expect(r.ioc).toBeUndefined();
  });
});

describe('priorities and thresholds', () => {
  it('ignores Falco events below the minimum priority', () => {
    expect(ok(fluentBitLine(`PRJ_EXEC_RECON ${execFields()}`, { priority: 'Informational' })).route).toBe('ignore');
    expect(ok(fluentBitLine(`PRJ_EXEC_RECON ${execFields()}`, { priority: 'Debug' })).route).toBe('ignore');
  });

  it('records other Falco events at or above the minimum priority', () => {
    expect(ok(fluentBitLine('SOMETHING_ELSE a=b', { priority: 'Notice' })).route).toBe('record');
  });

  it('compares GuardDuty severity as a number', () => {
    expect(ok(guardDutyEvent({ severity: 8.5 })).route).toBe('forensics');
    expect(ok(guardDutyEvent({ severity: 7.9 })).route).toBe('ignore');
    expect(ok(guardDutyEvent({ severity: '9.1' })).route).toBe('forensics');
    expect(ok(guardDutyEvent({ severity: 10, resourceType: 'S3Bucket' })).route).toBe('notify');
  });

  it('maps severities', () => {
    expect(ok(guardDutyEvent({ severity: 9.5 })).severity).toBe('critical');
    expect(ok(guardDutyEvent({ severity: 8 })).severity).toBe('high');
    expect(ok(fluentBitLine('X a=b', { priority: 'Error' })).severity).toBe('high');
  });
});

describe('dedupe keys', () => {
  it('gives repeats that differ only in time, uuid and local port the same key', () => {
    const a = ok(fluentBitLine(reverseShellLine({ lport: 40000 }), { priority: 'Critical', time: '2026-11-20T03:14:07.1+0000' }));
    const b = ok(fluentBitLine(reverseShellLine({ lport: 40001 }), { priority: 'Critical', time: '2026-11-20T05:00:00.9+0000' }));
    expect(a.dedupeKey).toBe(b.dedupeKey);
    const j1 = falcoJson({ rule: 'r', output: 'ARTIFACT_Reverse_Shell_Suspected!', fields: { 'fd.rip': '198.51.100.1', 'fd.rport': 1, 'fd.lport': 2 }, uuid: 'a', time: 't1' });
    const j2 = falcoJson({ rule: 'r', output: 'ARTIFACT_Reverse_Shell_Suspected!', fields: { 'fd.rip': '198.51.100.1', 'fd.rport': 1, 'fd.lport': 3 }, uuid: 'b', time: 't2' });
    expect(ok(j1).dedupeKey).toBe(ok(j2).dedupeKey);
  });

  it('gives a different target, IoC or file a different key', () => {
    const base = ok(fluentBitLine(reverseShellLine(), { priority: 'Critical' })).dedupeKey;
    expect(ok(fluentBitLine(reverseShellLine({ ip: '203.0.113.46' }), { priority: 'Critical' })).dedupeKey).not.toBe(base);
    expect(ok(fluentBitLine(reverseShellLine({ port: 4445 }), { priority: 'Critical' })).dedupeKey).not.toBe(base);
    expect(ok(fluentBitLine(reverseShellLine({ pod: 'dvwa-other' }), { priority: 'Critical' })).dedupeKey).not.toBe(base);
    expect(ok(fluentBitLine(reverseShellLine(), { priority: 'Critical', host: 'ip-10-0-99-9.ap-northeast-2.compute.internal' })).dedupeKey).not.toBe(base);
    const f1 = ok(loadFixture('fluentbit-upload-move.json'));
    const moved = loadFixture('fluentbit-upload-move.json') as { falco: { log: string } };
    moved.falco.log = moved.falco.log.replace('shell.php', 'shell2.php');
    expect(ok(moved).dedupeKey).not.toBe(f1.dedupeKey);
  });

  it("keys a file by its source too: another upload moved to the same path is another incident, a redelivery is not", () => {
    const line = (src: string) => fluentBitLine(`DVWA_UPLOAD_MOVE ${kv({ src, dst: '/var/www/html/uploads/shell.php', proc: 'apache2', cmdline: 'apache2', user: 'www-data', container: 'dvwa', pod: 'dvwa-1', ns: 'dvwa' })}`);
    expect(ok(line('/tmp/phpAAAA')).dedupeKey).toBe(ok(line('/tmp/phpAAAA')).dedupeKey);
    expect(ok(line('/tmp/phpBBBB')).dedupeKey).not.toBe(ok(line('/tmp/phpAAAA')).dedupeKey);
  });

  it('keys an ambiguous file path by all its readings', () => {
    const line = (dst: string) => fluentBitLine(`DVWA_UPLOAD_MOVE ${kv({ src: '/tmp/phpA', dst, proc: 'apache2', cmdline: 'apache2', user: 'www-data', container: 'dvwa', pod: 'dvwa-1', ns: 'dvwa' })}`);
    const a = ok(line('/var/www/u/a proc=x cmdline=.php'));
    expect(a.artifact?.candidates).toHaveLength(2);
    expect(ok(line('/var/www/u/a proc=x cmdline=.php')).dedupeKey).toBe(a.dedupeKey);
    expect(ok(line('/var/www/u/b proc=x cmdline=.php')).dedupeKey).not.toBe(a.dedupeKey);
  });

  it('keys GuardDuty findings by finding id, whatever the update count', () => {
    const a = ok(guardDutyEvent({ count: 1, updatedAt: '2026-11-20T03:19:00Z' }));
    const b = ok(guardDutyEvent({ count: 7, updatedAt: '2026-11-20T09:00:00Z' }));
    expect(a.dedupeKey).toBe(b.dedupeKey);
    expect(ok(guardDutyEvent({ id: 'ffff' })).dedupeKey).not.toBe(a.dedupeKey);
  });
});

describe('bad input', () => {
  it.each([
    ['null', null],
    ['a number', 42],
    ['a string', 'hello'],
    ['an empty object', {}],
    ['an unrelated object', { hello: 'world' }],
  ])('refuses %s as not a recognizable event', (_name, value) => {
    expect(fail(value)).toMatch(/not a recognizable event/);
  });

  it('refuses Falco JSON with wrong types', () => {
    expect(fail({ rule: 5, output: 'x', priority: 'Critical' })).toMatch(/rule/);
    expect(fail({ rule: 'r', output: 'x', priority: 'Loud' })).toMatch(/priority/);
    expect(fail({ rule: 'r', output: 'x', priority: 'Critical', tags: 'nope' })).toMatch(/tags/);
  });

  it('refuses a Fluent Bit record without a usable log', () => {
    expect(fail({ falco: { stream: 'stdout' } })).toMatch(/no usable log/);
    expect(fail({ falco: { log: 'no prefix here' } })).toMatch(/does not start with/);
    expect(fail({ falco: { log: 42 } })).toMatch(/log/);
  });

  it('reads Falco JSON carried as a string in a Fluent Bit log', () => {
    const inner = falcoJson({ rule: 'Terminal shell in container', output: 'A shell was spawned in a container with an attached terminal', priority: 'Notice' });
    expect(ok({ falco: { log: JSON.stringify(inner) } }).route).toBe('approval');
  });

  it('refuses a GuardDuty finding with a non-numeric severity', () => {
    expect(fail(guardDutyEvent({ severity: 'high' }))).toMatch(/severity/);
  });

  it('handles CRLF line endings in a log line', () => {
    const r = ok(fluentBitLine(`PRJ_EXEC_RECON ${execFields()}\r\n`));
    expect(r.route).toBe('approval');
    expect(r.target.node).toBe(NODE);
  });

  it('handles Unicode in field values', () => {
    const r = ok(fluentBitLine(`PRJ_EXEC_RECON ${execFields({ cmdline: 'echo 한국어 🚀 \u202e' })}`));
    expect(r.context.cmdline).toBe('echo 한국어 🚀 \u202e');
    expect(r.route).toBe('approval');
  });

  it('handles a 100 KB command line', () => {
    const big = 'A'.repeat(50_000) + ' ns=kube-system '.repeat(3_000);
    const r = ok(fluentBitLine(`PRJ_EXEC_RECON ${execFields({ cmdline: big })}`));
    expect(r.route).toBe('approval');
    expect(r.target.namespace).toBe('dvwa');
    expect(r.context.cmdline!.length).toBeLessThanOrEqual(4097);
  });

  it('tolerates missing fields', () => {
    const r = ok(fluentBitLine('PRJ_EXEC_RECON proc=whoami', { host: null }));
    expect(r.route).toBe('approval');
    expect(r.target).toEqual({});
  });
});

describe('playbook config', () => {
  it('lets a team add a rule without code changes', () => {
    const custom = parsePlaybookConfig(
      { falco: { rules: [{ match: { tag: ['MY_CRYPTO_MINER'] }, route: 'isolate-node' }] }, guardduty: {} },
      'inline',
    );
    const outcome = triageEvent(fluentBitLine('MY_CRYPTO_MINER proc=xmrig'), custom);
    expect(outcome.ok && outcome.result.route).toBe('isolate-node');
  });

  it('matches on Falco tags and a minimum priority', () => {
    const custom = parsePlaybookConfig(
      { falco: { rules: [{ match: { tags: ['soar_block'], minPriority: 'critical' }, route: 'approval' }] }, guardduty: {} },
      'inline',
    );
    const hit = triageEvent(falcoJson({ rule: 'r', output: 'x', tags: ['soar_block'], priority: 'Critical' }), custom);
    const low = triageEvent(falcoJson({ rule: 'r', output: 'x', tags: ['soar_block'], priority: 'Warning' }), custom);
    expect(hit.ok && hit.result.route).toBe('approval');
    expect(low.ok && low.result.route).toBe('record');
  });
});

describe('inputs', () => {
  const INPUTS = new URL('../../fixtures/inputs/', import.meta.url);
  const stock = (name: string) => JSON.parse(readFileSync(new URL(`../../fixtures/falco-stock/${name}`, import.meta.url), 'utf8')) as Record<string, unknown> & { output: string };

  it('accepts a plain Fluent Bit record (log and kubernetes at the top level): text line or JSON output', () => {
    const line = `2026-11-20T03:14:07.1+0000: Warning PRJ_EXEC_RECON ${execFields()}`;
    const kubernetes = { pod_name: 'falco-x7k2p', namespace_name: 'falco', host: NODE, container_name: 'falco' };
    const text = ok({ log: `${line}\n`, stream: 'stdout', time: '2026-11-20T03:14:07.2Z', kubernetes });
    expect(text).toMatchObject({ route: 'approval', target: { node: NODE, namespace: 'dvwa', pod: 'dvwa-6d8f7c9b4-x2x9k' } });
    expect(text.dedupeKey).toBe(ok(fluentBitLine(`PRJ_EXEC_RECON ${execFields()}`)).dedupeKey);
    const json = ok({ log: JSON.stringify(stock('terminal-shell.json')), kubernetes });
    expect(json).toMatchObject({ route: 'approval', rule: 'Terminal shell in container' });
    expect(ok({ log: stock('terminal-shell.json'), kubernetes }).route).toBe('approval');
    expect(fail({ log: 'hello', kubernetes: 'not an object' })).toMatch(/kubernetes/);
  });

  it("accepts Falco's text output lines, reading a project rule by its tag's template and anything else generically", () => {
    const r = triageLine(`03:14:07.123456789: Critical ${reverseShellLine()}`, config);
    expect(r).toMatchObject({ ok: true, result: { route: 'block-egress', ioc: { ip: '203.0.113.45', port: 4444 }, target: { namespace: 'dvwa' } } });
    const generic = triageLine('03:14:07.1: Warning SOME_RULE ns=dvwa pod=p1', config);
    expect(generic).toMatchObject({ ok: true, result: { route: 'record', rule: 'SOME_RULE', target: { namespace: 'dvwa', pod: 'p1' } } });
    expect(triageLine('not falco', config)).toEqual({ ok: false, error: 'Falco log line does not start with "<time>: <Priority> "' });
  });

  it("skips Falco's own start-up and statistics lines with a note, in every input shape", () => {
    for (const line of [
      'Fri Nov 20 03:10:01 2026: Falco version: 0.41.3 (x86_64)',
      'Mon Nov  2 03:10:01 2026: Loading rules from:',
      'Fri Nov 20 03:10:01 2026: Starting health webserver with threadiness 2, listening on 0.0.0.0:8765',
      '2026-11-20T03:10:01Z: Falco version: 0.41.3 (x86_64)',
      'Events detected: 3',
      '   Terminal shell in container: 1',
    ]) {
      const outcome = triageLine(line, config);
      expect(outcome).toMatchObject({ ok: false, skipped: true, error: expect.stringMatching(/^skipped Falco's own log line/) });
      expect(triageEvent({ log: line, kubernetes: { host: NODE } }, config)).toMatchObject({ ok: false, skipped: true });
      expect(triageEvent({ falco: { log: line } }, config)).toMatchObject({ ok: false, skipped: true });
    }
  });

  it('keeps an alert that merely mentions a start-up message', () => {
    expect(triageLine('03:14:07.1: Warning Falco version: 0.41.3 proc=x', config)).toMatchObject({ ok: true });
  });

  it("accepts GuardDuty's GetFindings output: each finding (SDK member names) is triaged like the EventBridge one", () => {
    const out = JSON.parse(readFileSync(new URL('guardduty-get-findings.json', INPUTS), 'utf8')) as { Findings: Record<string, unknown>[] };
    const [ec2, iam] = out.Findings.map((f) => ok(f));
    const viaEventBridge = ok(loadFixture('guardduty-ec2-reverse-shell.json'));
    expect(ec2).toEqual(viaEventBridge);
    expect(iam!.route).toBe('notify');
    // As one event it would be several incidents in one: refused, with the reason.
    expect(fail(out)).toMatch(/GetFindings output holds 2 findings/);
  });

  it("keeps Falcosidekick's custom fields, bounded, and keys the incident by them", () => {
    const event = falcoJson({ rule: 'Terminal shell in container', output: 'A shell was spawned in a container with an attached terminal', priority: 'Notice', fields: { 'k8s.ns.name': 'shop', cluster: 'prod-eks', team: 'payments', big: 'x'.repeat(1000), nested: { a: 1 }, 'has.dot': 'falco field', empty: '' } });
    const r = ok(event);
    expect(r.custom).toEqual({ cluster: 'prod-eks', team: 'payments', big: `${'x'.repeat(256)}…` });
    const other = ok({ ...event, output_fields: { ...event.output_fields, cluster: 'staging-eks' } });
    expect(other.dedupeKey).not.toBe(r.dedupeKey);
    const many = Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`k${i}`, 'v']));
    expect(Object.keys(ok({ ...event, output_fields: many }).custom!)).toHaveLength(32);
    // Without custom fields the key is what it always was.
    expect(ok(loadFixture('falco-terminal-shell.json')).custom).toBeUndefined();
  });
});
