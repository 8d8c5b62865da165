import {
  DeleteObjectCommand,
  GetObjectCommand,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { z } from 'zod';
import { listS3Objects } from '../../aws/listS3Objects.js';
import { AwsError, ConflictError, ValidationError } from '../../errors.js';
import { normalizeIp } from '../net/ipAddress.js';
import { SEVERITIES, type Severity } from '../triage/types.js';

/**
 * The block registry: one JSON object per egress deny rule sentinel created, so that an
 * unblock removes exactly sentinel's rules and nothing else. Objects live in the evidence
 * bucket at `blocks/<ip>/<naclId>/<ruleNumber>.json` (the IP in canonical form) and are
 * written once (`If-None-Match: *`). A block's id is its key without `blocks/` and `.json`
 * (`203.0.113.7/acl-0abc/3`): `/unblock block:` and the expiry sweeper name one block by it.
 */

/** What sentinel remembers about one network ACL egress deny it created. */
export interface BlockRecord {
  version: 1;
  kind: 'nacl-egress-deny';
  /** The blocked address, canonical (lower case, compressed IPv6). */
  ip: string;
  /** `<ip>/32` or `<ip>/128`, exactly as sent to CreateNetworkAclEntry. */
  cidr: string;
  ipv6: boolean;
  /** The TCP port denied; null for all TCP ports. */
  port: number | null;
  /** IANA protocol number of the entry: always TCP. */
  protocol: '6';
  portRange: { from: number; to: number };
  naclId: string;
  ruleNumber: number;
  vpcId: string;
  /** Who asked (`discord:<id>`, `stepfunctions:<execution>`, `cli`). */
  actor: string;
  reason: string | null;
  incidentId: string;
  /** When the rule was created (ISO 8601). */
  createdAt: string;
  /** When the block is lifted (ISO 8601): the expiry sweeper lifts it then. Null only in records written before blocks expired. */
  expiresAt: string | null;
  /** The incident's triage severity: a full network ACL evicts the lowest first. Null when unknown (counted as medium). */
  severity: Severity | null;
}

export const BLOCK_RECORD_PREFIX = 'blocks/';

const isoDate = z.iso.datetime({ offset: true });

export const blockRecordSchema = z.strictObject({
  version: z.literal(1),
  kind: z.literal('nacl-egress-deny'),
  ip: z.string().min(2),
  cidr: z.string().min(4),
  ipv6: z.boolean(),
  port: z.number().int().min(1).max(65535).nullable(),
  protocol: z.literal('6'),
  portRange: z.strictObject({ from: z.number().int().min(0).max(65535), to: z.number().int().min(0).max(65535) }),
  naclId: z.string().regex(/^acl-[0-9a-f]{1,32}$/, 'a network ACL id'),
  ruleNumber: z.number().int().min(1).max(32766),
  vpcId: z.string().min(1),
  actor: z.string().min(1),
  reason: z.string().nullable(),
  incidentId: z.string().min(1),
  createdAt: isoDate,
  expiresAt: isoDate.nullable(),
  severity: z.enum(SEVERITIES).nullable().default(null),
}) satisfies z.ZodType<BlockRecord, unknown>;

/** Where the registry lives. */
export interface BlockRegistry {
  s3: S3Client;
  bucket: string;
}

/** A record as stored, with where it is. */
export interface StoredBlock {
  key: string;
  /** `s3://bucket/key` */
  location: string;
  record: BlockRecord;
}

/** The key prefix under which every record for this IP lives. */
export function blockPrefix(ip: string): string {
  return `${BLOCK_RECORD_PREFIX}${normalizeIp(ip)}/`;
}

const NACL_ID = /^acl-[0-9a-f]{1,32}$/;

export function blockKey(record: Pick<BlockRecord, 'ip' | 'naclId' | 'ruleNumber'>): string {
  if (!NACL_ID.test(record.naclId)) throw new ValidationError(`${JSON.stringify(record.naclId)} is not a network ACL id`);
  if (!Number.isInteger(record.ruleNumber) || record.ruleNumber < 1) throw new ValidationError(`${record.ruleNumber} is not a rule number`);
  return `${blockPrefix(record.ip)}${record.naclId}/${record.ruleNumber}.json`;
}

/** A block's short id: its key without `blocks/` and `.json` (`203.0.113.7/acl-0abc/3`). */
export function blockIdOf(key: string): string {
  return key.slice(BLOCK_RECORD_PREFIX.length).replace(/\.json$/, '');
}

/**
 * The key of one block from its id or its key (`203.0.113.7/acl-0abc/3` or
 * `blocks/203.0.113.7/acl-0abc/3.json`); ValidationError for anything else.
 */
export function blockKeyFromRef(ref: string): string {
  const id = ref.trim().replace(/^blocks\//, '').replace(/\.json$/, '');
  const parts = id.split('/');
  const [ip, naclId, rule] = parts;
  if (parts.length !== 3 || !ip || !naclId || !rule || !NACL_ID.test(naclId) || !/^[1-9]\d{0,4}$/.test(rule)) {
    throw new ValidationError(`${JSON.stringify(ref)} is not a block id (<ip>/<network ACL id>/<rule number>, e.g. 203.0.113.7/acl-0abc1234/3, or <ip>/<cilium|calico>/<policy name>) or block record key`);
  }
  return blockKey({ ip: normalizeIp(ip), naclId, ruleNumber: Number(rule) });
}

const location = (registry: BlockRegistry, key: string) => `s3://${registry.bucket}/${key}`;

export function isPreconditionFailed(err: unknown): boolean {
  const e = err as { name?: string; Code?: string; $metadata?: { httpStatusCode?: number } };
  return e?.name === 'PreconditionFailed' || e?.Code === 'PreconditionFailed' || e?.$metadata?.httpStatusCode === 412;
}

export function isNoSuchKey(err: unknown): boolean {
  const e = err as { name?: string; Code?: string };
  return e?.name === 'NoSuchKey' || e?.Code === 'NoSuchKey';
}

const message = (err: unknown) => (err instanceof Error ? err.message : String(err));

export interface RecordBlockOptions {
  /**
   * Overwrite a record already at the key. Only for a record proven stale: the caller has just
   * created the rule at that number, so whatever rule the old record described is gone.
   */
  replace?: boolean;
}

export interface RecordBlockResult {
  key: string;
  location: string;
  /** An existing (stale) record was overwritten. */
  replaced: boolean;
}

/**
 * Stores a block record once. A record already at the key is a ConflictError
 * (code `BlockRecordExists`) unless `replace` is set.
 */
export async function recordBlock(registry: BlockRegistry, record: BlockRecord, options: RecordBlockOptions = {}): Promise<RecordBlockResult> {
  const checked = blockRecordSchema.safeParse(record);
  if (!checked.success) {
    throw new ValidationError(`invalid block record: ${checked.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  }
  if (normalizeIp(record.ip) !== record.ip) throw new ValidationError(`block record ip ${record.ip} is not in canonical form`);
  return putBlockRecord(registry, blockKey(record), checked.data, options);
}

/**
 * Writes a validated block record (of either backend) at `key` once: S3's `IfNoneMatch: *` refuses a
 * second write, which is a ConflictError (code `BlockRecordExists`) unless `replace` is set.
 */
export async function putBlockRecord(registry: BlockRegistry, key: string, record: object, options: { replace?: boolean } = {}): Promise<RecordBlockResult> {
  const where = location(registry, key);
  try {
    await registry.s3.send(
      new PutObjectCommand({
        Bucket: registry.bucket,
        Key: key,
        Body: `${JSON.stringify(record, null, 2)}\n`,
        ContentType: 'application/json',
        ...(options.replace ? {} : { IfNoneMatch: '*' }),
      }),
    );
  } catch (err) {
    if (!options.replace && isPreconditionFailed(err)) {
      throw new ConflictError(`a block record already exists at ${where}`, { code: 'BlockRecordExists', details: { key, location: where } });
    }
    throw new AwsError(`cannot store block record at ${where}: ${message(err)}`, { cause: err });
  }
  return { key, location: where, replaced: Boolean(options.replace) };
}

/** One stored block by key; undefined when there is no record there. */
export async function readBlock(registry: BlockRegistry, key: string): Promise<StoredBlock | undefined> {
  const record = await readRecord(registry, key);
  return record ? { key, location: location(registry, key), record } : undefined;
}

async function readRecord(registry: BlockRegistry, key: string): Promise<BlockRecord | undefined> {
  const where = location(registry, key);
  let text: string;
  try {
    const out = await registry.s3.send(new GetObjectCommand({ Bucket: registry.bucket, Key: key }));
    text = (await out.Body?.transformToString('utf-8')) ?? '';
  } catch (err) {
    if (isNoSuchKey(err)) return undefined; // removed between list and read
    throw new AwsError(`cannot read block record ${where}: ${message(err)}`, { cause: err });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new ValidationError(`block record ${where} is not JSON`, { code: 'InvalidBlockRecord', details: { key } });
  }
  const parsed = blockRecordSchema.safeParse(json);
  if (!parsed.success) {
    const why = parsed.error.issues.map((i) => `${i.path.join('.') || 'record'}: ${i.message}`).join('; ');
    throw new ValidationError(`block record ${where} is not a valid block record: ${why}`, { code: 'InvalidBlockRecord', details: { key } });
  }
  if (blockKey(parsed.data) !== key) {
    throw new ValidationError(`block record ${where} describes ${parsed.data.ip} rule ${parsed.data.ruleNumber} of ${parsed.data.naclId}, not what its key says`, {
      code: 'InvalidBlockRecord',
      details: { key },
    });
  }
  return parsed.data;
}

/**
 * Every record key under `prefix` (`.json`). Cluster blocks (clusterBlockRegistry.ts) share the
 * `blocks/<ip>/` prefix; `accept` picks one kind's keys.
 */
export async function listRecordKeys(registry: BlockRegistry, prefix: string, accept: (key: string) => boolean): Promise<string[]> {
  const keys: string[] = [];
  try {
    for await (const o of listS3Objects(registry.s3, { bucket: registry.bucket, prefix })) if (o.Key?.endsWith('.json') && accept(o.Key)) keys.push(o.Key);
  } catch (err) {
    throw new AwsError(`cannot list block records under ${location(registry, prefix)}: ${message(err)}`, { cause: err });
  }
  return keys;
}

/** A network ACL block's key (`blocks/<ip>/acl-…/<rule>.json`), not a cluster block's. */
function isNaclKey(key: string): boolean {
  return key.slice(BLOCK_RECORD_PREFIX.length).split('/')[1]?.startsWith('acl-') === true;
}

function listKeys(registry: BlockRegistry, prefix: string): Promise<string[]> {
  return listRecordKeys(registry, prefix, isNaclKey);
}

async function readAll(registry: BlockRegistry, keys: readonly string[]): Promise<StoredBlock[]> {
  const blocks: StoredBlock[] = [];
  for (const key of keys) {
    const block = await readBlock(registry, key);
    if (block) blocks.push(block);
  }
  return blocks.sort((a, b) => a.record.naclId.localeCompare(b.record.naclId) || a.record.ruleNumber - b.record.ruleNumber);
}

/**
 * Every block sentinel recorded for this IP; with `port`, only the blocks of exactly that
 * port (an all-ports block is not a block "of port 443"). Sorted by NACL and rule number.
 */
export async function listBlocks(registry: BlockRegistry, ip: string, port?: number): Promise<StoredBlock[]> {
  const blocks = await readAll(registry, await listKeys(registry, blockPrefix(ip)));
  return port === undefined ? blocks : blocks.filter((b) => b.record.port === port);
}

/**
 * Every block sentinel recorded, whatever the IP (the expiry sweeper, eviction). A record that
 * is not valid is skipped and reported through `onInvalid`, so one bad object cannot stop expiry.
 */
export async function listAllBlocks(registry: BlockRegistry, onInvalid?: (key: string, reason: string) => void): Promise<StoredBlock[]> {
  const blocks: StoredBlock[] = [];
  for (const key of await listKeys(registry, BLOCK_RECORD_PREFIX)) {
    try {
      const block = await readBlock(registry, key);
      if (block) blocks.push(block);
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err;
      onInvalid?.(key, err.message);
    }
  }
  return blocks.sort((a, b) => a.record.naclId.localeCompare(b.record.naclId) || a.record.ruleNumber - b.record.ruleNumber);
}

/** Deletes one record (S3 deletes are idempotent: a missing key is fine). */
export async function removeBlockRecord(registry: BlockRegistry, key: string): Promise<void> {
  if (!key.startsWith(BLOCK_RECORD_PREFIX) || !key.endsWith('.json')) throw new ValidationError(`${key} is not a block record key`);
  try {
    await registry.s3.send(new DeleteObjectCommand({ Bucket: registry.bucket, Key: key }));
  } catch (err) {
    throw new AwsError(`cannot remove block record ${location(registry, key)}: ${message(err)}`, { cause: err });
  }
}
