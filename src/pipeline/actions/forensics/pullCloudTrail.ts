import { createHash } from 'node:crypto';
import { CloudTrailClient, paginateLookupEvents, type Event as TrailEvent, type LookupAttribute } from '@aws-sdk/client-cloudtrail';
import { DescribeInstancesCommand, type EC2Client } from '@aws-sdk/client-ec2';
import { z } from 'zod';
import { AwsError, AwsNotConfiguredError, ConfigError, describeError } from '../../../errors.js';
import { evidenceKey } from '../../evidence/evidenceKey.js';
import { putEvidence } from '../../evidence/putEvidence.js';
import type { EvidenceItem } from '../../evidence/types.js';
import { ANALYSIS_RULES, applyRules, buildMatchContext, canonicalIp, parseArtifact, SEVERITY_RANK, type Severity } from '../../forensics/analysisRules.js';
import { defineAction, planned, succeeded, type ActionDeps, type ActionRequest, type ActionResult } from '../types.js';

/** IAM, STS (global endpoint) and other global-service events are in us-east-1's event history. */
export const GLOBAL_EVENTS_REGION = 'us-east-1';
/** CloudTrail event history keeps 90 days. */
const HISTORY_DAYS = 90;
const DAY_MS = 86_400_000;
/** LookupEvents returns at most 50 events a page. */
const PAGE_SIZE = 50;
/** The rules whose hits this action reports (the same rules the analysis applies). */
export const CLOUDTRAIL_FLAG_RULES = ['cloudtrail-iam-persistence', 'cloudtrail-call-from-outside-aws'] as const;
/** Flagged calls listed in the result (all of them are in the stored events). */
const FLAGGED_MAX = 500;

const ipSchema = z.string().trim().refine((v) => canonicalIp(v) !== undefined, 'an IPv4 or IPv6 address');

const inputSchema = z
  .strictObject({
    /** The compromised instance: its role sessions are named after it (LookupEvents Username). */
    instanceId: z.string().regex(/^i-[0-9a-f]{8,17}$/, 'an instance id (i-…)'),
    /** The instance profile's role: when given, Username matches from other identities are left out. */
    roleName: z.string().regex(/^[\w+=,.@-]{1,64}$/, 'an IAM role name').optional(),
    /** Access key ids to look up too (e.g. the ASIA… key in the GuardDuty finding). */
    accessKeyIds: z.array(z.string().regex(/^(?:AKIA|ASIA)[A-Z0-9]{16}$/, 'an access key id (AKIA… or ASIA…)')).max(10).default([]),
    since: z.iso.datetime({ offset: true }),
    until: z.iso.datetime({ offset: true }),
    /** The instance's own public, Elastic and NAT addresses: calls from these are not "outside AWS". */
    instanceAddresses: z.array(ipSchema).max(50).default([]),
    /** Also search us-east-1, where IAM (and other global-service) events are recorded. */
    includeGlobalRegion: z.boolean().default(true),
    /** Most events kept in all; the result says when there were more. */
    maxEvents: z.number().int().min(1).max(20_000).default(5000),
    /** Pause between pages: LookupEvents allows 2 requests a second per account and region. */
    pageDelayMs: z.number().int().min(0).max(5000).default(600),
  })
  .refine((v) => Date.parse(v.since) < Date.parse(v.until), { message: 'since must be before until', path: ['since'] })
  .refine((v) => Date.parse(v.until) - Date.parse(v.since) <= HISTORY_DAYS * DAY_MS, { message: `the window may span at most ${HISTORY_DAYS} days (event history)`, path: ['until'] });

export type PullCloudTrailInput = z.output<typeof inputSchema>;

export interface LookupQueryReport {
  region: string;
  attribute: string;
  pages: number;
  events: number;
  /** Stopped at maxEvents with more pages left. */
  truncated: boolean;
}

export interface FlaggedCall {
  eventId: string | undefined;
  eventTime: string | undefined;
  eventName: string | undefined;
  eventSource: string | undefined;
  region: string | undefined;
  sourceIPAddress: string | undefined;
  userAgent: string | undefined;
  accessKeyId: string | undefined;
  errorCode: string | undefined;
  /** The worst severity among the rules that flagged it. */
  severity: Severity;
  rules: string[];
}

export interface PullCloudTrailDetails {
  instanceId: string;
  window: { since: string; until: string };
  regions: string[];
  queries: LookupQueryReport[];
  counts: { events: number; flagged: number; iamPersistence: number; outsideAws: number; otherIdentity: number; truncated: boolean };
  flagged: FlaggedCall[];
  instanceAddresses: string[];
  location: string;
  sha256: string;
  alreadyStored: boolean;
  evidence: EvidenceItem;
  notes: string[];
}

export interface PullCloudTrailOptions {
  sleep?: (ms: number) => Promise<void>;
  /** The client for us-east-1; by default one made like the configured client (same credentials and endpoint). */
  globalClient?: CloudTrailClient;
}

const defaultSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A CloudTrail client for another region with the same credentials, endpoint override and retries. */
export async function cloudTrailClientFor(client: CloudTrailClient, region: string): Promise<CloudTrailClient> {
  const c = client.config;
  const endpoint = c.isCustomEndpoint && c.endpoint ? await c.endpoint() : undefined;
  return new CloudTrailClient({
    region,
    credentials: c.credentials,
    maxAttempts: await c.maxAttempts(),
    ...(endpoint ? { endpoint } : {}),
  });
}

interface QueryResult {
  events: TrailEvent[];
  report: LookupQueryReport;
}

async function lookup(
  client: CloudTrailClient,
  region: string,
  attribute: LookupAttribute,
  window: { since: Date; until: Date },
  budget: number,
  delayMs: number,
  sleep: (ms: number) => Promise<void>,
): Promise<QueryResult> {
  const events: TrailEvent[] = [];
  const report: LookupQueryReport = { region, attribute: `${attribute.AttributeKey}=${attribute.AttributeValue}`, pages: 0, events: 0, truncated: false };
  if (budget <= 0) {
    report.truncated = true;
    return { events, report };
  }
  // The paginator asks for the next page only when the loop comes back for it: the pause between pages holds.
  const pages = paginateLookupEvents({ client, pageSize: PAGE_SIZE }, { LookupAttributes: [attribute], StartTime: window.since, EndTime: window.until });
  try {
    for await (const page of pages) {
      report.pages += 1;
      const got = page.Events ?? [];
      const room = budget - events.length;
      events.push(...got.slice(0, room));
      if (got.length > room) report.truncated = true;
      if (!page.NextToken) break;
      if (events.length >= budget) {
        report.truncated = true;
        break;
      }
      if (delayMs > 0) await sleep(delayMs);
    }
  } catch (err) {
    throw new AwsError(`CloudTrail LookupEvents (${report.attribute}, ${region}) failed: ${describeError(err)}`, { cause: err, code: 'LookupEventsFailed' });
  }
  report.events = events.length;
  return { events, report };
}

function serialize(e: TrailEvent): Record<string, unknown> {
  return {
    EventId: e.EventId,
    EventName: e.EventName,
    ReadOnly: e.ReadOnly,
    AccessKeyId: e.AccessKeyId,
    EventTime: e.EventTime instanceof Date ? e.EventTime.toISOString() : e.EventTime,
    EventSource: e.EventSource,
    Username: e.Username,
    Resources: e.Resources ?? [],
    CloudTrailEvent: e.CloudTrailEvent,
  };
}

function identityArn(e: TrailEvent): string | undefined {
  try {
    const parsed = JSON.parse(e.CloudTrailEvent ?? '{}') as { userIdentity?: { arn?: unknown } };
    return typeof parsed.userIdentity?.arn === 'string' ? parsed.userIdentity.arn : undefined;
  } catch {
    return undefined;
  }
}

/** The instance's public addresses (public IPv4 and IPv6), for telling its own calls from outside ones. */
async function instancePublicAddresses(ec2: EC2Client, instanceId: string): Promise<string[]> {
  const out = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
  const found = new Set<string>();
  for (const r of out.Reservations ?? []) {
    for (const i of r.Instances ?? []) {
      if (i.PublicIpAddress) found.add(i.PublicIpAddress);
      for (const n of i.NetworkInterfaces ?? []) {
        if (n.Association?.PublicIp) found.add(n.Association.PublicIp);
        for (const a of n.Ipv6Addresses ?? []) if (a.Ipv6Address) found.add(a.Ipv6Address);
      }
    }
  }
  return [...found].map((ip) => canonicalIp(ip)).filter((ip): ip is string => ip !== undefined);
}

function requireClients(deps: ActionDeps): { cloudTrail: CloudTrailClient; s3: NonNullable<ActionDeps['aws']['s3']>; bucket: string } {
  if (!deps.aws.cloudTrail) throw new AwsNotConfiguredError('CloudTrail', 'cannot look up events');
  if (!deps.aws.s3) throw new AwsNotConfiguredError('S3', 'cannot store the events');
  const bucket = deps.settings.evidenceBucket;
  if (!bucket) throw new ConfigError('no evidence bucket is configured (set SENTINEL_EVIDENCE_BUCKET): cannot store the events', { code: 'NoEvidenceBucket' });
  return { cloudTrail: deps.aws.cloudTrail, s3: deps.aws.s3, bucket };
}

/**
 * Looks up the CloudTrail management events made with the compromised instance's role
 * credentials in the incident window (LookupEvents by Username = instance id, the role session
 * name, and by each given access key id; in the configured region and in us-east-1, where IAM
 * events are recorded), paginated and bounded. Stores the raw events (deterministic JSON, so a
 * rerun over the same window stores nothing new) write-once with their sha256, and returns the
 * calls the CloudTrail rules flag: IAM persistence, and calls from a public IP that is not the
 * instance's own.
 */
export async function pullCloudTrail(
  request: ActionRequest<PullCloudTrailInput>,
  deps: ActionDeps,
  options: PullCloudTrailOptions = {},
): Promise<ActionResult<PullCloudTrailDetails | Record<string, unknown>>> {
  const input = inputSchema.parse(request.input);
  const { cloudTrail, s3, bucket } = requireClients(deps);
  const sleep = options.sleep ?? defaultSleep;
  const notes: string[] = [];
  const window = { since: new Date(input.since), until: new Date(input.until) };
  if (window.since.getTime() < deps.now().getTime() - HISTORY_DAYS * DAY_MS) {
    notes.push(`the window starts more than ${HISTORY_DAYS} days ago: event history has nothing older (use the trail's S3 logs for that part)`);
  }

  const region = await cloudTrail.config.region();
  const regions = [region, ...(input.includeGlobalRegion && region !== GLOBAL_EVENTS_REGION ? [GLOBAL_EVENTS_REGION] : [])];
  const attributes: LookupAttribute[] = [
    { AttributeKey: 'Username', AttributeValue: input.instanceId },
    ...input.accessKeyIds.map((k): LookupAttribute => ({ AttributeKey: 'AccessKeyId', AttributeValue: k })),
  ];
  const sampleKey = evidenceKey(request.incidentId, '0'.repeat(64), `cloudtrail-${input.instanceId}.json`);
  const destination = sampleKey.replace(`/${'0'.repeat(64)}/`, '/<sha256>/');
  if (request.dryRun) {
    return planned(`would look up CloudTrail events of ${input.instanceId} from ${input.since} to ${input.until} in ${regions.join(' and ')} and store them at s3://${bucket}/${destination}`, {
      instanceId: input.instanceId,
      regions,
      queries: regions.flatMap((r) => attributes.map((a) => `${r}: ${a.AttributeKey}=${a.AttributeValue}`)),
      maxEvents: input.maxEvents,
      destination: `s3://${bucket}/${destination}`,
    });
  }

  const addresses = new Set(input.instanceAddresses.map((ip) => canonicalIp(ip)!));
  if (deps.aws.ec2) {
    try {
      for (const ip of await instancePublicAddresses(deps.aws.ec2, input.instanceId)) addresses.add(ip);
    } catch (err) {
      notes.push(`the instance's public addresses were not read (${describeError(err)}); only the given instanceAddresses count as its own`);
    }
  }

  const queries: LookupQueryReport[] = [];
  const byId = new Map<string, { event: TrailEvent; viaUsername: boolean }>();
  let otherIdentity = 0;
  let globalClient: CloudTrailClient | undefined;
  try {
    for (const r of regions) {
      let client = cloudTrail;
      if (r !== region) client = globalClient = options.globalClient ?? (await cloudTrailClientFor(cloudTrail, r));
      for (const attribute of attributes) {
        const budget = Math.max(0, input.maxEvents - byId.size);
        const result = await lookup(client, r, attribute, window, budget, input.pageDelayMs, sleep);
        queries.push(result.report);
        for (const e of result.events) {
          const id = e.EventId ?? createHash('sha256').update(JSON.stringify(serialize(e))).digest('hex');
          const viaUsername = attribute.AttributeKey === 'Username';
          if (viaUsername && input.roleName && !identityArn(e)?.includes(`:assumed-role/${input.roleName}/`)) {
            otherIdentity += 1;
            continue;
          }
          const seen = byId.get(id);
          if (!seen) byId.set(id, { event: e, viaUsername });
        }
      }
    }
  } finally {
    if (globalClient && globalClient !== options.globalClient) globalClient.destroy();
  }
  if (region !== GLOBAL_EVENTS_REGION && !input.includeGlobalRegion) {
    notes.push(`only ${region} was searched: IAM events (CreateUser, CreateAccessKey…) are recorded in ${GLOBAL_EVENTS_REGION} and were not looked up`);
  }
  if (otherIdentity) notes.push(`${otherIdentity} event(s) with Username ${input.instanceId} from identities other than role ${input.roleName} were left out`);

  const events = [...byId.values()]
    .map((v) => serialize(v.event))
    .sort((a, b) => String(a.EventTime ?? '').localeCompare(String(b.EventTime ?? '')) || String(a.EventId ?? '').localeCompare(String(b.EventId ?? '')));
  const truncated = queries.some((q) => q.truncated);
  const document = {
    version: 1,
    instanceId: input.instanceId,
    window: { since: window.since.toISOString(), until: window.until.toISOString() },
    regions,
    lookups: attributes.map((a) => `${a.AttributeKey}=${a.AttributeValue}`),
    ...(input.roleName ? { roleName: input.roleName } : {}),
    truncated,
    events,
  };
  const body = `${JSON.stringify(document, null, 2)}\n`;
  const sha256 = createHash('sha256').update(body).digest('hex');
  const key = evidenceKey(request.incidentId, sha256, `cloudtrail-${input.instanceId}.json`);
  const collectedAt = deps.now().toISOString();
  const put = await putEvidence(s3, {
    bucket,
    key,
    body,
    sha256,
    contentType: 'application/json',
    metadata: {
      'instance-id': input.instanceId,
      since: document.window.since,
      until: document.window.until,
      regions: regions.join(','),
      events: String(events.length),
      'collected-at': collectedAt,
      collector: deps.settings.collector,
      'incident-id': request.incidentId,
      actor: request.actor,
    },
  });

  // Flag with the same rules the analysis uses, over the document just stored.
  const parsed = parseArtifact('cloudtrail', body);
  const ctx = buildMatchContext({ instanceAddresses: [...addresses] });
  const rules = ANALYSIS_RULES.filter((r) => (CLOUDTRAIL_FLAG_RULES as readonly string[]).includes(r.id));
  const hitsByRecord = new Map<number, { rules: string[]; severity: Severity }>();
  for (const hit of applyRules('cloudtrail', parsed, ctx, rules)) {
    for (const rec of hit.records) {
      const cur = hitsByRecord.get(rec.n) ?? { rules: [], severity: hit.rule.severity };
      cur.rules.push(hit.rule.id);
      if (SEVERITY_RANK[hit.rule.severity] < SEVERITY_RANK[cur.severity]) cur.severity = hit.rule.severity;
      hitsByRecord.set(rec.n, cur);
    }
  }
  const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
  const flaggedAll: FlaggedCall[] = parsed.records
    .filter((rec) => hitsByRecord.has(rec.n))
    .map((rec) => {
      const f = rec.fields;
      const hit = hitsByRecord.get(rec.n)!;
      return {
        eventId: str(f.eventId),
        eventTime: typeof f.eventTimeMs === 'number' ? new Date(f.eventTimeMs).toISOString() : undefined,
        eventName: str(f.eventName),
        eventSource: str(f.eventSource),
        region: str(f.region),
        sourceIPAddress: str(f.sourceIPAddress),
        userAgent: str(f.userAgent),
        accessKeyId: str(f.accessKeyId),
        errorCode: str(f.errorCode),
        severity: hit.severity,
        rules: hit.rules,
      };
    });
  const iamPersistence = flaggedAll.filter((f) => f.rules.includes('cloudtrail-iam-persistence')).length;
  const outsideAws = flaggedAll.filter((f) => f.rules.includes('cloudtrail-call-from-outside-aws')).length;
  if (flaggedAll.length > FLAGGED_MAX) notes.push(`${flaggedAll.length} calls were flagged; the first ${FLAGGED_MAX} are listed here, all are in the stored events`);

  const evidence: EvidenceItem = {
    kind: 'cloudtrail',
    location: put.location,
    sha256,
    size: Buffer.byteLength(body),
    collector: deps.settings.collector,
    collectedAt,
    source: { instanceId: input.instanceId, since: document.window.since, until: document.window.until, regions: regions.join(','), lookups: document.lookups.join(' ') },
  };
  const details: PullCloudTrailDetails = {
    instanceId: input.instanceId,
    window: document.window,
    regions,
    queries,
    counts: { events: events.length, flagged: flaggedAll.length, iamPersistence, outsideAws, otherIdentity, truncated },
    flagged: flaggedAll.slice(0, FLAGGED_MAX),
    instanceAddresses: [...addresses],
    location: put.location,
    sha256,
    alreadyStored: !put.created,
    evidence,
    notes,
  };
  const flaggedText = flaggedAll.length ? `${flaggedAll.length} flagged (${iamPersistence} IAM persistence, ${outsideAws} from outside AWS)` : 'none flagged';
  return succeeded(`${events.length} CloudTrail event(s) of ${input.instanceId}${truncated ? ' (truncated)' : ''} stored at ${put.location}; ${flaggedText}`, details);
}

export const pullCloudTrailAction = defineAction({
  id: 'pull-cloudtrail',
  description:
    "Look up the CloudTrail events made with the compromised instance's role credentials in the incident window (in the region and in us-east-1), store them as evidence, and flag IAM persistence and calls from outside AWS.",
  permissions: {
    iam: [
      'cloudtrail:LookupEvents',
      // Optional: the instance's own public addresses (its calls from them are not "outside AWS").
      'ec2:DescribeInstances',
      // evidence/* write-once; GetObject for the HeadObject that checks an existing object on a rerun.
      's3:PutObject',
      's3:GetObject',
    ],
    rbac: [],
  },
  input: inputSchema,
  run: (request, deps) => pullCloudTrail(request, deps),
});
