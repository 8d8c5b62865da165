/**
 * capture-network against the real clients: the fake Kubernetes API adds and starts the
 * ephemeral container and runs the exec into it; moto S3 stores the pcap. The fake cannot
 * sniff traffic, so the test answers the tcpdump exec with an onExec hook that returns a pcap
 * it builds (and checks the argv it was given) — the only stand-in here.
 */
import { createHash } from 'node:crypto';
import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { destroyAwsClients, type AwsClients } from '../../../../src/aws/clients.js';
import { loadConfig, type PipelineSettings } from '../../../../src/config.js';
import { createKubeClients } from '../../../../src/kube/clients.js';
import { createSilentLogger } from '../../../../src/logger.js';
import { captureNetworkAction, filterTokens } from '../../../../src/pipeline/actions/evidence/captureNetwork.js';
import type { ActionDeps } from '../../../../src/pipeline/actions/types.js';
import { invokeAction } from '../../../../src/pipeline/invokeAction.js';
import { createMotoClients, MOTO_REGION, uniqueName } from '../../../support/aws.js';
import { startFakeKube, type ExecContext, type FakeKube } from '../../../support/fakeKube/index.js';

const T0 = new Date('2026-03-01T12:00:00.000Z');
let fake: FakeKube;
let aws: AwsClients;
let bucket: string;

beforeAll(async () => {
  fake = await startFakeKube();
  aws = createMotoClients();
  bucket = uniqueName('capture');
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

/** A little-endian pcap (LINUX_SLL, as `-i any` writes) with `count` packets of `size` bytes. */
function pcap(count: number, size = 60, snaplen = 65535): Buffer {
  const header = Buffer.alloc(24);
  header.writeUInt32LE(0xa1b2c3d4, 0);
  header.writeUInt16LE(2, 4);
  header.writeUInt16LE(4, 6);
  header.writeUInt32LE(snaplen, 16);
  header.writeUInt32LE(113, 20);
  const packets = Array.from({ length: count }, (_, i) => {
    const h = Buffer.alloc(16);
    h.writeUInt32LE(1772366400 + i, 0);
    h.writeUInt32LE(size, 8);
    h.writeUInt32LE(size, 12);
    return Buffer.concat([h, Buffer.alloc(size, i % 256)]);
  });
  return Buffer.concat([header, ...packets]);
}

let captured: ExecContext[] = [];
/** Answer tcpdump execs with a pcap of `count` packets (exit 0), or with what `answer` says. */
function tcpdumpAnswers(count: number, answer?: { stdout?: Buffer | string; stderr?: string; exitCode: number }) {
  fake.onExec((ctx) => {
    if (!ctx.argv.includes('tcpdump')) return undefined;
    captured.push(ctx);
    return answer ?? { stdout: pcap(count), stderr: `tcpdump: listening on any, link-type LINUX_SLL (Linux cooked v1), snapshot length 65535 bytes\n${count} packets captured\n${count} packets received by filter\n0 packets dropped by kernel\n`, exitCode: 0 };
  });
}

beforeEach(() => {
  captured = [];
  fake.onExec(undefined);
  fake.clearRecords();
});

let n = 0;
function newPod(namespace = 'shop', extra: { phase?: 'Pending' | 'Running' } = {}) {
  n += 1;
  const name = `api-${n}`;
  const pod = fake.addPod({ namespace, name, containers: ['api', 'proxy'], ...extra });
  return { pod, namespace, name, options: { actor: 'discord:123456789012345678', incidentId: `inc-cap-${n}` } };
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const patches = () => fake.calls.filter((c) => c.method === 'PATCH' && c.path.endsWith('/ephemeralcontainers'));

describe('filterTokens', () => {
  it('builds the BPF filter from validated parts, one argv word each', () => {
    expect(filterTokens(undefined)).toEqual([]);
    expect(filterTokens({ hosts: ['203.0.113.9'] })).toEqual(['host', '203.0.113.9']);
    expect(filterTokens({ hosts: ['203.0.113.9', '2001:db8::1'], nets: ['10.0.0.0/8'], ports: [443, 4444], protocol: 'tcp' })).toEqual([
      '(', 'host', '203.0.113.9', 'or', 'host', '2001:db8::1', ')', 'and', 'net', '10.0.0.0/8', 'and', '(', 'port', '443', 'or', 'port', '4444', ')', 'and', 'tcp',
    ]);
  });
});

describe('capture-network', () => {
  it('runs a bounded tcpdump in an ephemeral container and stores the pcap write-once with its sha256', async () => {
    const t = newPod();
    tcpdumpAnswers(3);

    const result = await invokeAction(
      captureNetworkAction,
      { namespace: t.namespace, pod: t.name, packets: 50, seconds: 20, snaplen: 1500, filter: { hosts: ['203.0.113.9'], ports: [4444] } },
      t.options,
      deps(),
    );

    expect(result.status).toBe('succeeded');
    const details = result.details as Record<string, unknown> & { ephemeralContainer: string; location: string; command: string[] };
    const name = details.ephemeralContainer;
    expect(name).toMatch(/^sentinel-capture-[0-9a-f]{10}$/);
    const command = ['timeout', '-s', 'INT', '20', 'tcpdump', '-i', 'any', '-p', '-n', '-U', '-c', '50', '-s', '1500', '-w', '-', 'host', '203.0.113.9', 'and', 'port', '4444'];
    expect(details.command).toEqual(command);
    // The ephemeral container: the configured image, NET_RAW, its own processes (no targetContainerName), exits by itself.
    const spec = (t.pod.object().spec?.['ephemeralContainers'] as Record<string, unknown>[])[0];
    expect(spec).toMatchObject({
      name,
      image: 'nicolaka/netshoot:v0.13',
      command: ['sleep', '320'],
      securityContext: { capabilities: { add: ['NET_RAW'] }, allowPrivilegeEscalation: false, runAsUser: 0 },
    });
    expect(spec).not.toHaveProperty('targetContainerName');
    expect(patches()).toHaveLength(1);
    expect(patches()[0]!.contentType).toBe('application/strategic-merge-patch+json');
    expect(captured.map((c) => ({ container: c.container, argv: c.argv }))).toEqual([{ container: name, argv: command }]);

    const bytes = pcap(3);
    const key = `evidence/${t.options.incidentId}/${sha256(bytes)}/capture_${t.name}_${name.slice('sentinel-capture-'.length)}.pcap`;
    expect(details).toMatchObject({ location: `s3://${bucket}/${key}`, sha256: sha256(bytes), size: bytes.length, packetsCaptured: 3, alreadyStored: false, filter: 'host 203.0.113.9 and port 4444', bounds: { packets: 50, seconds: 20, snaplen: 1500, maxBytes: 24 + 50 * (16 + 1500) } });
    expect(result.summary).toBe(
      `captured 3 packets, ${bytes.length} bytes of pod shop/${t.name} to s3://${bucket}/${key} (sha256 ${sha256(bytes).slice(0, 12)}…); ephemeral container ${name} stays in the pod's spec: Kubernetes cannot remove an ephemeral container; it exits by itself 300 s after the capture`,
    );
    const got = await aws.s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    expect(Buffer.from(await got.Body!.transformToByteArray())).toEqual(bytes);
    expect(got.ContentType).toBe('application/vnd.tcpdump.pcap');
    expect(got.Metadata).toMatchObject({ namespace: 'shop', pod: t.name, 'ephemeral-container': name, image: 'nicolaka/netshoot:v0.13', filter: 'host 203.0.113.9 and port 4444', packets: '50', seconds: '20', snaplen: '1500', 'packets-captured': '3', sha256: sha256(bytes) });
    expect(details['evidence']).toMatchObject({ kind: 'network-capture', location: `s3://${bucket}/${key}`, sha256: sha256(bytes) });
  });

  it('takes the image from SENTINEL_CAPTURE_IMAGE', async () => {
    const t = newPod();
    tcpdumpAnswers(1);
    const image = 'registry.example.com/tools/tcpdump@sha256:' + 'a'.repeat(64);
    const result = await invokeAction(captureNetworkAction, { namespace: t.namespace, pod: t.name }, t.options, deps({ captureImage: image }));
    expect(result.status).toBe('succeeded');
    expect((t.pod.object().spec?.['ephemeralContainers'] as { image: string }[])[0]!.image).toBe(image);
  });

  it('adds nothing when run again after success: the stored capture is found', async () => {
    const t = newPod();
    tcpdumpAnswers(2);
    const input = { namespace: t.namespace, pod: t.name, seconds: 5 };
    const first = await invokeAction(captureNetworkAction, input, t.options, deps());
    expect(first.status).toBe('succeeded');
    fake.clearRecords();
    captured = [];

    const again = await invokeAction(captureNetworkAction, input, t.options, deps());

    expect(again.status).toBe('skipped');
    expect(again.summary).toBe(`the capture of pod shop/${t.name} was already stored at ${(first.details as { location: string }).location}`);
    expect(again.details).toMatchObject({ alreadyStored: true, sha256: (first.details as { sha256: string }).sha256 });
    expect(patches()).toEqual([]);
    expect(captured).toEqual([]);
    expect(t.pod.object().spec?.['ephemeralContainers']).toHaveLength(1);
  });

  it('after a failed capture, reuses the running container, and adds the next one once it has exited', async () => {
    const t = newPod();
    const input = { namespace: t.namespace, pod: t.name };
    tcpdumpAnswers(0, { stderr: "tcpdump: any: You don't have permission to capture on that device\n", exitCode: 1 });
    const failed = await invokeAction(captureNetworkAction, input, t.options, deps());
    expect(failed).toMatchObject({ status: 'failed', details: { error: 'CaptureFailed', final: false } });
    expect(failed.summary).toMatch(/tcpdump failed in shop\/api-\d+ \(ephemeral container sentinel-capture-[0-9a-f]{10}, exit 1\): tcpdump: any: You don't have permission/);
    const first = (t.pod.object().spec?.['ephemeralContainers'] as { name: string }[])[0]!.name;

    tcpdumpAnswers(1);
    fake.clearRecords();
    const reused = await invokeAction(captureNetworkAction, input, t.options, deps());
    expect(reused.status).toBe('succeeded');
    expect(patches()).toEqual([]);
    expect(reused.details).toMatchObject({ ephemeralContainer: first, notes: expect.arrayContaining([`reused ephemeral container ${first} of an earlier attempt`]) });

    // A different capture of the same incident whose container exited gets a second container.
    tcpdumpAnswers(0, { stderr: 'tcpdump: syntax error\n', exitCode: 1 });
    const other = { ...input, packets: 10 };
    expect((await invokeAction(captureNetworkAction, other, t.options, deps())).status).toBe('failed');
    const names = (t.pod.object().spec?.['ephemeralContainers'] as { name: string }[]).map((c) => c.name);
    t.pod.setEphemeralContainerState(names[1]!, { terminated: { exitCode: 0, reason: 'Completed' } });
    tcpdumpAnswers(1);
    const next = await invokeAction(captureNetworkAction, other, t.options, deps());
    expect(next.status).toBe('succeeded');
    expect((next.details as { ephemeralContainer: string }).ephemeralContainer).toBe(`${names[1]}-2`);
  });

  it('fails clearly when the image cannot be pulled, and stores nothing', async () => {
    const t = newPod();
    fake.failImagePull('registry.invalid/no-tcpdump:1', 'failed to pull and unpack image "registry.invalid/no-tcpdump:1": not found');
    const result = await invokeAction(captureNetworkAction, { namespace: t.namespace, pod: t.name }, t.options, deps({ captureImage: 'registry.invalid/no-tcpdump:1' }));
    expect(result).toMatchObject({ status: 'failed', details: { error: 'EphemeralNotStarted' } });
    expect(result.summary).toMatch(/cannot start: ErrImagePull: failed to pull and unpack image "registry.invalid\/no-tcpdump:1": not found$/);
    const listed = await aws.s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: `evidence/${t.options.incidentId}/` }));
    expect(listed.Contents ?? []).toEqual([]);
  });

  it('refuses output that is not a pcap, storing nothing', async () => {
    const t = newPod();
    tcpdumpAnswers(0, { stdout: 'not a capture at all, just text', exitCode: 0 });
    const result = await invokeAction(captureNetworkAction, { namespace: t.namespace, pod: t.name }, t.options, deps());
    expect(result).toMatchObject({ status: 'failed', details: { error: 'NotPcap' } });
    const listed = await aws.s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: `evidence/${t.options.incidentId}/` }));
    expect(listed.Contents ?? []).toEqual([]);
  });

  it('accepts a capture cut by the time limit (timeout exits 124)', async () => {
    const t = newPod();
    tcpdumpAnswers(0, { stdout: pcap(1), stderr: '1 packet captured\n', exitCode: 124 });
    const result = await invokeAction(captureNetworkAction, { namespace: t.namespace, pod: t.name }, t.options, deps());
    expect(result.status).toBe('succeeded');
    expect(result.details).toMatchObject({ packetsCaptured: 1 });
  });

  it('dry run names the container, command and destination, and changes nothing', async () => {
    const t = newPod();
    const result = await invokeAction(captureNetworkAction, { namespace: t.namespace, pod: t.name, filter: { protocol: 'udp' } }, { ...t.options, dryRun: true }, deps());
    expect(result.status).toBe('skipped');
    expect(result.summary).toMatch(
      new RegExp(`^dry run: would capture up to 1000 packets or 30 s of pod shop/${t.name} \\(filter: udp\\) in ephemeral container sentinel-capture-[0-9a-f]{10} \\(nicolaka/netshoot:v0\\.13\\) and store the pcap at s3://${bucket}/evidence/${t.options.incidentId}/<sha256>/capture_${t.name}_[0-9a-f]{10}\\.pcap$`),
    );
    expect(result.details).toMatchObject({ dryRun: true, ephemeralContainerSpec: { image: 'nicolaka/netshoot:v0.13' } });
    expect(fake.calls.filter((c) => c.method !== 'GET')).toEqual([]);
    expect(fake.execs).toEqual([]);
    expect(t.pod.object().spec?.['ephemeralContainers']).toBeUndefined();
  });

  describe('refusals', () => {
    it('refuses system and protected namespaces before any call', async () => {
      for (const [namespace, settings] of [['kube-system', {}], ['vault', { protectedNamespaces: ['vault'] }]] as const) {
        const t = newPod(namespace);
        fake.clearRecords();
        const result = await invokeAction(captureNetworkAction, { namespace, pod: t.name }, t.options, deps(settings));
        expect(result).toMatchObject({ status: 'failed', details: { error: 'ProtectedNamespace', final: true } });
        expect(result.summary).toMatch(/^refusing to capture the traffic of a pod in the (system|protected) namespace/);
        expect(fake.calls).toEqual([]);
      }
    });

    it('refuses a pod that is not running, and a missing pod', async () => {
      const t = newPod('shop', { phase: 'Pending' });
      const pending = await invokeAction(captureNetworkAction, { namespace: 'shop', pod: t.name }, t.options, deps());
      expect(pending).toMatchObject({ status: 'failed', summary: `pod shop/${t.name} is Pending: only a running pod's traffic can be captured`, details: { error: 'PodNotRunning' } });
      const missing = await invokeAction(captureNetworkAction, { namespace: 'shop', pod: 'gone' }, t.options, deps());
      expect(missing).toMatchObject({ status: 'failed', details: { error: 'PodNotFound' } });
      expect(fake.calls.filter((c) => c.method !== 'GET')).toEqual([]);
    });

    it('refuses bounds whose worst case exceeds SENTINEL_EXTRACT_MAX_BYTES', async () => {
      const result = await invokeAction(captureNetworkAction, { namespace: 'shop', pod: 'api-1', packets: 100_000, snaplen: 65535 }, { actor: 'cli', incidentId: 'inc-x' }, deps());
      expect(result).toMatchObject({ status: 'failed', details: { error: 'CaptureTooLarge', final: true } });
    });

    it.each([
      [{ packets: 0 }, /packets/],
      [{ packets: 100_001 }, /packets/],
      [{ seconds: 301 }, /seconds/],
      [{ snaplen: 10 }, /snaplen/],
      [{ interface: '-w/tmp/x' }, /interface/],
      [{ interface: 'eth0 or 1=1' }, /interface/],
      [{ filter: { hosts: ['203.0.113.9; rm -rf /'] } }, /filter\.hosts\.0/],
      [{ filter: { hosts: ['evil.example.com'] } }, /filter\.hosts\.0/],
      [{ filter: { nets: ['10.0.0.0/33'] } }, /filter\.nets\.0/],
      [{ filter: { ports: [70000] } }, /filter\.ports\.0/],
      [{ filter: { protocol: 'arp or host 1.2.3.4' } }, /filter\.protocol/],
      [{ filter: { expression: 'tcp' } }, /filter/],
      [{ container: 'api' }, /container/],
    ])('refuses bad input %j before any call', async (extra, reason) => {
      fake.clearRecords();
      const result = await invokeAction(captureNetworkAction, { namespace: 'shop', pod: 'api-1', ...extra }, { actor: 'cli', incidentId: 'inc-x' }, deps());
      expect(result).toMatchObject({ status: 'failed', details: { error: 'InvalidInput', final: true } });
      expect(result.summary).toMatch(reason);
      expect(fake.calls).toEqual([]);
    });
  });

  it('declares the RBAC and IAM it uses', () => {
    expect(captureNetworkAction.permissions).toEqual({
      iam: ['s3:PutObject', 's3:GetObject', 's3:ListBucket'],
      rbac: [
        { apiGroups: [''], resources: ['pods'], verbs: ['get'] },
        { apiGroups: [''], resources: ['pods/ephemeralcontainers'], verbs: ['patch'] },
        { apiGroups: [''], resources: ['pods/exec'], verbs: ['create', 'get'] },
      ],
    });
  });
});
