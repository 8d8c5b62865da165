import { isIP } from 'node:net';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { z } from 'zod';
import { AwsError, ConflictError, ValidationError } from '../../errors.js';

/**
 * The block registry: one JSON object per egress deny rule sentinel created, so that an
 * unblock removes exactly sentinel's rules and nothing else. Objects live in the evidence
 * bucket at `blocks/<ip>/<naclId>/<ruleNumber>.json` (the IP in canonical form) and are
 * written once (`If-None-Match: *`).
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
  /** When the block should be lifted (ISO 8601); null for no expiry. Nothing lifts it by itself. */
  expiresAt: string | null;
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
}) satisfies z.ZodType<BlockRecord>;

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

const IPV4_MAPPED = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i;

/** Accepts a plain IPv4 or IPv6 address (no zone id, no prefix length, not IPv4-mapped). */
export const ipAddressSchema = z
  .string()
  .refine((v) => isIP(v) !== 0 && !v.includes('%'), 'an IPv4 or IPv6 address (no prefix length, no zone id)')
  .refine((v) => !IPV4_MAPPED.test(v), 'an IPv4-mapped IPv6 address; give the IPv4 address itself');

/**
 * The canonical form of an address: IPv4 as is (Node rejects leading zeros), IPv6 lower
 * case with the longest run of zero groups compressed (RFC 5952, as WHATWG URL serializes it).
 */
export function normalizeIp(ip: string): string {
  const parsed = ipAddressSchema.safeParse(ip);
  if (!parsed.success) throw new ValidationError(`${JSON.stringify(ip)} is not ${parsed.error.issues[0]?.message ?? 'an IP address'}`);
  if (isIP(ip) === 4) return ip;
  return new URL(`http://[${ip}]/`).hostname.slice(1, -1);
}

/** `<ip>/<bits>` with the address in canonical form; the input unchanged if it is not a CIDR. */
export function normalizeCidr(cidr: string): string {
  const [ip, bits, ...rest] = cidr.split('/');
  if (!ip || bits === undefined || rest.length || !/^\d{1,3}$/.test(bits) || !ipAddressSchema.safeParse(ip).success) return cidr;
  return `${normalizeIp(ip)}/${Number(bits)}`;
}

/** The key prefix under which every record for this IP lives. */
export function blockPrefix(ip: string): string {
  return `${BLOCK_RECORD_PREFIX}${normalizeIp(ip)}/`;
}

export function blockKey(record: Pick<BlockRecord, 'ip' | 'naclId' | 'ruleNumber'>): string {
  if (!/^acl-[0-9a-f]{1,32}$/.test(record.naclId)) throw new ValidationError(`${JSON.stringify(record.naclId)} is not a network ACL id`);
  if (!Number.isInteger(record.ruleNumber) || record.ruleNumber < 1) throw new ValidationError(`${record.ruleNumber} is not a rule number`);
  return `${blockPrefix(record.ip)}${record.naclId}/${record.ruleNumber}.json`;
}

const location = (registry: BlockRegistry, key: string) => `s3://${registry.bucket}/${key}`;

function isPreconditionFailed(err: unknown): boolean {
  const e = err as { name?: string; Code?: string; $metadata?: { httpStatusCode?: number } };
  return e?.name === 'PreconditionFailed' || e?.Code === 'PreconditionFailed' || e?.$metadata?.httpStatusCode === 412;
}

function isNoSuchKey(err: unknown): boolean {
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
  const key = blockKey(record);
  const where = location(registry, key);
  try {
    await registry.s3.send(
      new PutObjectCommand({
        Bucket: registry.bucket,
        Key: key,
        Body: `${JSON.stringify(checked.data, null, 2)}\n`,
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
 * Every block sentinel recorded for this IP; with `port`, only the blocks of exactly that
 * port (an all-ports block is not a block "of port 443"). Sorted by NACL and rule number.
 */
export async function listBlocks(registry: BlockRegistry, ip: string, port?: number): Promise<StoredBlock[]> {
  const prefix = blockPrefix(ip);
  const keys: string[] = [];
  let token: string | undefined;
  do {
    let out;
    try {
      out = await registry.s3.send(
        new ListObjectsV2Command({ Bucket: registry.bucket, Prefix: prefix, ...(token ? { ContinuationToken: token } : {}) }),
      );
    } catch (err) {
      throw new AwsError(`cannot list block records under ${location(registry, prefix)}: ${message(err)}`, { cause: err });
    }
    for (const o of out.Contents ?? []) if (o.Key?.endsWith('.json')) keys.push(o.Key);
    token = out.IsTruncated ? out.NextContinuationToken : undefined;
  } while (token);

  const blocks: StoredBlock[] = [];
  for (const key of keys) {
    const record = await readRecord(registry, key);
    if (!record) continue;
    if (port !== undefined && record.port !== port) continue;
    blocks.push({ key, location: location(registry, key), record });
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
