/**
 * collect-pod-logs against the real clients: the fake Kubernetes API serving container logs
 * (current and previous, with the API's query options) and moto S3.
 */
import { createHash } from 'node:crypto';
import { CreateBucketCommand, GetObjectCommand, HeadObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { destroyAwsClients, type AwsClients } from '../../../../src/aws/clients.js';
import { loadConfig, type PipelineSettings } from '../../../../src/config.js';
import { createKubeClients } from '../../../../src/kube/clients.js';
import { createSilentLogger } from '../../../../src/logger.js';
import { collectPodLogsAction } from '../../../../src/pipeline/actions/evidence/collectPodLogs.js';
import type { ActionDeps } from '../../../../src/pipeline/actions/types.js';
import { invokeAction } from '../../../../src/pipeline/invokeAction.js';
import { createMotoClients, MOTO_REGION, uniqueName } from '../../../support/aws.js';
import { startFakeKube, type FakeKube } from '../../../support/fakeKube/index.js';

const T0 = new Date('2026-03-01T12:00:00.000Z');
let fake: FakeKube;
let aws: AwsClients;
let bucket: string;

beforeAll(async () => {
  fake = await startFakeKube({ now: () => T0 });
  aws = createMotoClients();
  bucket = uniqueName('podlogs');
  await aws.s3.send(new CreateBucketCommand({ Bucket: bucket, CreateBucketConfiguration: { LocationConstraint: MOTO_REGION } }));
});
afterAll(async () => {
  destroyAwsClients(aws);
  await fake.close();
});

function deps(overrides: Partial<PipelineSettings> = {}): ActionDeps {
  return {
    aws,
    kube: createKubeClients(fake.kubeConfig()),
    settings: { ...loadConfig({ env: {}, envFile: false }).pipeline, evidenceBucket: bucket, ...overrides },
    logger: createSilentLogger(),
    now: () => T0,
  };
}

let n = 0;
function newPod(containers: string[] = ['app'], namespace = 'shop') {
  n += 1;
  const incidentId = `inc-logs-${n}`;
  return { pod: fake.addPod({ namespace, name: `api-${n}`, containers }), namespace, name: `api-${n}`, options: { actor: 'discord:123456789012345678', incidentId } };
}

const sha256 = (b: string | Buffer) => createHash('sha256').update(b).digest('hex');
const stamp = (d: Date) => d.toISOString().replace('.000Z', 'Z');

async function object(key: string) {
  const got = await aws.s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return { body: Buffer.from(await got.Body!.transformToByteArray()), metadata: got.Metadata ?? {}, contentType: got.ContentType };
}

async function keys(incidentId: string): Promise<string[]> {
  const listed = await aws.s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: `evidence/${incidentId}/` }));
  return (listed.Contents ?? []).map((o) => o.Key!).sort();
}

describe('collect-pod-logs', () => {
  it('stores the current and previous log of every container, write-once with sha256 and source metadata', async () => {
    const t = newPod(['api', 'proxy']);
    const early = new Date(T0.getTime() - 120_000);
    t.pod.writeLog('api', 'boot\nGET /wp-login.php 200\n', { at: early });
    t.pod.restartContainer('api', { exitCode: 137, reason: 'OOMKilled' });
    t.pod.writeLog('api', 'boot again\n', { at: T0 });
    t.pod.writeLog('proxy', 'proxy up\n', { at: T0 });

    const result = await invokeAction(collectPodLogsAction, { namespace: t.namespace, pod: t.name }, t.options, deps());

    expect(result.status).toBe('succeeded');
    const current = `${stamp(T0)} boot again\n`;
    const previous = `${stamp(early)} boot\n${stamp(early)} GET /wp-login.php 200\n`;
    const proxy = `${stamp(T0)} proxy up\n`;
    const loc = (sha: string, name: string) => `s3://${bucket}/evidence/${t.options.incidentId}/${sha}/${name}`;
    expect(result.summary).toBe(
      `collected 3 logs of pod shop/${t.name} in s3://${bucket}/ (api current: ${current.length} bytes; api previous: ${previous.length} bytes; proxy current: ${proxy.length} bytes; proxy previous: no previous instance (the container never restarted))`,
    );
    expect(result.details).toMatchObject({
      logs: [
        { container: 'api', log: 'current', status: 'stored', sha256: sha256(current), size: current.length, location: loc(sha256(current), `${t.name}_api.log`) },
        { container: 'api', log: 'previous', status: 'stored', sha256: sha256(previous), location: loc(sha256(previous), `${t.name}_api_previous.log`) },
        { container: 'proxy', log: 'current', status: 'stored', sha256: sha256(proxy) },
        { container: 'proxy', log: 'previous', status: 'unavailable' },
      ],
      options: { tailLines: null, sinceSeconds: null, limitBytes: 10 * 1024 * 1024, timestamps: true },
    });
    const details = result.details as { evidence: { kind: string; location: string; sha256: string; source: Record<string, string> }[] };
    expect(details.evidence.map((e) => [e.kind, e.source])).toEqual([
      ['pod-log', { namespace: 'shop', pod: t.name, container: 'api', log: 'current' }],
      ['pod-log:previous', { namespace: 'shop', pod: t.name, container: 'api', log: 'previous' }],
      ['pod-log', { namespace: 'shop', pod: t.name, container: 'proxy', log: 'current' }],
    ]);

    const stored = await object(`evidence/${t.options.incidentId}/${sha256(previous)}/${t.name}_api_previous.log`);
    expect(stored.body.toString()).toBe(previous);
    expect(stored.contentType).toBe('text/plain');
    expect(stored.metadata).toMatchObject({
      namespace: 'shop',
      pod: t.name,
      'pod-uid': t.pod.object().metadata.uid,
      container: 'api',
      log: 'previous',
      'limit-bytes': String(10 * 1024 * 1024),
      timestamps: 'true',
      sha256: sha256(previous),
      'incident-id': t.options.incidentId,
      actor: 'discord:123456789012345678',
      collector: 'sentinel',
      'collected-at': T0.toISOString(),
    });
    expect(await keys(t.options.incidentId)).toHaveLength(3);
  });

  it('keeps the bytes as the kubelet served them, and passes tailLines, sinceSeconds and limitBytes to the API', async () => {
    const t = newPod();
    const binary = Buffer.from([0x41, 0xff, 0xfe, 0x42]);
    t.pod.writeLog('app', 'old\n', { at: new Date(T0.getTime() - 3_600_000) });
    t.pod.writeLog('app', Buffer.concat([binary, Buffer.from('\nline two\nline three\n')]), { at: T0 });
    fake.clearRecords();

    const result = await invokeAction(
      collectPodLogsAction,
      { namespace: t.namespace, pod: t.name, previous: false, timestamps: false, sinceSeconds: 60, tailLines: 3, limitBytes: 12 },
      t.options,
      deps(),
    );

    // The old line is outside sinceSeconds; the API stops after limitBytes, mid-line.
    const expected = Buffer.concat([binary, Buffer.from('\nline tw')]);
    expect(result.details).toMatchObject({ logs: [{ container: 'app', log: 'current', status: 'stored', size: 12, sha256: sha256(expected), truncated: true }] });
    expect(result.summary).toContain('app current: 12 bytes (cut at limitBytes)');
    const [key] = await keys(t.options.incidentId);
    expect((await object(key!)).body).toEqual(expected);
    expect(fake.calls.filter((c) => c.path.endsWith('/log')).map((c) => c.query)).toEqual([
      expect.objectContaining({ container: 'app', previous: 'false', sinceSeconds: '60', tailLines: '3', limitBytes: '12', timestamps: 'false', follow: 'false' }),
    ]);
  });

  it('writes nothing new when run again on the same logs', async () => {
    const t = newPod();
    t.pod.writeLog('app', 'hello\n');
    const first = await invokeAction(collectPodLogsAction, { namespace: t.namespace, pod: t.name }, t.options, deps());
    expect(first.status).toBe('succeeded');
    const again = await invokeAction(collectPodLogsAction, { namespace: t.namespace, pod: t.name }, t.options, deps());
    expect(again.status).toBe('succeeded');
    expect(again.summary).toMatch(/^already had 1 log of pod/);
    expect(again.details).toMatchObject({ logs: [{ status: 'already-stored' }, { status: 'unavailable' }] });
    expect(await keys(t.options.incidentId)).toHaveLength(1);
  });

  it('is skipped when the pod has no log at all (containers not started)', async () => {
    n += 1;
    const name = `pending-${n}`;
    fake.addPod({ namespace: 'shop', name, phase: 'Pending' });
    const result = await invokeAction(collectPodLogsAction, { namespace: 'shop', pod: name }, { actor: 'cli', incidentId: `inc-pending-${n}` }, deps());
    expect(result).toMatchObject({ status: 'skipped', details: { logs: [{ status: 'unavailable', reason: 'no log yet (the container has not started)' }, { status: 'unavailable' }] } });
  });

  it('dry run names the logs and where they would go, and reads and writes nothing', async () => {
    const t = newPod(['api', 'proxy']);
    t.pod.writeLog('api', 'x\n');
    fake.clearRecords();
    const result = await invokeAction(collectPodLogsAction, { namespace: t.namespace, pod: t.name, containers: ['api'] }, { ...t.options, dryRun: true }, deps());
    expect(result.status).toBe('skipped');
    expect(result.summary).toBe(`dry run: would copy 2 logs of pod shop/${t.name} (api; current and previous) to s3://${bucket}/evidence/${t.options.incidentId}/, at most 10485760 bytes each`);
    expect(result.details).toMatchObject({ dryRun: true, streams: [{ container: 'api', log: 'current', keyPattern: `evidence/${t.options.incidentId}/<sha256>/${t.name}_api.log` }, { log: 'previous' }] });
    expect(fake.calls.filter((c) => c.path.endsWith('/log'))).toEqual([]);
    expect(await keys(t.options.incidentId)).toEqual([]);
  });

  describe('refusals', () => {
    it('refuses system and protected namespaces before any call', async () => {
      for (const [namespace, settings] of [['kube-system', {}], ['vault', { protectedNamespaces: ['vault'] }]] as const) {
        const t = newPod(['app'], namespace);
        fake.clearRecords();
        const result = await invokeAction(collectPodLogsAction, { namespace, pod: t.name }, t.options, deps(settings));
        expect(result).toMatchObject({ status: 'failed', details: { error: 'ProtectedNamespace', final: true } });
        expect(result.summary).toMatch(/^refusing to collect logs from a pod in the (system|protected) namespace/);
        expect(fake.calls).toEqual([]);
      }
    });

    it('fails clearly for a missing pod or container', async () => {
      const missing = await invokeAction(collectPodLogsAction, { namespace: 'shop', pod: 'nope' }, { actor: 'cli', incidentId: 'inc-x' }, deps());
      expect(missing).toMatchObject({ status: 'failed', summary: 'pod shop/nope not found', details: { error: 'PodNotFound', final: true } });
      const t = newPod(['api']);
      const container = await invokeAction(collectPodLogsAction, { namespace: 'shop', pod: t.name, containers: ['db'] }, t.options, deps());
      expect(container).toMatchObject({ status: 'failed', summary: `container db is not in pod shop/${t.name} (api)`, details: { error: 'ContainerNotFound' } });
    });

    it('refuses a limit above SENTINEL_EXTRACT_MAX_BYTES', async () => {
      const t = newPod();
      const result = await invokeAction(collectPodLogsAction, { namespace: 'shop', pod: t.name, limitBytes: 2048 }, t.options, deps({ extractMaxBytes: 1024 }));
      expect(result).toMatchObject({ status: 'failed', details: { error: 'LimitTooHigh', final: true } });
    });

    it.each([
      [{ tailLines: 0 }, /tailLines/],
      [{ sinceSeconds: 0 }, /sinceSeconds/],
      [{ sinceSeconds: 31 * 24 * 3600 }, /sinceSeconds/],
      [{ limitBytes: -1 }, /limitBytes/],
      [{ containers: ['Bad_Name'] }, /containers/],
      [{ containers: [] }, /containers/],
      [{ follow: true }, /follow/],
    ])('refuses bad input %j before any call', async (extra, reason) => {
      fake.clearRecords();
      const result = await invokeAction(collectPodLogsAction, { namespace: 'shop', pod: 'api-1', ...extra }, { actor: 'cli', incidentId: 'inc-x' }, deps());
      expect(result).toMatchObject({ status: 'failed', details: { error: 'InvalidInput', final: true } });
      expect(result.summary).toMatch(reason);
      expect(fake.calls).toEqual([]);
    });
  });

  it('declares the RBAC and IAM it uses', async () => {
    expect(collectPodLogsAction.permissions).toEqual({
      iam: ['s3:PutObject', 's3:GetObject'],
      rbac: [
        { apiGroups: [''], resources: ['pods'], verbs: ['get'] },
        { apiGroups: [''], resources: ['pods/log'], verbs: ['get'] },
      ],
    });
    // HeadObject (a rerun) is covered by s3:GetObject: checked here against moto's answer shape.
    const t = newPod();
    t.pod.writeLog('app', 'x\n');
    const r = await invokeAction(collectPodLogsAction, { namespace: 'shop', pod: t.name, previous: false }, t.options, deps());
    const location = (r.details as { logs: { location: string }[] }).logs[0]!.location;
    const head = await aws.s3.send(new HeadObjectCommand({ Bucket: bucket, Key: location.replace(`s3://${bucket}/`, '') }));
    expect(head.Metadata?.['sha256']).toMatch(/^[0-9a-f]{64}$/);
  });
});
