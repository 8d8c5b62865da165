import { createHash } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { extract } from 'tar-stream';
import { z } from 'zod';
import { AwsError, AwsNotConfiguredError, ConfigError, describeError, LimitExceededError, NotFoundError, ProtectedTargetError, SentinelError, ValidationError } from '../../../errors.js';
import { createStringRedactor } from '../../../logger.js';
import { evidenceKey } from '../../evidence/evidenceKey.js';
import { putEvidence } from '../../evidence/putEvidence.js';
import type { EvidenceItem } from '../../evidence/types.js';
import {
  analysisRulesFor,
  applyRules,
  ARTIFACT_KINDS,
  buildMatchContext,
  canonicalIp,
  canonicalKind,
  parseArtifact,
  SEVERITY_RANK,
  type ArtifactKind,
  type Severity,
} from '../../forensics/analysisRules.js';
import { readMaliciousIps } from './addMaliciousIp.js';
import { defineAction, planned, succeeded, type ActionDeps, type ActionRequest, type ActionResult } from '../types.js';

const HEX64 = /^[0-9a-f]{64}$/;
/** Longest evidence excerpt, in characters. */
export const EXCERPT_MAX = 300;
/** Line numbers listed per finding (the count is always complete). */
const LINES_MAX = 100;

const kindSchema = z
  .string()
  .min(1)
  .max(64)
  .transform((k, ctx) => {
    const kind = canonicalKind(k);
    if (!kind) {
      ctx.addIssue({ code: 'custom', message: `an artifact kind (${ARTIFACT_KINDS.join(', ')})` });
      return z.NEVER;
    }
    return kind;
  });

const ipSchema = z.string().trim().refine((v) => canonicalIp(v) !== undefined, 'an IPv4 or IPv6 address');

const storedArtifact = z.strictObject({
  kind: kindSchema,
  location: z.string().regex(/^s3:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]\/[^\0]+$/, 'an s3://bucket/key location'),
  sha256: z.string().regex(HEX64, 'a lower-case hex sha256').optional(),
});
const inlineArtifact = z.strictObject({
  kind: kindSchema,
  /** A name to point at in findings (`inline:<name>`). */
  name: z.string().min(1).max(200).regex(/^[A-Za-z0-9._/:-]+$/, 'letters, digits and . _ / : -'),
  text: z.string().max(8 * 1024 * 1024),
  sha256: z.string().regex(HEX64, 'a lower-case hex sha256').optional(),
});

const inputSchema = z
  .strictObject({
    artifacts: z.array(z.union([storedArtifact, inlineArtifact])).min(1).max(200),
    knownBadIps: z.array(ipSchema).max(10_000).default([]),
    findingRemoteIp: ipSchema.optional(),
    /** The instance's own public and NAT addresses: CloudTrail calls from these are not "outside AWS". */
    instanceAddresses: z.array(ipSchema).max(50).default([]),
    window: z.strictObject({ since: z.iso.datetime({ offset: true }), until: z.iso.datetime({ offset: true }) }),
    /** Add the IPs on intel/malicious-ips.json to the known-bad set. */
    useMaliciousIpList: z.boolean().default(true),
    /** Largest artifact read from S3, in bytes. */
    maxArtifactBytes: z.number().int().min(1024).max(1024 * 1024 * 1024).default(256 * 1024 * 1024),
    /** Largest total a bundle may unpack to, in bytes. */
    maxExtractedBytes: z.number().int().min(1024).max(4 * 1024 * 1024 * 1024).default(1024 * 1024 * 1024),
  })
  .refine((v) => Date.parse(v.window.since) < Date.parse(v.window.until), { message: 'window.since must be before window.until', path: ['window'] });

export type AnalyseArtifactsInput = z.output<typeof inputSchema>;

export interface FindingEvidence {
  /** `s3://bucket/key`, `s3://bucket/key#member/path` inside a bundle, or `inline:<name>`. */
  artifact: string;
  kind: ArtifactKind;
  /** What `lines` count: text lines, or events of a JSON artifact. */
  unit: 'line' | 'event';
  /** 1-based line (or event) numbers of the matches, at most 100. */
  lines: number[];
  /** How many lines (or events) matched in all. */
  matchCount: number;
  /** The first match, control characters escaped, secrets masked, at most 300 characters. */
  excerpt: string;
}

export interface Finding {
  ruleId: string;
  title: string;
  severity: Severity;
  evidence: FindingEvidence;
}

export interface AnalysedArtifact {
  location: string;
  kind: ArtifactKind;
  sha256: string;
  size: number;
  unit: 'line' | 'event' | 'bundle';
  records: number;
  /** Lines the parser could not read (first few). */
  problems: string[];
  /** For a bundle: members analysed and members left out (binary, unknown path, not a file). */
  members?: { analysed: number; skipped: number };
}

export interface AnalyseArtifactsDetails {
  findings: Finding[];
  counts: Record<Severity | 'total', number>;
  artifacts: AnalysedArtifact[];
  knownBadIps: number;
  rules: number;
  location: string;
  sha256: string;
  alreadyStored: boolean;
  evidence: EvidenceItem;
  notes: string[];
}

// ---------------------------------------------------------------------------------------------
// Excerpts.
// ---------------------------------------------------------------------------------------------

const redact = createStringRedactor();
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u00ad\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/g;

/** Evidence text made safe to store and show: secrets masked, controls and invisibles escaped, at most `max` characters. */
export function escapeExcerpt(text: string, max = EXCERPT_MAX): string {
  const escaped = redact(text).replace(UNSAFE, (c) => (c === '\t' ? '\\t' : c === '\n' ? '\\n' : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`));
  const chars = Array.from(escaped);
  return chars.length > max ? `${chars.slice(0, max - 1).join('')}…` : escaped;
}

// ---------------------------------------------------------------------------------------------
// Bundles: gzip'd tar archives written by collect-disk.
// ---------------------------------------------------------------------------------------------

export interface TarMember {
  name: string;
  /** The tar typeflag: `0` file, `1` hard link, `2` symlink, `5` directory, … */
  type: string;
  data: Buffer;
}

/** tar-stream's entry types as tar typeflags (TarMember.type). */
const TYPEFLAGS: Readonly<Record<string, string>> = {
  file: '0',
  link: '1',
  symlink: '2',
  'character-device': '3',
  'block-device': '4',
  directory: '5',
  fifo: '6',
  'contiguous-file': '7',
};

/**
 * Reads a tar archive from memory with tar-stream: POSIX ustar, pax (`path` and the other
 * records) and GNU (long names, base-256 sizes). Every member is returned with its data, links
 * and devices included (a link's data is empty; nothing is followed, nothing is written
 * anywhere). More than `maxMembers` members → LimitExceededError `BundleTooLarge`; an archive
 * tar-stream cannot read (bad header checksum, unknown format, cut short) → ValidationError
 * `InvalidBundle`.
 */
export async function readTar(archive: Buffer, maxMembers = 200_000): Promise<TarMember[]> {
  const members: TarMember[] = [];
  const entries = extract();
  entries.end(archive);
  try {
    for await (const entry of entries) {
      const chunks: Buffer[] = [];
      for await (const chunk of entry) chunks.push(chunk as Buffer);
      members.push({ name: entry.header.name, type: TYPEFLAGS[entry.header.type ?? 'file'] ?? '?', data: Buffer.concat(chunks) });
      if (members.length > maxMembers) throw new LimitExceededError(`the bundle has more than ${maxMembers} members`, { code: 'BundleTooLarge' });
    }
  } catch (err) {
    if (err instanceof SentinelError) throw err;
    throw new ValidationError(`not a readable tar archive: ${describeError(err)}`, { code: 'InvalidBundle', cause: err });
  }
  return members;
}

/** Which kind a bundle member is analysed as, by its path (collect-disk's layout); undefined to leave it out. */
export const BUNDLE_MEMBER_KINDS: readonly { pattern: RegExp; kind: ArtifactKind }[] = [
  { pattern: /^volumes\/\d+\/listing\.tsv$/, kind: 'disk:listing' },
  { pattern: /^volumes\/\d+\/weblisting\.tsv$/, kind: 'disk:weblisting' },
  { pattern: /^volumes\/\d+\/accounts\.tsv$/, kind: 'disk:accounts' },
  { pattern: /^volumes\/\d+\/fs\/var\/log\/(?!journal\/).+$/, kind: 'disk:logs' },
  { pattern: /^volumes\/\d+\/fs\/(?:root|home\/[^/]+|var\/www)\/\.[^/]*history$/, kind: 'disk:histories' },
  { pattern: /^volumes\/\d+\/fs\/(?:etc\/(?:crontab|anacrontab|cron\.(?:d|hourly|daily|weekly|monthly)\/.+)|var\/spool\/cron\/.+)$/, kind: 'disk:cron' },
  { pattern: /^volumes\/\d+\/fs\/(?:root|home\/[^/]+)\/\.ssh\/authorized_keys2?$/, kind: 'disk:authorized-keys' },
  {
    pattern:
      /^volumes\/\d+\/fs\/(?:etc\/(?:systemd\/system\/.+|rc\.local|rc\.d\/rc\.local|init\.d\/.+|profile\.d\/.+|profile|bash\.bashrc|bashrc|ld\.so\.preload|sudoers|sudoers\.d\/.+)|(?:root|home\/[^/]+)\/\.(?:bashrc|profile|bash_profile|bash_login))$/,
    kind: 'disk:persistence',
  },
];

export function bundleMemberKind(name: string): ArtifactKind | undefined {
  const clean = name.replace(/^(?:\.\/)+/, '');
  if (clean.split('/').some((s) => s === '..')) return undefined;
  return BUNDLE_MEMBER_KINDS.find((m) => m.pattern.test(clean))?.kind;
}

function looksBinary(data: Buffer): boolean {
  return data.subarray(0, 8192).includes(0);
}

function gunzip(data: Buffer, limit: number, what: string): Buffer {
  try {
    return gunzipSync(data, { maxOutputLength: limit });
  } catch (err) {
    if ((err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE' || err instanceof RangeError) {
      throw new LimitExceededError(`${what} unpacks to more than ${limit} bytes (maxExtractedBytes)`, { code: 'BundleTooLarge' });
    }
    throw new ValidationError(`${what} is not valid gzip: ${describeError(err)}`, { code: 'InvalidBundle' });
  }
}

// ---------------------------------------------------------------------------------------------
// Reading artifacts.
// ---------------------------------------------------------------------------------------------

interface LoadedArtifact {
  location: string;
  kind: ArtifactKind;
  body: Buffer;
  sha256: string;
}

function parseS3Location(location: string): { bucket: string; key: string } {
  const m = /^s3:\/\/([^/]+)\/(.+)$/.exec(location);
  if (!m) throw new ValidationError(`not an s3://bucket/key location: ${location}`, { code: 'InvalidLocation' });
  return { bucket: m[1]!, key: m[2]! };
}

async function readObject(s3: S3Client, location: string, limit: number): Promise<Buffer> {
  const { bucket, key } = parseS3Location(location);
  let out;
  try {
    out = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  } catch (err) {
    const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
    if (e?.name === 'NoSuchKey' || e?.$metadata?.httpStatusCode === 404) throw new NotFoundError(`artifact ${location} does not exist`, { code: 'ArtifactNotFound' });
    throw new AwsError(`reading artifact ${location} failed: ${describeError(err)}`, { cause: err });
  }
  if (out.ContentLength !== undefined && out.ContentLength > limit) {
    (out.Body as { destroy?: () => void } | undefined)?.destroy?.();
    throw new LimitExceededError(`artifact ${location} is ${out.ContentLength} bytes, over the limit of ${limit} (maxArtifactBytes)`, { code: 'ArtifactTooLarge' });
  }
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of (out.Body ?? []) as AsyncIterable<Uint8Array>) {
    total += chunk.length;
    if (total > limit) {
      (out.Body as { destroy?: () => void } | undefined)?.destroy?.();
      throw new LimitExceededError(`artifact ${location} is over the limit of ${limit} bytes (maxArtifactBytes)`, { code: 'ArtifactTooLarge' });
    }
    chunks.push(Buffer.from(chunk));
  }
  return Buffer.concat(chunks);
}

function sha256Of(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

// ---------------------------------------------------------------------------------------------
// The action.
// ---------------------------------------------------------------------------------------------

function requireStore(deps: ActionDeps): { s3: S3Client; bucket: string } {
  if (!deps.aws.s3) throw new AwsNotConfiguredError('S3', 'cannot read artifacts or store findings');
  const bucket = deps.settings.evidenceBucket;
  if (!bucket) throw new ConfigError('no evidence bucket is configured (set SENTINEL_EVIDENCE_BUCKET): cannot read artifacts or store findings', { code: 'NoEvidenceBucket' });
  return { s3: deps.aws.s3, bucket };
}

interface Unit {
  location: string;
  kind: ArtifactKind;
  text: string;
  ordinal: number;
}

/**
 * Reads the artifacts (S3 objects in the evidence bucket, or inline texts), checks each given
 * sha256 (a mismatch refuses the whole analysis: evidence that changed is not analysed),
 * unpacks collect-disk bundles, applies every rule to every artifact of a kind it reads, and
 * stores the findings (sorted by severity) as write-once evidence. The same artifacts, window
 * and IP sets always give the same findings document (and key); a rerun stores nothing new.
 */
export async function analyseArtifacts(request: ActionRequest<AnalyseArtifactsInput>, deps: ActionDeps): Promise<ActionResult<AnalyseArtifactsDetails | Record<string, unknown>>> {
  const input = inputSchema.parse(request.input);
  const { s3, bucket } = requireStore(deps);
  // The stock rules, then the team's own (SENTINEL_ANALYSIS_RULES_DIR); a bad rule file fails here, naming it.
  const rules = analysisRulesFor(deps.settings);
  const notes: string[] = [];

  // Preflight: only the evidence bucket is read (no confused deputy reading other buckets).
  for (const a of input.artifacts) {
    if ('location' in a && parseS3Location(a.location).bucket !== bucket) {
      throw new ProtectedTargetError(`artifact ${a.location} is outside the evidence bucket ${bucket}: only evidence is analysed`, { code: 'ArtifactOutsideEvidence' });
    }
  }
  const sampleKey = evidenceKey(request.incidentId, '0'.repeat(64), 'analysis-findings.json');
  const destination = sampleKey.replace(`/${'0'.repeat(64)}/`, '/<sha256>/');
  if (request.dryRun) {
    return planned(`would analyse ${input.artifacts.length} artifact(s) with ${rules.length} rules and store the findings at s3://${bucket}/${destination}`, {
      artifacts: input.artifacts.map((a) => ({
        location: 'location' in a ? a.location : `inline:${a.name}`,
        kind: a.kind,
        rules: a.kind === 'disk:bundle' ? 'by member path' : rules.filter((r) => r.sources.includes(a.kind)).map((r) => r.id),
      })),
      window: input.window,
      destination: `s3://${bucket}/${destination}`,
      useMaliciousIpList: input.useMaliciousIpList,
    });
  }

  const knownBad = [...input.knownBadIps];
  if (input.useMaliciousIpList) {
    try {
      const list = await readMaliciousIps(s3, bucket);
      knownBad.push(...list.entries.map((e) => e.ip));
      if (list.entries.length) notes.push(`${list.entries.length} IP(s) from the malicious-IP list were added to the known-bad set`);
    } catch (err) {
      notes.push(`the malicious-IP list was not read (${describeError(err)}); only the given known-bad IPs were used`);
    }
  }
  const ctx = buildMatchContext({
    knownBadIps: knownBad,
    ...(input.findingRemoteIp ? { findingRemoteIp: input.findingRemoteIp } : {}),
    instanceAddresses: input.instanceAddresses,
    window: input.window,
  });

  // Read and verify every artifact before analysing any.
  const loaded: LoadedArtifact[] = [];
  for (const a of input.artifacts) {
    const location = 'location' in a ? a.location : `inline:${a.name}`;
    const body = 'location' in a ? await readObject(s3, a.location, input.maxArtifactBytes) : Buffer.from(a.text, 'utf-8');
    const sha256 = sha256Of(body);
    if (a.sha256 && a.sha256 !== sha256) {
      throw new ValidationError(`artifact ${location} does not match its recorded sha256 (expected ${a.sha256}, read ${sha256}): refusing to analyse evidence that changed`, {
        code: 'ChecksumMismatch',
        details: { location, expected: a.sha256, actual: sha256 },
      });
    }
    loaded.push({ location, kind: a.kind, body, sha256 });
  }

  const analysed: AnalysedArtifact[] = [];
  const units: Unit[] = [];
  let extracted = 0;
  for (const [ordinal, a] of loaded.entries()) {
    if (a.kind !== 'disk:bundle') {
      units.push({ location: a.location, kind: a.kind, text: a.body.toString('utf-8'), ordinal });
      continue;
    }
    const tar = await readTar(gunzip(a.body, input.maxExtractedBytes, a.location));
    let used = 0;
    let skippedMembers = 0;
    for (const m of tar) {
      const kind = m.type === '0' || m.type === '7' ? bundleMemberKind(m.name) : undefined;
      const name = m.name.replace(/^(?:\.\/)+/, '');
      let data = m.data;
      if (kind && name.endsWith('.gz')) data = gunzip(data, Math.max(1, input.maxExtractedBytes - extracted), `${a.location}#${name}`);
      extracted += data.length;
      if (extracted > input.maxExtractedBytes) throw new LimitExceededError(`${a.location} unpacks to more than ${input.maxExtractedBytes} bytes (maxExtractedBytes)`, { code: 'BundleTooLarge' });
      if (!kind || looksBinary(data)) {
        if (m.type === '0' || m.type === '7') skippedMembers += 1;
        continue;
      }
      used += 1;
      units.push({ location: `${a.location}#${name}`, kind, text: data.toString('utf-8'), ordinal });
    }
    analysed.push({ location: a.location, kind: a.kind, sha256: a.sha256, size: a.body.length, unit: 'bundle', records: tar.length, problems: [], members: { analysed: used, skipped: skippedMembers } });
   }

  const referenceTimeMs = Date.parse(input.window.until);
  const ruleOrder = new Map(rules.map((r, i) => [r.id, i]));
  const ranked: { finding: Finding; ordinal: number; unitIndex: number }[] = [];
  units.forEach((u, unitIndex) => {
    const parsed = parseArtifact(u.kind, u.text, { referenceTimeMs });
    const loadedArtifact = loaded[u.ordinal]!;
    if (!u.location.includes('#')) {
      analysed.push({ location: u.location, kind: u.kind, sha256: loadedArtifact.sha256, size: loadedArtifact.body.length, unit: parsed.unit, records: parsed.records.length, problems: parsed.problems.slice(0, 5) });
    } else if (parsed.problems.length) {
      notes.push(`${u.location}: ${parsed.problems.length} line(s) could not be read (${parsed.problems[0]})`);
    }
    for (const hit of applyRules(u.kind, parsed, ctx, rules)) {
      const first = hit.records[0];
      ranked.push({
        ordinal: u.ordinal,
        unitIndex,
        finding: {
          ruleId: hit.rule.id,
          title: hit.rule.title,
          severity: hit.rule.severity,
          evidence: {
            artifact: u.location,
            kind: u.kind,
            unit: parsed.unit,
            lines: hit.records.slice(0, LINES_MAX).map((r) => r.n),
            matchCount: hit.records.length,
            excerpt: first ? escapeExcerpt(first.excerpt) : escapeExcerpt(`nothing matched: ${hit.rule.description}`),
          },
        },
      });
    }
  });
  ranked.sort(
    (a, b) =>
      SEVERITY_RANK[a.finding.severity] - SEVERITY_RANK[b.finding.severity] ||
      ruleOrder.get(a.finding.ruleId)! - ruleOrder.get(b.finding.ruleId)! ||
      a.ordinal - b.ordinal ||
      a.unitIndex - b.unitIndex,
  );
  const findings = ranked.map((r) => r.finding);
  const counts: AnalyseArtifactsDetails['counts'] = { critical: 0, high: 0, medium: 0, low: 0, total: findings.length };
  for (const f of findings) counts[f.severity] += 1;

  // The stored document holds no time of its own: the same analysis gives the same bytes.
  const document = {
    version: 1,
    incidentId: request.incidentId,
    window: input.window,
    context: {
      knownBadIps: ctx.sets.knownBadIps?.size ?? 0,
      findingRemoteIp: input.findingRemoteIp ?? null,
      instanceAddresses: [...(ctx.sets.instanceAddresses ?? [])],
    },
    rules: rules.map((r) => r.id),
    artifacts: analysed,
    counts,
    findings,
  };
  const body = `${JSON.stringify(document, null, 2)}\n`;
  const sha256 = sha256Of(body);
  const key = evidenceKey(request.incidentId, sha256, 'analysis-findings.json');
  const analysedAt = deps.now().toISOString();
  const put = await putEvidence(s3, {
    bucket,
    key,
    body,
    sha256,
    contentType: 'application/json',
    metadata: {
      'incident-id': request.incidentId,
      collector: deps.settings.collector,
      'collected-at': analysedAt,
      actor: request.actor,
      findings: String(findings.length),
    },
  });
  const evidence: EvidenceItem = {
    kind: 'analysis:findings',
    location: put.location,
    sha256,
    size: Buffer.byteLength(body),
    collector: deps.settings.collector,
    collectedAt: analysedAt,
    source: { artifacts: String(loaded.length), rules: String(rules.length), window: `${input.window.since}/${input.window.until}` },
  };
  const worst = findings[0]?.severity;
  const summary = findings.length
    ? `${findings.length} finding(s) in ${loaded.length} artifact(s): ${(['critical', 'high', 'medium', 'low'] as const).filter((s) => counts[s]).map((s) => `${counts[s]} ${s}`).join(', ')} (worst: ${findings[0]!.title})`
    : `no findings in ${loaded.length} artifact(s)`;
  deps.logger.info('analysis finished', { findings: findings.length, worst, location: put.location });
  return succeeded(summary, {
    findings,
    counts,
    artifacts: analysed,
    knownBadIps: ctx.sets.knownBadIps?.size ?? 0,
    rules: rules.length,
    location: put.location,
    sha256,
    alreadyStored: !put.created,
    evidence,
    notes,
  } satisfies AnalyseArtifactsDetails);
}

export const analyseArtifactsAction = defineAction({
  id: 'analyse',
  description:
    'Analyse collected artifacts (volatile outputs, the disk bundle, CloudTrail events) from the evidence bucket with the forensic rules (reverse shells, miners, IMDS credential theft, web shells, cleared histories and logs, new keys and persistence, IAM persistence) and store the findings as evidence.',
  permissions: {
    // GetObject on evidence/* and intel/malicious-ips.json; PutObject (write-once) for the findings;
    // ListBucket so a missing object reads as 404, not 403.
    iam: ['s3:GetObject', 's3:PutObject', 's3:ListBucket'],
    rbac: [],
  },
  input: inputSchema,
  run: analyseArtifacts,
});
