import { createHash } from 'node:crypto';
import { join } from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import type { V1EphemeralContainer } from '@kubernetes/client-node';
import { z } from 'zod';
import { listS3Objects } from '../../../aws/listS3Objects.js';
import { AwsError, AwsNotConfiguredError, ConfigError, KubernetesError, NotFoundError, ValidationError } from '../../../errors.js';
import { addEphemeralContainer, ephemeralState, waitForEphemeralRunning } from '../../../kube/ephemeralContainer.js';
import { execInPod } from '../../../kube/execInPod.js';
import { readOptional } from '../../../kube/kubeErrors.js';
import { checkNamespaceAllowed } from '../../../kube/protectedNamespace.js';
import { requireKube } from '../../../kube/requireKube.js';
import { HashingFileSink, storeEvidenceFile, withScratchDir } from '../../../kube/streamToEvidence.js';
import { evidenceKey } from '../../evidence/evidenceKey.js';
import type { EvidenceItem } from '../../evidence/types.js';
import { cidrSchema, ipAddressSchema } from '../../net/ipAddress.js';
import { namespaceNameSchema, podNameSchema } from '../../planning/planPodIsolation.js';
import { parseActionInput } from '../parseActionInput.js';
import { defineAction, planned, skipped, succeeded, type ActionDeps, type ActionRequest, type ActionResult } from '../types.js';

export const MAX_CAPTURE_PACKETS = 100_000;
export const MAX_CAPTURE_SECONDS = 300;
export const MAX_SNAPLEN = 65_535;
/** The ephemeral container outlives the capture by this much, then exits by itself. */
const LINGER_SECONDS = 300;
/** Attempts (new ephemeral containers) one capture may use before giving up. */
const MAX_ATTEMPTS = 5;
const START_TIMEOUT_MS = 120_000;
const PCAP_MAGIC = new Set(['a1b2c3d4', 'd4c3b2a1', 'a1b23c4d', '4d3cb2a1']);
const PCAP_HEADER = 24;
const PACKET_HEADER = 16;
const ZERO_SHA = '0'.repeat(64);

const filterSchema = z.strictObject({
  /** Packets to or from any of these addresses. */
  hosts: z.array(ipAddressSchema).min(1).max(8).optional(),
  /** Packets to or from any of these networks. */
  nets: z.array(cidrSchema).min(1).max(8).optional(),
  /** Packets to or from any of these ports. */
  ports: z.array(z.number().int().min(1).max(65_535)).min(1).max(8).optional(),
  protocol: z.enum(['tcp', 'udp', 'icmp', 'icmp6', 'sctp']).optional(),
});

const inputSchema = z.strictObject({
  namespace: namespaceNameSchema,
  pod: podNameSchema,
  /** Stop after this many packets (default 1000). */
  packets: z.number().int().min(1).max(MAX_CAPTURE_PACKETS).optional(),
  /** Stop after this many seconds (default 30). */
  seconds: z.number().int().min(1).max(MAX_CAPTURE_SECONDS).optional(),
  /** Bytes kept of each packet (default 65535). */
  snaplen: z.number().int().min(64).max(MAX_SNAPLEN).optional(),
  /** Interface in the pod's network namespace (default `any`). */
  interface: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,14}$/, 'an interface name (at most 15 letters, digits, . _ -)').optional(),
  /** What to keep; the parts are ANDed, the values of one part ORed. Everything when absent. */
  filter: filterSchema.optional(),
});

export type CaptureNetworkInput = z.output<typeof inputSchema>;
type CaptureFilter = z.output<typeof filterSchema>;

export interface CaptureNetworkDetails {
  namespace: string;
  pod: string;
  /** The ephemeral container that ran tcpdump; it stays in the pod's spec (Kubernetes cannot remove it). */
  ephemeralContainer: string;
  image: string;
  /** tcpdump's argv, filter included (each part a separate argument). */
  command: string[];
  filter: string;
  bounds: { packets: number; seconds: number; snaplen: number; maxBytes: number };
  location?: string;
  sha256?: string;
  size?: number;
  /** What tcpdump reported (`N packets captured`), when it did. */
  packetsCaptured?: number | null;
  alreadyStored?: boolean;
  evidence?: EvidenceItem;
  notes: string[];
}

/** The BPF filter as separate argv words: `( host a or host b ) and ( port 443 ) and tcp`. */
export function filterTokens(filter: CaptureFilter | undefined): string[] {
  if (!filter) return [];
  const parts: string[][] = [];
  const any = (keyword: string, values: readonly (string | number)[]) => {
    const words = values.flatMap((v, i) => (i === 0 ? [keyword, String(v)] : ['or', keyword, String(v)]));
    parts.push(values.length > 1 ? ['(', ...words, ')'] : words);
  };
  if (filter.hosts) any('host', [...new Set(filter.hosts)]);
  if (filter.nets) any('net', [...new Set(filter.nets)]);
  if (filter.ports) any('port', [...new Set(filter.ports)]);
  if (filter.protocol) parts.push([filter.protocol]);
  return parts.flatMap((p, i) => (i === 0 ? p : ['and', ...p]));
}

function requireS3(deps: ActionDeps): S3Client {
  if (!deps.aws.s3) throw new AwsNotConfiguredError('S3', 'cannot store evidence');
  return deps.aws.s3;
}

function requireBucket(deps: ActionDeps): string {
  const bucket = deps.settings.evidenceBucket;
  if (!bucket) throw new ConfigError('no evidence bucket is configured (set SENTINEL_EVIDENCE_BUCKET): cannot store a capture', { code: 'NoEvidenceBucket' });
  return bucket;
}

/** An object already stored for this incident under `<prefix>/<sha256>/<fileName>`, if any. */
async function findStored(s3: S3Client, bucket: string, prefix: string, fileName: string): Promise<{ key: string; size: number } | undefined> {
  try {
    for await (const o of listS3Objects(s3, { bucket, prefix: `${prefix}/`, maxPages: 100 })) {
      if (o.Key?.endsWith(`/${fileName}`) && /\/[0-9a-f]{64}\//.test(o.Key)) return { key: o.Key, size: o.Size ?? 0 };
    }
  } catch (err) {
    throw new AwsError(`cannot list evidence under s3://${bucket}/${prefix}/: ${(err as Error).message}`, { cause: err });
  }
  return undefined;
}

/**
 * Captures a bounded amount of a pod's traffic with tcpdump in an ephemeral debug container
 * (image SENTINEL_CAPTURE_IMAGE, NET_RAW added): it shares the pod's network namespace, which is
 * all a capture needs, and deliberately not the processes of the pod's containers
 * (no targetContainerName), so the workload under suspicion cannot see, signal or trace the
 * capture unless the pod shares one process namespace (then noted). Packets,
 * seconds and snaplen are bounded, the filter is built from validated parts and passed as argv
 * (never a shell). The pcap streams through sha256 and a size limit into the evidence bucket,
 * write-once. The ephemeral container cannot be removed afterwards (a Kubernetes limitation):
 * it exits by itself a few minutes after the capture and stays in the pod's spec. A rerun
 * finds the stored capture and adds nothing; a rerun after a failure reuses the container
 * while it runs, else adds a new one (at most five).
 */
export async function captureNetwork(request: ActionRequest<CaptureNetworkInput>, deps: ActionDeps): Promise<ActionResult<CaptureNetworkDetails>> {
  const input = parseActionInput(inputSchema, request.input, 'capture-network');
  const { namespace, pod } = input;
  checkNamespaceAllowed(namespace, deps.settings.protectedNamespaces, 'capture the traffic of a pod');
  const packets = input.packets ?? 1000;
  const seconds = input.seconds ?? 30;
  const snaplen = input.snaplen ?? MAX_SNAPLEN;
  const iface = input.interface ?? 'any';
  const maxBytes = PCAP_HEADER + packets * (PACKET_HEADER + snaplen);
  if (maxBytes > deps.settings.extractMaxBytes) {
    throw new ValidationError(
      `a capture of ${packets} packets of up to ${snaplen} bytes may reach ${maxBytes} bytes, over SENTINEL_EXTRACT_MAX_BYTES (${deps.settings.extractMaxBytes}): lower packets or snaplen`,
      { code: 'CaptureTooLarge' },
    );
  }
  const bucket = requireBucket(deps);
  const kube = requireKube(deps, 'capture the traffic of a pod');
  const s3 = requireS3(deps);

  const podObject = await readOptional(() => kube.core.readNamespacedPod({ name: pod, namespace }), `reading pod ${namespace}/${pod}`);
  if (!podObject) throw new NotFoundError(`pod ${namespace}/${pod} not found`, { code: 'PodNotFound', details: { namespace, pod } });
  const phase = podObject.status?.phase;
  if (phase !== 'Running') throw new ValidationError(`pod ${namespace}/${pod} is ${phase ?? 'not running'}: only a running pod's traffic can be captured`, { code: 'PodNotRunning' });

  const tokens = filterTokens(input.filter);
  const tcpdump = ['tcpdump', '-i', iface, '-p', '-n', '-U', '-c', String(packets), '-s', String(snaplen), '-w', '-', ...tokens];
  const command = ['timeout', '-s', 'INT', String(seconds), ...tcpdump];
  const id = createHash('sha256')
    .update(JSON.stringify({ incident: request.incidentId, namespace, pod, command }))
    .digest('hex')
    .slice(0, 10);
  const fileName = `capture_${pod}_${id}.pcap`;
  const prefix = evidenceKey(request.incidentId, ZERO_SHA, fileName).split(`/${ZERO_SHA}/`)[0]!;
  const image = deps.settings.captureImage;
  const filter = tokens.join(' ') || '(everything)';
  const bounds = { packets, seconds, snaplen, maxBytes };
  const base = (name: string, notes: string[]): CaptureNetworkDetails => ({ namespace, pod, ephemeralContainer: name, image, command, filter, bounds, notes });
  const where = `pod ${namespace}/${pod}`;
  const stays = (name: string) =>
    `ephemeral container ${name} stays in the pod's spec: Kubernetes cannot remove an ephemeral container; it exits by itself ${LINGER_SECONDS} s after the capture`;

  // A rerun of a capture that was stored: nothing more to do (and no new container).
  const stored = await findStored(s3, bucket, prefix, fileName);
  const existing = (podObject.spec?.ephemeralContainers ?? []).map((c) => c.name).filter((n) => n === `sentinel-capture-${id}` || n.startsWith(`sentinel-capture-${id}-`));
  if (stored) {
    const sha256 = stored.key.split('/').at(-2)!;
    return skipped(`the capture of ${where} was already stored at s3://${bucket}/${stored.key}`, {
      ...base(existing.at(-1) ?? `sentinel-capture-${id}`, []),
      location: `s3://${bucket}/${stored.key}`,
      sha256,
      size: stored.size,
      alreadyStored: true,
    });
  }
  // Reuse a container of an earlier attempt while it runs; otherwise the next name.
  const running = existing.find((n) => ephemeralState(podObject, n)?.running);
  if (!running && existing.length >= MAX_ATTEMPTS) {
    throw new KubernetesError(`capture of ${where} failed ${existing.length} times already (ephemeral containers ${existing.join(', ')}): not adding another`, { code: 'TooManyAttempts' });
  }
  const name = running ?? (existing.length === 0 ? `sentinel-capture-${id}` : `sentinel-capture-${id}-${existing.length + 1}`);
  const debug: V1EphemeralContainer = {
    name,
    image,
    imagePullPolicy: 'IfNotPresent',
    command: ['sleep', String(seconds + LINGER_SECONDS)],
    stdin: false,
    tty: false,
    securityContext: { capabilities: { add: ['NET_RAW'] }, allowPrivilegeEscalation: false, runAsUser: 0, runAsNonRoot: false },
  };

  if (request.dryRun) {
    return planned(
      `would capture up to ${packets} packets or ${seconds} s of ${where} (filter: ${filter}) in ephemeral container ${name} (${image}) and store the pcap at s3://${bucket}/${prefix}/<sha256>/${fileName}`,
      { ...base(name, [stays(name)]), ...(running ? {} : { ephemeralContainerSpec: debug }) },
    );
  }

  const notes: string[] = [];
  if (podObject.spec?.hostNetwork) notes.push("the pod uses the host network: the capture saw the node's traffic");
  if (podObject.spec?.shareProcessNamespace) notes.push("the pod shares one process namespace: its containers could see the capture's processes");
  if (running) notes.push(`reused ephemeral container ${name} of an earlier attempt`);
  else await addEphemeralContainer(kube, namespace, pod, debug);
  await waitForEphemeralRunning(kube, namespace, pod, name, START_TIMEOUT_MS);
  notes.push(stays(name));

  return withScratchDir('sentinel-capture-', async (dir) => {
    const sink = new HashingFileSink(join(dir, 'capture.pcap'), maxBytes, `the capture of ${where}`);
    const collectedAt = deps.now().toISOString();
    deps.logger.info('capturing pod traffic', { namespace, pod, ephemeralContainer: name, packets, seconds, snaplen, filter });
    const run = await execInPod(kube, { namespace, pod, container: name }, command, { sink, timeoutMs: (seconds + 60) * 1000 });
    // 0: the packet count was reached; 124: the time ran out (timeout); tcpdump flushes on SIGINT either way.
    if (run.exitCode !== 0 && run.exitCode !== 124) {
      const why = run.stderr.trim().split('\n').filter((l) => !/^(tcpdump: )?listening on|^\d+ packets/.test(l))[0] || 'no error output';
      throw new KubernetesError(`tcpdump failed in ${namespace}/${pod} (ephemeral container ${name}, exit ${run.exitCode}): ${why}`, { code: 'CaptureFailed', details: { exitCode: run.exitCode } });
    }
    const { sha256, size } = sink.result();
    if (size < PCAP_HEADER || !PCAP_MAGIC.has(sink.head.subarray(0, 4).toString('hex'))) {
      throw new KubernetesError(`the capture of ${where} is not a pcap file (${size} bytes): nothing stored`, { code: 'NotPcap' });
    }
    const counted = /(\d+) packets? captured/.exec(run.stderr);
    const packetsCaptured = counted ? Number(counted[1]) : null;
    const key = evidenceKey(request.incidentId, sha256, fileName);
    const metadata: Record<string, string> = {
      namespace,
      pod,
      'pod-uid': podObject.metadata?.uid ?? '',
      'ephemeral-container': name,
      image,
      interface: iface,
      filter,
      packets: String(packets),
      seconds: String(seconds),
      snaplen: String(snaplen),
      ...(packetsCaptured !== null ? { 'packets-captured': String(packetsCaptured) } : {}),
      size: String(size),
      'collected-at': collectedAt,
      collector: deps.settings.collector,
      'incident-id': request.incidentId,
      actor: request.actor,
    };
    const put = await storeEvidenceFile(s3, { bucket, key, file: sink.file, size, sha256, metadata, contentType: 'application/vnd.tcpdump.pcap' });
    const evidence: EvidenceItem = {
      kind: 'network-capture',
      location: put.location,
      sha256,
      size,
      collector: deps.settings.collector,
      collectedAt,
      source: { namespace, pod, ephemeralContainer: name, filter },
    };
    const count = packetsCaptured !== null ? `${packetsCaptured} packets, ` : '';
    return succeeded(`captured ${count}${size} bytes of ${where} to ${put.location} (sha256 ${sha256.slice(0, 12)}…); ${stays(name)}`, {
      ...base(name, notes),
      location: put.location,
      sha256,
      size,
      packetsCaptured,
      alreadyStored: !put.created,
      evidence,
    });
  });
}

export const captureNetworkAction = defineAction({
  id: 'capture-network',
  description:
    "Capture a pod's traffic with a bounded tcpdump (packets, seconds, snaplen; filter from validated parts, argv only) in an ephemeral debug container (SENTINEL_CAPTURE_IMAGE), the pcap streamed write-once to the evidence bucket with its sha256. Kubernetes cannot remove the ephemeral container afterwards: it exits and stays in the pod's spec.",
  permissions: {
    // ListBucket finds a capture a rerun already stored; GetObject covers the HeadObject of a rerun's write.
    iam: ['s3:PutObject', 's3:GetObject', 's3:ListBucket'],
    rbac: [
      { apiGroups: [''], resources: ['pods'], verbs: ['get'] },
      { apiGroups: [''], resources: ['pods/ephemeralcontainers'], verbs: ['patch'] },
      { apiGroups: [''], resources: ['pods/exec'], verbs: ['create', 'get'] },
    ],
  },
  input: inputSchema,
  run: captureNetwork,
});
