import {
  CreateNetworkAclEntryCommand,
  DeleteNetworkAclEntryCommand,
  DescribeInstancesCommand,
  DescribeNetworkAclsCommand,
  DescribeSubnetsCommand,
  DescribeVpcsCommand,
  type EC2Client,
  type Instance,
  type NetworkAcl,
} from '@aws-sdk/client-ec2';
import type { S3Client } from '@aws-sdk/client-s3';
import { z } from 'zod';
import {
  AwsError,
  AwsNotConfiguredError,
  ConfigError,
  ConflictError,
  describeError,
  LimitExceededError,
  NotFoundError,
  ValidationError,
} from '../../../errors.js';
import { blockIdOf, blockRecordSchema, listAllBlocks, recordBlock, type BlockRegistry, type RecordBlockResult, type StoredBlock } from '../../blocks/blockRegistry.js';
import { describeLift, liftBlock } from '../../blocks/liftBlock.js';
import { awsErrorCode, describeEntry, ec2Call, egressEntryAt, entryMatches, readNacl, toNaclEntries, type ExpectedEntry } from '../../blocks/naclEntries.js';
import { bundledAwsIpRanges } from '../../net/awsIpRanges.js';
import { ipAddressSchema } from '../../net/ipAddress.js';
import {
  blockExpiry,
  denyTarget,
  naclBlockRecord,
  naclSubnetIds,
  parseInstanceRef,
  placementAfterEviction,
  placementText,
  planDenyStep,
  refuseProtectedEgress,
  sentinelBlocksIn,
  vpcCidrsOf,
} from '../../planning/planEgressDeny.js';
import { SEVERITIES } from '../../triage/types.js';
import { CLUSTER_EGRESS_RBAC, denyEgressInCluster, type ClusterDenyEgressDetails } from './denyEgressInCluster.js';
import { parseActionInput } from '../parseActionInput.js';
import { defineAction, planned, skipped, succeeded, type ActionDeps, type ActionRequest, type ActionResult } from '../types.js';

const INSTANCE_ID = /^i-[0-9a-f]{8,17}$/;
/** A Kubernetes node's `spec.providerID` on EKS: `aws:///<zone>/<instance id>`. */
const PROVIDER_ID = /^aws:\/\/\/[a-z0-9-]*\/(i-[0-9a-f]{8,17})$/;
/** A lower-case DNS name (Kubernetes node names on EKS are the instance's private DNS name). */
const DNS_NAME = /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;

export const portSchema = z.number().int().min(1).max(65535);

const inputSchema = z
  .strictObject({
    /** The destination to deny. */
    ip: ipAddressSchema,
    /** One TCP port; all TCP ports when absent. */
    port: portSchema.optional(),
    /** Kubernetes node name (= private DNS name), instance id, or `aws:///<zone>/i-…` provider id. */
    node: z
      .string()
      .refine(
        (v) => PROVIDER_ID.test(v) || INSTANCE_ID.test(v) || DNS_NAME.test(v),
        'a node name (private DNS name), an instance id or an aws:///<zone>/<instance id> provider id',
      )
      .optional(),
    instanceId: z.string().regex(INSTANCE_ID, 'an instance id (i-…)').optional(),
    subnetId: z.string().regex(/^subnet-[0-9a-f]{8,17}$/, 'a subnet id (subnet-…)').optional(),
    naclId: z.string().regex(/^acl-[0-9a-f]{8,17}$/, 'a network ACL id (acl-…)').optional(),
    /** When the block is lifted (the expiry sweeper lifts it); now + SENTINEL_BLOCK_TTL_HOURS when absent. */
    expiresAt: z.iso.datetime({ offset: true }).optional(),
    reason: z.string().trim().min(1).max(1000).optional(),
    /** The incident's triage severity: when the ACL is full, the lowest-severity block of sentinel's is evicted first. */
    severity: z.enum(SEVERITIES).optional(),
  })
  .refine((v) => [v.node, v.instanceId, v.subnetId, v.naclId].filter((x) => x !== undefined).length <= 1, {
    message: 'give at most one of node, instanceId, subnetId, naclId',
  });

export type DenyEgressInput = z.output<typeof inputSchema>;

export interface DenyEgressDetails {
  ip: string;
  cidr: string;
  /** The TCP port denied; null for all TCP ports. */
  port: number | null;
  naclId: string;
  vpcId: string;
  /** How the network ACL was found (setting, input, subnet, instance). */
  naclSource: string;
  /** Subnets associated with the network ACL: the deny applies to all of their traffic. */
  subnetIds: string[];
  ruleNumber: number;
  /** The lowest egress allow rule of the address family the deny sits below; null when none. */
  firstAllow: number | null;
  /** This run created the rule. */
  created: boolean;
  /** Where the block record is (`s3://…`); null when nothing was recorded. */
  record: string | null;
  /** Plans made (more than one when another writer took the chosen rule number). */
  attempts: number;
  /** Why nothing was created, when nothing was. */
  note?: string;
  /** A stale record at the same key (its rule had been removed by hand) was overwritten. */
  replacedStaleRecord?: boolean;
  /** The block's id (`<ip>/<naclId>/<ruleNumber>`): `/unblock block:` lifts exactly it. */
  blockId?: string;
  /** When the block expires (ISO 8601). */
  expiresAt?: string;
  /** A playbook step acted by itself (actor `stepfunctions:…`), not a person's decision. */
  automatic: boolean;
  /** The block of sentinel's that was lifted (or, in a dry run, would be) to make room in a full ACL. */
  evicted?: EvictedBlock;
}

/** One of sentinel's own blocks taken out of a full network ACL to make room. */
export interface EvictedBlock {
  id: string;
  ip: string;
  ruleNumber: number;
  naclId: string;
  severity: string | null;
  createdAt: string;
  expiresAt: string | null;
  /** Why this one: it expired, or its severity is the lowest. */
  why: string;
  /** What lifting it did (or would do). */
  outcome: string;
}

/** How many times to re-read and re-plan when another writer takes the chosen rule number. */
export const DENY_EGRESS_MAX_ATTEMPTS = 3;

/** Exactly the calls deny-egress makes. */
export const DENY_EGRESS_IAM = [
  'ec2:DescribeInstances',
  'ec2:DescribeSubnets',
  'ec2:DescribeNetworkAcls',
  'ec2:DescribeVpcs',
  'ec2:CreateNetworkAclEntry',
  // To take the new rule out again when its block record cannot be written, and to evict an
  // expired or lower-severity block of sentinel's from a full network ACL.
  'ec2:DeleteNetworkAclEntry',
  's3:PutObject',
  // Eviction: find sentinel's blocks in the ACL (records), and forget the evicted one.
  's3:ListBucket',
  's3:GetObject',
  's3:DeleteObject',
];


interface LocatedNacl {
  nacl: NetworkAcl;
  naclId: string;
  vpcId: string;
  source: string;
}

async function findInstance(ec2: EC2Client, ref: string, label: string): Promise<Instance> {
  const parsed = parseInstanceRef(ref);
  if ('instanceId' in parsed) {
    const id = parsed.instanceId;
    const out = await ec2Call(`${label} ${ref}`, () => ec2.send(new DescribeInstancesCommand({ InstanceIds: [id] })));
    const instance = out.Reservations?.flatMap((r) => r.Instances ?? []).find((i) => i.InstanceId === id);
    if (!instance) throw new NotFoundError(`${label} ${ref}: no such instance`);
    return instance;
  }
  const out = await ec2Call(`${label} ${ref}`, () =>
    ec2.send(
      new DescribeInstancesCommand({
        Filters: [
          { Name: 'private-dns-name', Values: [ref] },
          { Name: 'instance-state-name', Values: ['pending', 'running', 'stopping', 'stopped'] },
        ],
      }),
    ),
  );
  const found = out.Reservations?.flatMap((r) => r.Instances ?? []) ?? [];
  if (found.length === 0) throw new NotFoundError(`${label} ${ref}: no instance has this private DNS name`, { details: { node: ref } });
  if (found.length > 1) {
    throw new ConflictError(`${label} ${ref}: ${found.length} instances have this private DNS name (${found.map((i) => i.InstanceId).join(', ')}); give the instance id`);
  }
  return found[0]!;
}

/** The network ACL a subnet uses: its associated one, else the VPC's default. */
async function naclOfSubnet(ec2: EC2Client, subnetId: string): Promise<NetworkAcl> {
  const associated = await ec2Call(`network ACL of subnet ${subnetId}`, () =>
    ec2.send(new DescribeNetworkAclsCommand({ Filters: [{ Name: 'association.subnet-id', Values: [subnetId] }] })),
  );
  const direct = associated.NetworkAcls?.find((n) => n.Associations?.some((a) => a.SubnetId === subnetId)) ?? associated.NetworkAcls?.[0];
  if (direct) return direct;
  // No explicit association: the subnet uses its VPC's default network ACL.
  const subnets = await ec2Call(`subnet ${subnetId}`, () => ec2.send(new DescribeSubnetsCommand({ SubnetIds: [subnetId] })));
  const vpcId = subnets.Subnets?.find((s) => s.SubnetId === subnetId)?.VpcId;
  if (!vpcId) throw new NotFoundError(`subnet ${subnetId}: not found`);
  const defaults = await ec2Call(`default network ACL of ${vpcId}`, () =>
    ec2.send(new DescribeNetworkAclsCommand({ Filters: [{ Name: 'vpc-id', Values: [vpcId] }, { Name: 'default', Values: ['true'] }] })),
  );
  const fallback = defaults.NetworkAcls?.[0];
  if (!fallback) throw new NotFoundError(`subnet ${subnetId} has no network ACL and ${vpcId} has no default one`);
  return fallback;
}

async function locateNacl(ec2: EC2Client, input: DenyEgressInput, settingsNaclId: string | undefined): Promise<LocatedNacl> {
  let nacl: NetworkAcl;
  let source: string;
  if (input.naclId) {
    nacl = await readNacl(ec2, input.naclId);
    source = 'input naclId';
  } else if (settingsNaclId) {
    nacl = await readNacl(ec2, settingsNaclId);
    source = 'SENTINEL_NACL_ID';
  } else if (input.subnetId) {
    nacl = await naclOfSubnet(ec2, input.subnetId);
    source = `subnet ${input.subnetId}`;
  } else if (input.instanceId || input.node) {
    const ref = (input.instanceId ?? input.node)!;
    const instance = await findInstance(ec2, ref, input.instanceId ? 'instance' : 'node');
    if (!instance.SubnetId) throw new NotFoundError(`instance ${instance.InstanceId} is in no subnet`);
    nacl = await naclOfSubnet(ec2, instance.SubnetId);
    source = `${input.node ? `node ${input.node}: ` : ''}instance ${instance.InstanceId} in subnet ${instance.SubnetId}`;
  } else {
    throw new ValidationError('say whose network ACL to use: give node, instanceId, subnetId or naclId (or set SENTINEL_NACL_ID)');
  }
  if (!nacl.NetworkAclId || !nacl.VpcId) throw new AwsError(`EC2 described a network ACL without an id or VPC (${source})`);
  return { nacl, naclId: nacl.NetworkAclId, vpcId: nacl.VpcId, source };
}

/** Every CIDR the VPC holds or is acquiring (IPv4 associations and IPv6 blocks). */
async function vpcCidrs(ec2: EC2Client, vpcId: string): Promise<string[]> {
  const out = await ec2Call(`VPC ${vpcId}`, () => ec2.send(new DescribeVpcsCommand({ VpcIds: [vpcId] })));
  const vpc = out.Vpcs?.find((v) => v.VpcId === vpcId);
  if (!vpc) throw new NotFoundError(`VPC ${vpcId}: not found`);
  return vpcCidrsOf(vpc);
}

function refuseProtected(ip: string, deps: ActionDeps, vpc?: readonly string[]): void {
  const awsRanges = deps.awsRanges?.current() ?? bundledAwsIpRanges(deps.settings.awsIpRangesBlockableServices);
  refuseProtectedEgress(ip, { allowlist: deps.settings.egressAllowlist, awsRanges, ...(vpc ? { vpcCidrs: vpc } : {}) });
}

function parseInput(raw: unknown): DenyEgressInput {
  return parseActionInput(inputSchema, raw, 'deny-egress');
}

function requireClients(deps: ActionDeps): { ec2: EC2Client; registry: BlockRegistry } {
  const ec2 = deps.aws.ec2;
  if (!ec2) throw new AwsNotConfiguredError('EC2', 'cannot deny egress');
  const bucket = deps.settings.evidenceBucket;
  if (!bucket) {
    throw new ConfigError('SENTINEL_EVIDENCE_BUCKET is not set: deny-egress records every rule it creates there (so unblock-egress can remove exactly it) and will not create an unrecorded rule');
  }
  const s3: S3Client | undefined = deps.aws.s3;
  if (!s3) throw new AwsNotConfiguredError('S3', 'cannot record the block');
  return { ec2, registry: { s3, bucket } };
}

/** Takes a just-created rule out again after its record could not be written; always throws. */
async function rollBack(ec2: EC2Client, naclId: string, expected: ExpectedEntry, cause: unknown, deps: ActionDeps): Promise<never> {
  const why = describeError(cause);
  let problem: string | undefined;
  try {
    const entry = egressEntryAt(await readNacl(ec2, naclId), expected.ruleNumber);
    if (!entry) {
      problem = 'it is gone already';
    } else if (!entryMatches(entry, expected)) {
      problem = `it was changed meanwhile (now ${describeEntry(entry)}), so it was left alone`;
    } else {
      await ec2Call(`removing rule ${expected.ruleNumber} from ${naclId}`, () =>
        ec2.send(new DeleteNetworkAclEntryCommand({ NetworkAclId: naclId, RuleNumber: expected.ruleNumber, Egress: true })),
      );
    }
  } catch (err) {
    problem = `removing it failed: ${describeError(err)}`;
  }
  const details = { naclId, ruleNumber: expected.ruleNumber, cidr: expected.cidr, rolledBack: problem === undefined };
  if (problem === undefined || problem === 'it is gone already') {
    deps.logger.warn('deny-egress rolled back an unrecorded rule', details);
    throw new AwsError(`could not record the block (${why}); rule ${expected.ruleNumber} was taken out of ${naclId} again, so nothing is blocked`, {
      cause,
      details,
    });
  }
  deps.logger.error('deny-egress left an unrecorded rule', { ...details, problem });
  throw new AwsError(
    `could not record the block (${why}) and could not take rule ${expected.ruleNumber} out of ${naclId} again (${problem}): check that rule by hand`,
    { cause, details },
  );
}

/** sentinel's blocks in this ACL and address family whose rules are still exactly its deny: all that eviction may take. */
async function evictionCandidates(registry: BlockRegistry, nacl: NetworkAcl, naclId: string, ipv6: boolean, deps: ActionDeps) {
  const blocks = await listAllBlocks(registry, (key, reason) => deps.logger.warn('skipping an invalid block record', { key, reason }));
  return sentinelBlocksIn(blocks, nacl, naclId, ipv6);
}

/**
 * What every backend checks before anything else: protected destinations that need no call
 * (built-in ranges, the configured allowlist, AWS's ranges), the expiry, who asked and for which
 * incident. Returns the block's expiry (input, or now + SENTINEL_BLOCK_TTL_HOURS).
 */
function checkBlockRequest(input: DenyEgressInput, request: ActionRequest<DenyEgressInput>, deps: ActionDeps): { now: Date; expiresAt: string } {
  refuseProtected(input.ip, deps);
  const now = deps.now();
  const expiresAt = blockExpiry(input.expiresAt, now, deps.settings.blockTtlHours);
  if (!request.actor || !request.incidentId) throw new ValidationError('deny-egress needs an actor and an incident id to record the block');
  return { now, expiresAt };
}

/**
 * deny-egress as the registry runs it: with SENTINEL_EGRESS_BACKEND (deps.settings.egressBackend)
 * `nacl` a network ACL rule (denyEgress below), with `cilium` or `calico` one cluster-wide policy
 * (denyEgressInCluster.ts). Both refuse the same protected destinations, record the block with its
 * expiry for unblock-egress and the sweeper, and are idempotent.
 */
export async function denyEgressByBackend(request: ActionRequest<DenyEgressInput>, deps: ActionDeps): Promise<ActionResult<DenyEgressDetails | ClusterDenyEgressDetails>> {
  const backend = deps.settings.egressBackend;
  if (backend === 'nacl') return denyEgress(request, deps);
  const input = parseInput(request.input);
  const { expiresAt } = checkBlockRequest(input, request, deps);
  return denyEgressInCluster(backend, { ...request, input }, deps, { expiresAt, automatic: request.actor.startsWith('stepfunctions:') });
}

/**
 * Denies TCP egress to one IP address (one port, or all TCP ports) with a network ACL
 * egress rule placed below the first egress allow rule, so it actually wins. Finds the
 * network ACL (input naclId, SENTINEL_NACL_ID, or the one of the subnet of the node's
 * instance), refuses protected destinations (built-in ranges, the allowlist, the VPC's own
 * CIDRs, AWS's published ranges; every IPv4-carrying form judged as its IPv4 address) before
 * any write, and records the rule in the block registry, with its expiry (SENTINEL_BLOCK_TTL_HOURS
 * unless the input says) and severity, so unblock-egress and the expiry sweeper remove exactly it.
 * Room: an automatic block (actor `stepfunctions:…`) stops SENTINEL_NACL_HEADROOM rules short of
 * the quota, anyone else's may fill it; without room, sentinel's own oldest expired or
 * lowest-severity block in the ACL is evicted (never the customer's rules), and when nothing may
 * go an automatic block fails with `NeedsApproval.Quota` for the playbook to ask a person.
 * Idempotent: a deny that already wins is `skipped`.
 */
export async function denyEgress(request: ActionRequest<DenyEgressInput>, deps: ActionDeps): Promise<ActionResult<DenyEgressDetails>> {
  const input = parseInput(request.input);
  const t = denyTarget(input.ip, input.port);
  const { ip, cidr, ipv6, port, portRange, what } = t;
  const automatic = request.actor.startsWith('stepfunctions:');
  const severity = input.severity ?? null;

  const { now, expiresAt } = checkBlockRequest(input, request, deps);
  const { ec2, registry } = requireClients(deps);

  // Preflight: the network ACL, the VPC's own ranges, the plan.
  const located = await locateNacl(ec2, input, deps.settings.naclId);
  const { naclId, vpcId } = located;
  refuseProtected(ip, deps, await vpcCidrs(ec2, vpcId));

  const subnetIds = naclSubnetIds(located.nacl);
  const base = { ip, cidr, port, naclId, vpcId, naclSource: located.source, subnetIds, automatic };
  const recordFor = (ruleNumber: number) =>
    naclBlockRecord(t, { naclId, vpcId, ruleNumber }, { actor: request.actor, reason: request.reason ?? input.reason ?? null, incidentId: request.incidentId, createdAt: now.toISOString(), expiresAt, severity });
  const room = { maxRules: deps.settings.naclMaxRules, headroom: deps.settings.naclHeadroom, automatic, severity, now, naclId };

  let nacl = located.nacl;
  let evicted: EvictedBlock | undefined;
  let created: { ruleNumber: number; firstAllow: number | null; attempts: number } | undefined;
  for (let attempt = 1; !created; attempt++) {
    const entries = toNaclEntries(nacl.Entries ?? []);
    // Room for one more rule; at most one eviction per run.
    let step = planDenyStep(entries, t, room, evicted ? [] : undefined);
    let stored: Map<string, StoredBlock> = new Map();
    if (step.kind === 'look-for-eviction') {
      const found = await evictionCandidates(registry, nacl, naclId, ipv6, deps);
      stored = found.byKey;
      step = planDenyStep(entries, t, room, found.candidates);
    }
    if (step.kind === 'exists') {
      return skipped(`egress to ${what} is already denied: ${step.reason} in ${naclId}`, {
        ...base,
        ruleNumber: step.ruleNumber,
        firstAllow: null,
        created: false,
        record: null,
        attempts: attempt,
        note: step.reason,
        ...(evicted ? { evicted } : {}),
      });
    }
    if (step.kind === 'needs-approval') {
      throw new LimitExceededError(step.reason, { code: 'NeedsApproval.Quota', details: { naclId, used: step.used, maxRules: room.maxRules, headroom: room.headroom } });
    }
    if (step.kind === 'full') throw new LimitExceededError(step.reason, { code: 'NaclFull', details: { naclId } });
    if (step.kind === 'look-for-eviction') throw new Error('unreachable: eviction candidates were looked up');
    if (step.kind === 'evict') {
      const victim = stored.get(step.victim.key)!;
      const about = {
        id: blockIdOf(victim.key),
        ip: victim.record.ip,
        ruleNumber: victim.record.ruleNumber,
        naclId,
        severity: victim.record.severity,
        createdAt: victim.record.createdAt,
        expiresAt: victim.record.expiresAt,
        why: step.why,
      };
      if (request.dryRun) {
        const after = placementAfterEviction(entries, t, victim.record.ruleNumber);
        return planned(
          `would evict sentinel's block ${about.id} (${victim.record.ip}, rule ${about.ruleNumber}: ${step.why}) and deny egress to ${what} with rule ${after.ruleNumber} of ${naclId}`,
          { ...base, ruleNumber: after.ruleNumber, firstAllow: after.firstAllow, created: false, record: null, attempts: attempt, expiresAt, evicted: { ...about, outcome: 'would be lifted' } },
        );
      }
      const lifted = await liftBlock(ec2, registry, victim, false);
      evicted = { ...about, outcome: describeLift(lifted, false) };
      deps.logger.warn('evicted a block of sentinel\'s to make room in a full network ACL', { ...about, outcome: lifted.outcome, for: what });
      nacl = await readNacl(ec2, naclId);
      continue;
    }
    const plan = step;

    const placement = placementText(plan.firstAllow);
    if (request.dryRun) {
      return planned(`would deny egress to ${what} with rule ${plan.ruleNumber} of ${naclId} (${placement}) until ${expiresAt}`, {
        ...base,
        ruleNumber: plan.ruleNumber,
        firstAllow: plan.firstAllow,
        created: false,
        record: null,
        attempts: attempt,
        expiresAt,
      });
    }
    // Check the record before the rule exists: a record that cannot be written must not leave a rule behind.
    const draft = blockRecordSchema.safeParse(recordFor(plan.ruleNumber));
    if (!draft.success) throw new ValidationError(`cannot record this block: ${draft.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);

    try {
      await ec2.send(
        new CreateNetworkAclEntryCommand({
          NetworkAclId: naclId,
          RuleNumber: plan.ruleNumber,
          Egress: true,
          RuleAction: 'deny',
          Protocol: '6',
          PortRange: { From: portRange.from, To: portRange.to },
          ...(ipv6 ? { Ipv6CidrBlock: cidr } : { CidrBlock: cidr }),
        }),
      );
      created = { ruleNumber: plan.ruleNumber, firstAllow: plan.firstAllow, attempts: attempt };
    } catch (err) {
      const code = awsErrorCode(err);
      if (code === 'NetworkAclEntryAlreadyExists') {
        if (attempt >= DENY_EGRESS_MAX_ATTEMPTS) {
          throw new ConflictError(
            `could not deny egress to ${what}: the rule number chosen in ${naclId} was taken by another writer ${attempt} times in a row; try again`,
            { code: 'NaclRuleRace', cause: err, details: { naclId, ruleNumber: plan.ruleNumber } },
          );
        }
        deps.logger.warn('network ACL rule number taken meanwhile; re-planning', { naclId, ruleNumber: plan.ruleNumber, attempt });
        nacl = await readNacl(ec2, naclId);
        continue;
      }
      if (code === 'NetworkAclEntryLimitExceeded') {
        throw new LimitExceededError(
          `the network ACL ${naclId} is full: AWS refused another egress rule (${describeError(err)}); remove a rule or raise the quota (SENTINEL_NACL_MAX_RULES is ${deps.settings.naclMaxRules})`,
          { code: 'NaclFull', cause: err, details: { naclId } },
        );
      }
      throw new AwsError(`cannot create deny rule ${plan.ruleNumber} in ${naclId}: ${describeError(err)}`, {
        cause: err,
        details: { naclId, ruleNumber: plan.ruleNumber, awsCode: code },
      });
    }
  }

  const expected: ExpectedEntry = { ruleNumber: created.ruleNumber, cidr, ipv6, portRange };
  const record = recordFor(created.ruleNumber);
  let storedRecord: RecordBlockResult;
  try {
    storedRecord = await recordBlock(registry, record);
  } catch (err) {
    if (!(err instanceof ConflictError && err.code === 'BlockRecordExists')) return rollBack(ec2, naclId, expected, err, deps);
    // The rule number was free a moment ago, so the rule the old record describes is gone: it is stale.
    deps.logger.warn('replacing a stale block record', { naclId, ruleNumber: created.ruleNumber, ip });
    try {
      storedRecord = await recordBlock(registry, record, { replace: true });
    } catch (again) {
      return rollBack(ec2, naclId, expected, again, deps);
    }
  }

  const placement = created.firstAllow === null ? '' : ` (before allow rule ${created.firstAllow})`;
  const scope = subnetIds.length ? `; applies to ${subnetIds.join(', ')}` : '';
  const eviction = evicted ? `; to make room, evicted sentinel's block ${evicted.id} (${evicted.ip}: ${evicted.why}): ${evicted.outcome}` : '';
  return succeeded(
    `denied egress to ${what} with rule ${created.ruleNumber} of ${naclId}${placement} until ${expiresAt}${scope}; recorded at ${storedRecord.location} (block ${blockIdOf(storedRecord.key)})${eviction}`,
    {
      ...base,
      ruleNumber: created.ruleNumber,
      firstAllow: created.firstAllow,
      created: true,
      record: storedRecord.location,
      attempts: created.attempts,
      blockId: blockIdOf(storedRecord.key),
      expiresAt,
      ...(storedRecord.replaced ? { replacedStaleRecord: true } : {}),
      ...(evicted ? { evicted } : {}),
    },
  );
}

export const denyEgressAction = defineAction({
  id: 'deny-egress',
  description:
    'Deny TCP egress to one IP address (one port or all ports) with a network ACL rule placed before the first egress allow rule, ' +
    'and record it so unblock-egress removes exactly that rule. Applies to every subnet associated with the network ACL. ' +
    'With SENTINEL_EGRESS_BACKEND cilium or calico, a cluster-wide CiliumClusterwideNetworkPolicy or Calico GlobalNetworkPolicy (tier sentinel) denies every pod instead, recorded the same way; the nodes\' own addresses are refused too. ' +
    'Refuses private, link-local, loopback, multicast and reserved addresses (also in IPv4-mapped, NAT64, 6to4 and Teredo forms), the VPC\'s own ranges, ' +
    'the egress allowlist and AWS\'s published service ranges. Blocks expire (SENTINEL_BLOCK_TTL_HOURS). Automatic blocks stop SENTINEL_NACL_HEADROOM rules ' +
    'short of the quota; a full ACL evicts only sentinel\'s own oldest expired or lowest-severity block.',
  containment: true,
  // The network ACL backend's IAM; a cluster backend's RBAC (only the one configured is used).
  permissions: { iam: DENY_EGRESS_IAM, rbac: [...CLUSTER_EGRESS_RBAC.cilium, ...CLUSTER_EGRESS_RBAC.calico, ...CLUSTER_EGRESS_RBAC.nodes].map((r) => ({ ...r, apiGroups: [...r.apiGroups], resources: [...r.resources], verbs: [...r.verbs] })) },
  input: inputSchema,
  run: denyEgressByBackend,
});
