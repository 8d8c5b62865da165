import { GetObjectCommand } from '@aws-sdk/client-s3';
import { z } from 'zod';
import { AwsError, ValidationError } from '../../errors.js';
import { normalizeIp } from '../net/ipAddress.js';
import { SEVERITIES, type Severity } from '../triage/types.js';
import { BLOCK_RECORD_PREFIX, blockPrefix, isNoSuchKey, listRecordKeys, putBlockRecord, removeBlockRecord, type BlockRegistry } from './blockRegistry.js';

/**
 * Records of the egress denies sentinel made in the cluster (SENTINEL_EGRESS_BACKEND cilium or
 * calico), beside the network ACL blocks of blockRegistry.ts and with the same guarantees: one
 * JSON object per policy, written once, at `blocks/<ip>/<backend>/<policy name>.json` (the IP
 * canonical), holding the policy's uid so that unblock-egress and the expiry sweeper delete
 * exactly the policy sentinel made. A block's id is its key without `blocks/` and `.json`
 * (`203.0.113.7/cilium/sentinel-deny-egress-203-0-113-7-tcp-all`).
 */

export const CLUSTER_BACKENDS = ['cilium', 'calico'] as const;
export type ClusterBackend = (typeof CLUSTER_BACKENDS)[number];

export const CLUSTER_BLOCK_KINDS = { cilium: 'cilium-egress-deny', calico: 'calico-egress-deny' } as const satisfies Record<ClusterBackend, string>;

/** The cluster-scoped policy a cluster block is, as the API server named it. */
export interface ClusterPolicyRef {
  apiVersion: string;
  kind: string;
  name: string;
  /** The uid the API server gave it: the delete is conditioned on it. */
  uid: string;
}

/** What sentinel remembers about one egress deny policy it created in the cluster. */
export interface ClusterBlockRecord {
  version: 1;
  kind: (typeof CLUSTER_BLOCK_KINDS)[ClusterBackend];
  /** The blocked address, canonical. */
  ip: string;
  /** `<ip>/32` or `<ip>/128`, as the policy names it. */
  cidr: string;
  ipv6: boolean;
  /** The TCP port denied; null for all TCP ports. */
  port: number | null;
  protocol: '6';
  policy: ClusterPolicyRef;
  actor: string;
  reason: string | null;
  incidentId: string;
  createdAt: string;
  /** When the expiry sweeper lifts it. */
  expiresAt: string | null;
  severity: Severity | null;
}

/** A Kubernetes object name (RFC 1123 subdomain). */
const K8S_NAME = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const isoDate = z.iso.datetime({ offset: true });

export const clusterBlockRecordSchema = z.strictObject({
  version: z.literal(1),
  kind: z.enum([CLUSTER_BLOCK_KINDS.cilium, CLUSTER_BLOCK_KINDS.calico]),
  ip: z.string().min(2),
  cidr: z.string().min(4),
  ipv6: z.boolean(),
  port: z.number().int().min(1).max(65535).nullable(),
  protocol: z.literal('6'),
  policy: z.strictObject({ apiVersion: z.string().min(1), kind: z.string().min(1), name: z.string().regex(K8S_NAME, 'a Kubernetes object name'), uid: z.string().min(1) }),
  actor: z.string().min(1),
  reason: z.string().nullable(),
  incidentId: z.string().min(1),
  createdAt: isoDate,
  expiresAt: isoDate.nullable(),
  severity: z.enum(SEVERITIES).nullable().default(null),
}) satisfies z.ZodType<ClusterBlockRecord, unknown>;

export interface StoredClusterBlock {
  key: string;
  location: string;
  record: ClusterBlockRecord;
}

export function backendOfKind(kind: ClusterBlockRecord['kind']): ClusterBackend {
  return kind === CLUSTER_BLOCK_KINDS.cilium ? 'cilium' : 'calico';
}

export function clusterBlockKey(record: Pick<ClusterBlockRecord, 'ip' | 'kind'> & { policy: Pick<ClusterPolicyRef, 'name'> }): string {
  if (!K8S_NAME.test(record.policy.name)) throw new ValidationError(`${JSON.stringify(record.policy.name)} is not a Kubernetes object name`);
  return `${blockPrefix(record.ip)}${backendOfKind(record.kind)}/${record.policy.name}.json`;
}

/** A cluster block's key (`blocks/<ip>/cilium|calico/<name>.json`). */
export function isClusterBlockKey(key: string): boolean {
  const backend = key.slice(BLOCK_RECORD_PREFIX.length).split('/')[1];
  return backend === 'cilium' || backend === 'calico';
}

/**
 * The key of one cluster block from its id or key (`<ip>/cilium/<name>` or
 * `blocks/<ip>/calico/<name>.json`); undefined for anything that is not a cluster block's
 * (a network ACL block's id, say), ValidationError for one that names a backend but no valid policy.
 */
export function clusterBlockKeyFromRef(ref: string): string | undefined {
  const id = ref.trim().replace(/^blocks\//, '').replace(/\.json$/, '');
  const parts = id.split('/');
  const [ip, backend, name] = parts;
  if (backend !== 'cilium' && backend !== 'calico') return undefined;
  if (parts.length !== 3 || !ip || !name || !K8S_NAME.test(name)) {
    throw new ValidationError(`${JSON.stringify(ref)} is not a block id (<ip>/${backend}/<policy name>)`);
  }
  return clusterBlockKey({ ip: normalizeIp(ip), kind: CLUSTER_BLOCK_KINDS[backend], policy: { name } });
}

const location = (registry: BlockRegistry, key: string) => `s3://${registry.bucket}/${key}`;
const message = (err: unknown) => (err instanceof Error ? err.message : String(err));

/**
 * Stores a cluster block record once: a record already at the key is a ConflictError (code
 * `BlockRecordExists`) unless `replace` (only for a record proven stale: its policy is gone).
 */
export async function recordClusterBlock(registry: BlockRegistry, record: ClusterBlockRecord, options: { replace?: boolean } = {}): Promise<{ key: string; location: string; replaced: boolean }> {
  const checked = clusterBlockRecordSchema.safeParse(record);
  if (!checked.success) throw new ValidationError(`invalid block record: ${checked.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  if (normalizeIp(record.ip) !== record.ip) throw new ValidationError(`block record ip ${record.ip} is not in canonical form`);
  return putBlockRecord(registry, clusterBlockKey(record), checked.data, options);
}

/** One cluster block by key; undefined when there is no record there. */
export async function readClusterBlock(registry: BlockRegistry, key: string): Promise<StoredClusterBlock | undefined> {
  const where = location(registry, key);
  let text: string;
  try {
    const out = await registry.s3.send(new GetObjectCommand({ Bucket: registry.bucket, Key: key }));
    text = (await out.Body?.transformToString('utf-8')) ?? '';
  } catch (err) {
    if (isNoSuchKey(err)) return undefined;
    throw new AwsError(`cannot read block record ${where}: ${message(err)}`, { cause: err });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new ValidationError(`block record ${where} is not JSON`, { code: 'InvalidBlockRecord', details: { key } });
  }
  const parsed = clusterBlockRecordSchema.safeParse(json);
  if (!parsed.success) {
    const why = parsed.error.issues.map((i) => `${i.path.join('.') || 'record'}: ${i.message}`).join('; ');
    throw new ValidationError(`block record ${where} is not a valid cluster block record: ${why}`, { code: 'InvalidBlockRecord', details: { key } });
  }
  if (clusterBlockKey(parsed.data) !== key) {
    throw new ValidationError(`block record ${where} describes ${parsed.data.ip}'s ${parsed.data.policy.name}, not what its key says`, { code: 'InvalidBlockRecord', details: { key } });
  }
  return { key, location: where, record: parsed.data };
}

const byKey = (a: StoredClusterBlock, b: StoredClusterBlock) => a.key.localeCompare(b.key);

/** Every cluster block of this IP (with `port`, only those of exactly that port), by key. */
export async function listClusterBlocks(registry: BlockRegistry, ip: string, port?: number): Promise<StoredClusterBlock[]> {
  const blocks: StoredClusterBlock[] = [];
  for (const key of await listRecordKeys(registry, blockPrefix(ip), isClusterBlockKey)) {
    const block = await readClusterBlock(registry, key);
    if (block && (port === undefined || block.record.port === port)) blocks.push(block);
  }
  return blocks.sort(byKey);
}

/** Every cluster block, whatever the IP (the expiry sweeper); an invalid record is skipped and reported. */
export async function listAllClusterBlocks(registry: BlockRegistry, onInvalid?: (key: string, reason: string) => void): Promise<StoredClusterBlock[]> {
  const blocks: StoredClusterBlock[] = [];
  for (const key of await listRecordKeys(registry, BLOCK_RECORD_PREFIX, isClusterBlockKey)) {
    try {
      const block = await readClusterBlock(registry, key);
      if (block) blocks.push(block);
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err;
      onInvalid?.(key, err.message);
    }
  }
  return blocks.sort(byKey);
}

/** Deletes one cluster block record (idempotent). */
export function removeClusterBlockRecord(registry: BlockRegistry, key: string): Promise<void> {
  if (!isClusterBlockKey(key)) return Promise.reject(new ValidationError(`${key} is not a cluster block record key`));
  return removeBlockRecord(registry, key);
}
