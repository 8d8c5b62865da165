import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { z } from 'zod';
import { AwsError, AwsNotConfiguredError, ConfigError, ConflictError, describeError, LimitExceededError, ProtectedTargetError, ValidationError } from '../../../errors.js';
import { bundledAwsIpRanges } from '../../net/awsIpRanges.js';
import { ipAddressSchema } from '../../net/ipAddress.js';
import { checkProtectedDestination } from '../../planning/protectedDestination.js';
import { defineAction, planned, skipped, succeeded, type ActionDeps, type ActionRequest, type ActionResult } from '../types.js';

/**
 * The malicious-IP list: one pretty-printed JSON document in the evidence bucket, kept sorted
 * by IP, that people can read and that the block and analyse actions read with
 * `readMaliciousIps`. Every change is a conditional write: `If-None-Match: *` creates it,
 * `If-Match: <ETag>` replaces exactly the version that was read, so two concurrent adds never
 * lose each other's entry (the loser reads again, merges and retries).
 */

export const MALICIOUS_IPS_KEY = 'intel/malicious-ips.json';

/** Entries the list may hold; beyond that an add is refused (the document is read whole). */
export const MAX_MALICIOUS_IPS = 50_000;
const MAX_SOURCES = 50;
const MAX_REFERENCES = 200;
const MAX_ATTEMPTS = 8;

const isoDate = z.iso.datetime({ offset: true });

const entrySchema = z.strictObject({
  /** Canonical form: dotted quad, or lower-case compressed IPv6. */
  ip: z.string().min(2),
  firstSeen: isoDate,
  lastSeen: isoDate,
  /** Who reported it: `guardduty`, `falco`, `analysis`, `manual`… (oldest first). */
  sources: z.array(z.string()).min(1),
  findingIds: z.array(z.string()),
  incidentIds: z.array(z.string()),
  addedBy: z.string(),
  addedAt: isoDate,
  updatedAt: isoDate,
});

const listSchema = z.strictObject({
  version: z.literal(1),
  updatedAt: isoDate,
  entries: z.array(entrySchema),
});

export type MaliciousIpEntry = z.output<typeof entrySchema>;
export type MaliciousIpList = z.output<typeof listSchema>;

interface StoredList {
  list: MaliciousIpList;
  etag: string | undefined;
}

function errorName(err: unknown): string {
  const e = err as { name?: unknown; Code?: unknown };
  return typeof e?.name === 'string' ? e.name : typeof e?.Code === 'string' ? e.Code : '';
}

function httpStatus(err: unknown): number | undefined {
  return (err as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode;
}

async function loadList(s3: S3Client, bucket: string): Promise<StoredList | undefined> {
  const location = `s3://${bucket}/${MALICIOUS_IPS_KEY}`;
  let text: string;
  let etag: string | undefined;
  try {
    const out = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: MALICIOUS_IPS_KEY }));
    text = (await out.Body?.transformToString('utf-8')) ?? '';
    etag = out.ETag;
  } catch (err) {
    if (errorName(err) === 'NoSuchKey' || httpStatus(err) === 404) return undefined;
    throw new AwsError(`reading the malicious-IP list ${location} failed: ${describeError(err)}`, { cause: err });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new ValidationError(`the malicious-IP list ${location} is not JSON (${describeError(err)}); fix or remove it by hand`, { code: 'InvalidMaliciousIpList' });
  }
  const parsed = listSchema.safeParse(json);
  if (!parsed.success) {
    const why = parsed.error.issues.slice(0, 5).map((i) => `${i.path.join('.') || 'list'}: ${i.message}`).join('; ');
    throw new ValidationError(`the malicious-IP list ${location} is not valid (${why}); fix or remove it by hand`, { code: 'InvalidMaliciousIpList' });
  }
  return { list: parsed.data, etag };
}

/**
 * The malicious-IP list from the evidence bucket (an empty list when none exists yet). For the
 * block action and the analysis: every `entries[].ip` is in canonical form.
 */
export async function readMaliciousIps(s3: S3Client, bucket: string): Promise<MaliciousIpList> {
  const stored = await loadList(s3, bucket);
  return stored?.list ?? { version: 1, updatedAt: new Date(0).toISOString(), entries: [] };
}

const inputSchema = z
  .strictObject({
    /** Canonical form (sentinel's one IP module): an IPv4-mapped address is listed as its IPv4 address. */
    ip: ipAddressSchema,
    findingId: z.string().min(1).max(128).regex(/^[A-Za-z0-9:/._-]+$/, 'a finding id (letters, digits, : / . _ -)').optional(),
    firstSeen: isoDate.optional(),
    lastSeen: isoDate.optional(),
    source: z.string().min(1).max(64).regex(/^[A-Za-z0-9][A-Za-z0-9:._-]*$/, 'a source name such as guardduty, falco, analysis or manual').default('manual'),
  })
  .refine((v) => !v.firstSeen || !v.lastSeen || Date.parse(v.firstSeen) <= Date.parse(v.lastSeen), { message: 'firstSeen must not be after lastSeen', path: ['firstSeen'] });

export type AddMaliciousIpInput = z.output<typeof inputSchema>;

export interface AddMaliciousIpDetails {
  ip: string;
  /** What this run did to the list (or would do, in a dry run). */
  change: 'added' | 'updated' | 'unchanged';
  entry: MaliciousIpEntry;
  location: string;
  entries: number;
  /** Conditional writes tried (more than one when another writer got in first). */
  attempts: number;
}

function union(base: readonly string[], add: readonly string[], max: number): string[] {
  const out = [...base];
  for (const v of add) if (!out.includes(v)) out.push(v);
  // Keep the newest references when a long-lived entry collects too many.
  return out.length > max ? out.slice(out.length - max) : out;
}

function earliest(a: string, b: string): string {
  return Date.parse(b) < Date.parse(a) ? b : a;
}

function latest(a: string, b: string): string {
  return Date.parse(b) > Date.parse(a) ? b : a;
}

interface Addition {
  ip: string;
  firstSeen: string;
  lastSeen: string;
  source: string;
  findingId: string | undefined;
  incidentId: string;
  actor: string;
  at: string;
}

/** The list with the addition merged in, and what changed. Pure. */
export function mergeMaliciousIp(list: MaliciousIpList | undefined, add: Addition): { list: MaliciousIpList; change: AddMaliciousIpDetails['change']; entry: MaliciousIpEntry } {
  const entries = list ? list.entries.map((e) => ({ ...e })) : [];
  const at = entries.findIndex((e) => e.ip === add.ip);
  if (at < 0) {
    if (entries.length >= MAX_MALICIOUS_IPS) {
      throw new LimitExceededError(`the malicious-IP list already holds ${entries.length} entries (limit ${MAX_MALICIOUS_IPS})`, { code: 'MaliciousIpListFull' });
    }
    const entry: MaliciousIpEntry = {
      ip: add.ip,
      firstSeen: add.firstSeen,
      lastSeen: add.lastSeen,
      sources: [add.source],
      findingIds: add.findingId ? [add.findingId] : [],
      incidentIds: [add.incidentId],
      addedBy: add.actor,
      addedAt: add.at,
      updatedAt: add.at,
    };
    entries.push(entry);
    entries.sort((a, b) => (a.ip < b.ip ? -1 : a.ip > b.ip ? 1 : 0));
    return { list: { version: 1, updatedAt: add.at, entries }, change: 'added', entry };
  }
  const old = entries[at]!;
  const merged: MaliciousIpEntry = {
    ...old,
    firstSeen: earliest(old.firstSeen, add.firstSeen),
    lastSeen: latest(old.lastSeen, add.lastSeen),
    sources: union(old.sources, [add.source], MAX_SOURCES),
    findingIds: union(old.findingIds, add.findingId ? [add.findingId] : [], MAX_REFERENCES),
    incidentIds: union(old.incidentIds, [add.incidentId], MAX_REFERENCES),
  };
  if (JSON.stringify(merged) === JSON.stringify(old)) return { list: list!, change: 'unchanged', entry: old };
  merged.updatedAt = add.at;
  entries[at] = merged;
  return { list: { version: 1, updatedAt: add.at, entries }, change: 'updated', entry: merged };
}

function isWriteConflict(err: unknown): boolean {
  const name = errorName(err);
  const status = httpStatus(err);
  // 412: the ETag moved (or the key appeared); 404 NoSuchKey: If-Match on a key that was removed;
  // 409 ConditionalRequestConflict: S3 saw two conditional writes to the key at once.
  return name === 'PreconditionFailed' || name === 'ConditionalRequestConflict' || name === 'NoSuchKey' || status === 412 || status === 409 || status === 404;
}

function requireStore(deps: ActionDeps): { s3: S3Client; bucket: string } {
  if (!deps.aws.s3) throw new AwsNotConfiguredError('S3', 'cannot keep the malicious-IP list');
  const bucket = deps.settings.evidenceBucket;
  if (!bucket) throw new ConfigError('no evidence bucket is configured (set SENTINEL_EVIDENCE_BUCKET): the malicious-IP list lives there', { code: 'NoEvidenceBucket' });
  return { s3: deps.aws.s3, bucket };
}

const defaultSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Adds an IP to the malicious-IP list (`intel/malicious-ips.json`), or, when it is there already,
 * widens its firstSeen/lastSeen and adds the source, finding and incident. Private, shared,
 * loopback, link-local, multicast and reserved addresses (in any IPv4-carrying IPv6 form too),
 * the egress allowlist and AWS's published service ranges are refused.
 * Unchanged → skipped. Concurrency-safe through conditional writes with a bounded retry.
 */
export async function addMaliciousIp(
  request: ActionRequest<AddMaliciousIpInput>,
  deps: ActionDeps,
  options: { sleep?: (ms: number) => Promise<void> } = {},
): Promise<ActionResult<AddMaliciousIpDetails>> {
  const input = inputSchema.parse(request.input);
  const ip = input.ip;
  const awsRanges = deps.awsRanges?.current() ?? bundledAwsIpRanges(deps.settings.awsIpRangesBlockableServices);
  const protection = checkProtectedDestination(ip, { allowlist: deps.settings.egressAllowlist, awsRanges });
  if (protection.protected) {
    throw new ProtectedTargetError(`refusing to list ${ip} as malicious: ${protection.reason}`, { code: 'ProtectedAddress' });
  }
  const { s3, bucket } = requireStore(deps);
  const location = `s3://${bucket}/${MALICIOUS_IPS_KEY}`;
  const now = deps.now().toISOString();
  const addition: Addition = {
    ip,
    firstSeen: new Date(input.firstSeen ?? input.lastSeen ?? now).toISOString(),
    lastSeen: new Date(input.lastSeen ?? input.firstSeen ?? now).toISOString(),
    source: input.source,
    findingId: input.findingId,
    incidentId: request.incidentId,
    actor: request.actor,
    at: now,
  };
  const sleep = options.sleep ?? defaultSleep;

  for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt += 1) {
    const stored = await loadList(s3, bucket);
    const merged = mergeMaliciousIp(stored?.list, addition);
    const details: AddMaliciousIpDetails = { ip, change: merged.change, entry: merged.entry, location, entries: merged.list.entries.length, attempts: attempt - 1 };
    if (merged.change === 'unchanged') {
      return skipped(`${ip} is already on the malicious-IP list with these details`, details);
    }
    if (request.dryRun) {
      return planned(`would ${merged.change === 'added' ? 'add' : 'update'} ${ip} on the malicious-IP list at ${location}`, details);
    }
    try {
      await s3.send(
        new PutObjectCommand({
          Bucket: bucket,
          Key: MALICIOUS_IPS_KEY,
          Body: `${JSON.stringify(merged.list, null, 2)}\n`,
          ContentType: 'application/json',
          ...(stored ? { IfMatch: stored.etag ?? '*' } : { IfNoneMatch: '*' }),
        }),
      );
      details.attempts = attempt;
      const what = merged.change === 'added' ? `added ${ip} to` : `updated ${ip} on`;
      return succeeded(`${what} the malicious-IP list (${details.entries} entr${details.entries === 1 ? 'y' : 'ies'})`, details);
    } catch (err) {
      if (!isWriteConflict(err)) throw new AwsError(`writing the malicious-IP list ${location} failed: ${describeError(err)}`, { cause: err });
      deps.logger.debug('malicious-IP list changed under this write; reading it again', { attempt, ip });
    }
    // Someone else wrote first: wait a little (jittered, growing) and merge into what they wrote.
    await sleep(Math.round((20 + Math.random() * 80) * attempt));
  }
  throw new ConflictError(`the malicious-IP list ${location} kept changing during ${MAX_ATTEMPTS} attempts; try again`, { code: 'MaliciousIpListConflict' });
}

export const addMaliciousIpAction = defineAction({
  id: 'add-malicious-ip',
  description:
    'Add an IP (with finding, source, first and last seen, incident) to the malicious-IP list intel/malicious-ips.json in the evidence bucket, or update its entry; never private or special addresses. Conditional writes make concurrent adds safe.',
  permissions: {
    // GetObject/PutObject on intel/malicious-ips.json only; ListBucket so a missing list reads as 404, not 403.
    iam: ['s3:GetObject', 's3:PutObject', 's3:ListBucket'],
    rbac: [],
  },
  input: inputSchema,
  run: (request, deps) => addMaliciousIp(request, deps),
});
