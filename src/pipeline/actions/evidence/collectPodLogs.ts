import { join } from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import type { V1Pod } from '@kubernetes/client-node';
import { z } from 'zod';
import { AwsNotConfiguredError, ConfigError, NotFoundError, ValidationError } from '../../../errors.js';
import type { KubeClients } from '../../../kube/clients.js';
import { readOptional } from '../../../kube/kubeErrors.js';
import { checkNamespaceAllowed } from '../../../kube/protectedNamespace.js';
import { LogUnavailableError, readContainerLog } from '../../../kube/readContainerLog.js';
import { requireKube } from '../../../kube/requireKube.js';
import { HashingFileSink, storeEvidenceFile, withScratchDir } from '../../../kube/streamToEvidence.js';
import { evidenceKey } from '../../evidence/evidenceKey.js';
import type { EvidenceItem } from '../../evidence/types.js';
import { namespaceNameSchema, podNameSchema } from '../../planning/planPodIsolation.js';
import { parseActionInput } from '../parseActionInput.js';
import { defineAction, planned, skipped, succeeded, type ActionDeps, type ActionRequest, type ActionResult } from '../types.js';

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
/** What one log may be at most when the step does not say (and never more than SENTINEL_EXTRACT_MAX_BYTES). */
export const DEFAULT_LOG_LIMIT_BYTES = 10 * 1024 * 1024;
/** The API server may send a little more than limitBytes (it cuts at a write, not a byte). */
const LIMIT_SLACK = 64 * 1024;
const ZERO_SHA = '0'.repeat(64);

const inputSchema = z.strictObject({
  namespace: namespaceNameSchema,
  pod: podNameSchema,
  /** Which containers (regular, init or ephemeral); every regular container when absent. */
  containers: z.array(z.string().max(63).regex(DNS_LABEL, 'a container name (RFC 1123 label)')).min(1).max(16).optional(),
  /** Also the previous (terminated) instance's log of each container; a container that never restarted has none, which is not a failure. */
  previous: z.boolean().optional(),
  /** Only the last N lines of each log. */
  tailLines: z.number().int().min(1).max(1_000_000).optional(),
  /** Only lines written in the last N seconds (at most 30 days). */
  sinceSeconds: z.number().int().min(1).max(30 * 24 * 3600).optional(),
  /** Most bytes of each log; 10 MiB when absent, never more than SENTINEL_EXTRACT_MAX_BYTES. */
  limitBytes: z.number().int().min(1).max(1024 * 1024 * 1024).optional(),
  /** Prefix each line with the time the kubelet received it (RFC 3339); true when absent. */
  timestamps: z.boolean().optional(),
});

export type CollectPodLogsInput = z.output<typeof inputSchema>;

export type LogKind = 'current' | 'previous';

/** One log, and what became of it. */
export interface LogOutcome {
  container: string;
  log: LogKind;
  /** `unavailable`: the API has no such log (not started, never restarted); not a failure. */
  status: 'stored' | 'already-stored' | 'unavailable';
  location?: string;
  sha256?: string;
  size?: number;
  /** The log reached limitBytes: it may have been cut there. */
  truncated?: boolean;
  reason?: string;
}

export interface CollectPodLogsDetails {
  namespace: string;
  pod: string;
  logs: LogOutcome[];
  /** The stored logs (the incident's evidence manifest reads them). */
  evidence: EvidenceItem[];
  options: { tailLines: number | null; sinceSeconds: number | null; limitBytes: number; timestamps: boolean };
}

function requireS3(deps: ActionDeps): S3Client {
  if (!deps.aws.s3) throw new AwsNotConfiguredError('S3', 'cannot store evidence');
  return deps.aws.s3;
}

function requireBucket(deps: ActionDeps): string {
  const bucket = deps.settings.evidenceBucket;
  if (!bucket) throw new ConfigError('no evidence bucket is configured (set SENTINEL_EVIDENCE_BUCKET): cannot store pod logs', { code: 'NoEvidenceBucket' });
  return bucket;
}

/** Every container name of the pod, and the ones collected by default (the regular containers). */
function containersOf(pod: V1Pod): { all: string[]; regular: string[] } {
  const regular = (pod.spec?.containers ?? []).map((c) => c.name);
  const init = (pod.spec?.initContainers ?? []).map((c) => c.name);
  const ephemeral = (pod.spec?.ephemeralContainers ?? []).map((c) => c.name);
  return { all: [...regular, ...init, ...ephemeral], regular };
}

const logFileName = (pod: string, container: string, log: LogKind) => `${pod}_${container}${log === 'previous' ? '_previous' : ''}.log`;

interface Scope {
  kube: KubeClients;
  s3: S3Client;
  bucket: string;
  request: ActionRequest<CollectPodLogsInput>;
  deps: ActionDeps;
  podUid: string;
  options: CollectPodLogsDetails['options'];
}

async function collectOne(sc: Scope, container: string, log: LogKind): Promise<{ outcome: LogOutcome; evidence?: EvidenceItem }> {
  const { kube, s3, bucket, request, deps, options } = sc;
  const { namespace, pod } = request.input;
  return withScratchDir('sentinel-logs-', async (dir) => {
    const what = `the ${log} log of ${namespace}/${pod} container ${container}`;
    const sink = new HashingFileSink(join(dir, 'log'), options.limitBytes + LIMIT_SLACK, what);
    const collectedAt = deps.now().toISOString();
    try {
      await readContainerLog(
        kube,
        { namespace, pod, container, previous: log === 'previous', tailLines: options.tailLines ?? undefined, sinceSeconds: options.sinceSeconds ?? undefined, limitBytes: options.limitBytes, timestamps: options.timestamps },
        sink,
        120_000 + Math.ceil(options.limitBytes / (1024 * 1024)) * 1000,
      );
    } catch (err) {
      sink.destroy();
      if (err instanceof LogUnavailableError) {
        const reason = log === 'previous' ? 'no previous instance (the container never restarted)' : 'no log yet (the container has not started)';
        return { outcome: { container, log, status: 'unavailable', reason } };
      }
      throw err;
    }
    const { sha256, size } = sink.result();
    const truncated = size >= options.limitBytes;
    const key = evidenceKey(request.incidentId, sha256, logFileName(pod, container, log));
    const metadata: Record<string, string> = {
      namespace,
      pod,
      'pod-uid': sc.podUid,
      container,
      log,
      ...(options.tailLines !== null ? { 'tail-lines': String(options.tailLines) } : {}),
      ...(options.sinceSeconds !== null ? { 'since-seconds': String(options.sinceSeconds) } : {}),
      'limit-bytes': String(options.limitBytes),
      timestamps: String(options.timestamps),
      ...(truncated ? { 'possibly-truncated': 'true' } : {}),
      size: String(size),
      'collected-at': collectedAt,
      collector: deps.settings.collector,
      'incident-id': request.incidentId,
      actor: request.actor,
    };
    const put = await storeEvidenceFile(s3, { bucket, key, file: sink.file, size, sha256, metadata, contentType: 'text/plain' });
    const evidence: EvidenceItem = {
      kind: log === 'previous' ? 'pod-log:previous' : 'pod-log',
      location: put.location,
      sha256,
      size,
      collector: deps.settings.collector,
      collectedAt,
      source: { namespace, pod, container, log },
    };
    return {
      outcome: { container, log, status: put.created ? 'stored' : 'already-stored', location: put.location, sha256, size, ...(truncated ? { truncated } : {}) },
      evidence,
    };
  });
}

function describe(o: LogOutcome): string {
  if (o.status === 'unavailable') return `${o.container} ${o.log}: ${o.reason}`;
  return `${o.container} ${o.log}: ${o.size} bytes${o.truncated ? ' (cut at limitBytes)' : ''}${o.status === 'already-stored' ? ', already stored' : ''}`;
}

/**
 * Copies a pod's container logs (the running instance's and, by default, the previous one's)
 * into the evidence bucket, each write-once under `evidence/<incident>/<sha256>/<pod>_<container>[_previous].log`
 * with its source as metadata. The bytes are the kubelet's, unchanged (with RFC 3339 timestamps
 * by default), bounded by limitBytes and optionally by tailLines or sinceSeconds. A log the
 * API does not have (no previous instance, not started) is noted, not a failure. A rerun that
 * finds the same content stored writes nothing.
 */
export async function collectPodLogs(request: ActionRequest<CollectPodLogsInput>, deps: ActionDeps): Promise<ActionResult<CollectPodLogsDetails>> {
  const input = parseActionInput(inputSchema, request.input, 'collect-pod-logs');
  const { namespace, pod } = input;
  checkNamespaceAllowed(namespace, deps.settings.protectedNamespaces, 'collect logs from a pod');
  const limitBytes = input.limitBytes ?? Math.min(DEFAULT_LOG_LIMIT_BYTES, deps.settings.extractMaxBytes);
  if (limitBytes > deps.settings.extractMaxBytes) {
    throw new ValidationError(`limitBytes ${limitBytes} is over SENTINEL_EXTRACT_MAX_BYTES (${deps.settings.extractMaxBytes})`, { code: 'LimitTooHigh' });
  }
  const bucket = requireBucket(deps);
  const kube = requireKube(deps, 'collect logs from a pod');
  const s3 = requireS3(deps);

  const podObject = await readOptional(() => kube.core.readNamespacedPod({ name: pod, namespace }), `reading pod ${namespace}/${pod}`);
  if (!podObject) throw new NotFoundError(`pod ${namespace}/${pod} not found`, { code: 'PodNotFound', details: { namespace, pod } });
  const { all, regular } = containersOf(podObject);
  const unknown = (input.containers ?? []).filter((c) => !all.includes(c));
  if (unknown.length > 0) throw new NotFoundError(`container ${unknown.join(', ')} is not in pod ${namespace}/${pod} (${all.join(', ')})`, { code: 'ContainerNotFound' });
  const containers = [...new Set(input.containers ?? regular)];
  const kinds: LogKind[] = input.previous === false ? ['current'] : ['current', 'previous'];
  const options = { tailLines: input.tailLines ?? null, sinceSeconds: input.sinceSeconds ?? null, limitBytes, timestamps: input.timestamps ?? true };

  if (request.dryRun) {
    const prefix = evidenceKey(request.incidentId, ZERO_SHA, 'x').split(`/${ZERO_SHA}/`)[0]!;
    const streams = containers.flatMap((c) => kinds.map((k) => ({ container: c, log: k, keyPattern: `${prefix}/<sha256>/${logFileName(pod, c, k)}` })));
    return planned(`would copy ${streams.length} logs of pod ${namespace}/${pod} (${containers.join(', ')}; ${kinds.join(' and ')}) to s3://${bucket}/${prefix}/, at most ${limitBytes} bytes each`, {
      namespace,
      pod,
      logs: [],
      evidence: [],
      options,
      streams,
    }) as ActionResult<CollectPodLogsDetails>;
  }

  const scope: Scope = { kube, s3, bucket, request: { ...request, input }, deps, podUid: podObject.metadata?.uid ?? '', options };
  const logs: LogOutcome[] = [];
  const evidence: EvidenceItem[] = [];
  for (const container of containers) {
    for (const kind of kinds) {
      const { outcome, evidence: item } = await collectOne(scope, container, kind);
      logs.push(outcome);
      if (item) evidence.push(item);
    }
  }
  const details: CollectPodLogsDetails = { namespace, pod, logs, evidence, options };
  const list = logs.map(describe).join('; ');
  deps.logger.info('pod logs collected', { namespace, pod, stored: logs.filter((l) => l.status === 'stored').length, unavailable: logs.filter((l) => l.status === 'unavailable').length });
  if (evidence.length === 0) return skipped(`pod ${namespace}/${pod} has no logs to collect (${list})`, details);
  const fresh = logs.some((l) => l.status === 'stored');
  return succeeded(`${fresh ? 'collected' : 'already had'} ${evidence.length} log${evidence.length === 1 ? '' : 's'} of pod ${namespace}/${pod} in s3://${bucket}/ (${list})`, details);
}

export const collectPodLogsAction = defineAction({
  id: 'collect-pod-logs',
  description:
    "Copy a pod's container logs (current and previous instance, bounded by limitBytes, tailLines or sinceSeconds) into the evidence bucket, write-once, keyed by incident and sha256, with their source as metadata; a missing previous log is not a failure.",
  permissions: {
    // PutObject writes (with If-None-Match); GetObject covers the HeadObject that checks an existing object on a rerun.
    iam: ['s3:PutObject', 's3:GetObject'],
    rbac: [
      { apiGroups: [''], resources: ['pods'], verbs: ['get'] },
      { apiGroups: [''], resources: ['pods/log'], verbs: ['get'] },
    ],
  },
  input: inputSchema,
  run: collectPodLogs,
});
