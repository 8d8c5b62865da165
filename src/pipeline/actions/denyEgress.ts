import { isIP } from 'node:net';
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
  type NetworkAclEntry,
} from '@aws-sdk/client-ec2';
import type { S3Client } from '@aws-sdk/client-s3';
import { z } from 'zod';
import {
  AwsError,
  ConfigError,
  ConflictError,
  describeError,
  LimitExceededError,
  NotFoundError,
  ProtectedTargetError,
  ValidationError,
} from '../../errors.js';
import {
  blockRecordSchema,
  ipAddressSchema,
  normalizeCidr,
  normalizeIp,
  recordBlock,
  type BlockRecord,
  type BlockRegistry,
  type RecordBlockResult,
} from '../blocks/blockRegistry.js';
import { planNaclRule, type NaclDenyTarget, type NaclEntry } from '../planning/planNaclRule.js';
import { checkProtectedDestination } from '../planning/protectedDestination.js';
import { parseActionInput } from './parseActionInput.js';
import { defineAction, planned, skipped, succeeded, type ActionDeps, type ActionRequest, type ActionResult } from './types.js';

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
    /** When the block should be lifted; recorded, not enforced by this action. */
    expiresAt: z.iso.datetime({ offset: true }).optional(),
    reason: z.string().trim().min(1).max(1000).optional(),
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
  // Only to take the new rule out again when its block record cannot be written.
  'ec2:DeleteNetworkAclEntry',
  's3:PutObject',
];

// ---------------------------------------------------------------------------
// EC2 helpers shared with unblock-egress.

/** The AWS error code of a thrown SDK error (`NetworkAclEntryAlreadyExists`, …). */
export function awsErrorCode(err: unknown): string | undefined {
  const e = err as { name?: unknown; Code?: unknown } | undefined;
  if (typeof e?.Code === 'string') return e.Code;
  return typeof e?.name === 'string' ? e.name : undefined;
}

/** Runs an EC2 call; `*.NotFound` becomes NotFoundError, `*.Malformed` ValidationError, anything else AwsError. */
export async function ec2Call<T>(what: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    const code = awsErrorCode(err) ?? '';
    if (code.endsWith('.NotFound')) throw new NotFoundError(`${what}: not found (${code})`, { cause: err, details: { awsCode: code } });
    if (code.endsWith('.Malformed')) throw new ValidationError(`${what}: malformed id (${code})`, { cause: err, details: { awsCode: code } });
    throw new AwsError(`${what} failed: ${describeError(err)}`, { cause: err, details: { awsCode: code } });
  }
}

export async function readNacl(ec2: EC2Client, naclId: string): Promise<NetworkAcl> {
  const out = await ec2Call(`network ACL ${naclId}`, () => ec2.send(new DescribeNetworkAclsCommand({ NetworkAclIds: [naclId] })));
  const nacl = out.NetworkAcls?.find((n) => n.NetworkAclId === naclId);
  if (!nacl) throw new NotFoundError(`network ACL ${naclId}: not found`);
  return nacl;
}

/** EC2 reports protocols by number, but accepts (and some emulators echo) names. */
export function normalizeProtocol(protocol: string | undefined): string {
  const p = (protocol ?? '').toLowerCase();
  return ({ tcp: '6', udp: '17', icmp: '1', icmpv6: '58', all: '-1' } as Record<string, string>)[p] ?? p;
}

/** EC2's entries in the shape planning uses (CIDRs canonical, protocols as numbers). */
export function toNaclEntries(entries: readonly NetworkAclEntry[]): NaclEntry[] {
  const out: NaclEntry[] = [];
  for (const e of entries) {
    if (e.RuleNumber === undefined) continue;
    out.push({
      ruleNumber: e.RuleNumber,
      egress: e.Egress === true,
      action: e.RuleAction === 'deny' ? 'deny' : 'allow',
      protocol: normalizeProtocol(e.Protocol),
      ...(e.CidrBlock ? { cidr: normalizeCidr(e.CidrBlock) } : {}),
      ...(e.Ipv6CidrBlock ? { ipv6Cidr: normalizeCidr(e.Ipv6CidrBlock) } : {}),
      ...(e.PortRange?.From !== undefined && e.PortRange.To !== undefined ? { portRange: { from: e.PortRange.From, to: e.PortRange.To } } : {}),
    });
  }
  return out;
}

/** The entry sentinel creates for a block, as it must still look to be sentinel's. */
export interface ExpectedEntry {
  ruleNumber: number;
  cidr: string;
  ipv6: boolean;
  portRange: { from: number; to: number };
}

/** Whether an entry is exactly the egress TCP deny sentinel created (same number, CIDR, ports). */
export function entryMatches(entry: NetworkAclEntry, expected: ExpectedEntry): boolean {
  const [e] = toNaclEntries([entry]);
  if (!e) return false;
  const cidr = expected.ipv6 ? e.ipv6Cidr : e.cidr;
  const other = expected.ipv6 ? e.cidr : e.ipv6Cidr;
  return (
    e.egress &&
    e.ruleNumber === expected.ruleNumber &&
    e.action === 'deny' &&
    e.protocol === '6' &&
    cidr === normalizeCidr(expected.cidr) &&
    other === undefined &&
    e.portRange?.from === expected.portRange.from &&
    e.portRange?.to === expected.portRange.to
  );
}

/** A short description of an entry for reports: `deny tcp 203.0.113.7/32 ports 0-65535`. */
export function describeEntry(entry: NetworkAclEntry): string {
  const [e] = toNaclEntries([entry]);
  if (!e) return 'an entry without a rule number';
  const proto = e.protocol === '6' ? 'tcp' : e.protocol === '17' ? 'udp' : e.protocol === '-1' ? 'all protocols' : `protocol ${e.protocol}`;
  const ports = e.portRange ? ` ports ${e.portRange.from}-${e.portRange.to}` : '';
  return `${e.action} ${proto} ${e.cidr ?? e.ipv6Cidr ?? '?'}${ports}`;
}

export function egressEntryAt(nacl: NetworkAcl, ruleNumber: number): NetworkAclEntry | undefined {
  return (nacl.Entries ?? []).find((e) => e.Egress === true && e.RuleNumber === ruleNumber);
}

export const portLabel = (port: number | null | undefined) => (port == null ? 'all TCP ports' : `tcp/${port}`);

// ---------------------------------------------------------------------------

interface LocatedNacl {
  nacl: NetworkAcl;
  naclId: string;
  vpcId: string;
  source: string;
}

async function findInstance(ec2: EC2Client, ref: string, label: string): Promise<Instance> {
  const id = INSTANCE_ID.test(ref) ? ref : PROVIDER_ID.exec(ref)?.[1];
  if (id) {
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
  const gone = (state: string | undefined) => state === 'disassociated' || state === 'failed';
  const cidrs = [
    vpc.CidrBlock,
    ...(vpc.CidrBlockAssociationSet ?? []).filter((a) => !gone(a.CidrBlockState?.State)).map((a) => a.CidrBlock),
    ...(vpc.Ipv6CidrBlockAssociationSet ?? []).filter((a) => !gone(a.Ipv6CidrBlockState?.State)).map((a) => a.Ipv6CidrBlock),
  ];
  return [...new Set(cidrs.filter((c): c is string => typeof c === 'string' && c.length > 0))];
}

function refuseProtected(ip: string, opts: { vpcCidrs?: readonly string[]; allowlist?: readonly string[] }): void {
  const check = checkProtectedDestination(ip, opts);
  if (check.protected) {
    throw new ProtectedTargetError(`refusing to deny egress to ${ip}: ${check.reason ?? 'protected destination'}`, { details: { ip } });
  }
}

function parseInput(raw: unknown): DenyEgressInput {
  return parseActionInput(inputSchema, raw, 'deny-egress');
}

function requireClients(deps: ActionDeps): { ec2: EC2Client; registry: BlockRegistry } {
  const ec2 = deps.aws.ec2;
  if (!ec2) throw new ConfigError('AWS is not configured (no EC2 client): cannot deny egress');
  const bucket = deps.settings.evidenceBucket;
  if (!bucket) {
    throw new ConfigError('SENTINEL_EVIDENCE_BUCKET is not set: deny-egress records every rule it creates there (so unblock-egress can remove exactly it) and will not create an unrecorded rule');
  }
  const s3: S3Client | undefined = deps.aws.s3;
  if (!s3) throw new ConfigError('AWS is not configured (no S3 client): cannot record the block');
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

/**
 * Denies TCP egress to one IP address (one port, or all TCP ports) with a network ACL
 * egress rule placed below the first egress allow rule, so it actually wins. Finds the
 * network ACL (input naclId, SENTINEL_NACL_ID, or the one of the subnet of the node's
 * instance), refuses protected destinations (built-in ranges, the allowlist, the VPC's own
 * CIDRs) before any write, and records the rule in the block registry so unblock-egress can
 * remove exactly it. Idempotent: a deny that already wins is `skipped`.
 */
export async function denyEgress(request: ActionRequest<DenyEgressInput>, deps: ActionDeps): Promise<ActionResult<DenyEgressDetails>> {
  const input = parseInput(request.input);
  const ip = normalizeIp(input.ip);
  const ipv6 = isIP(ip) === 6;
  const cidr = `${ip}/${ipv6 ? 128 : 32}`;
  const port = input.port ?? null;
  const portRange = { from: input.port ?? 0, to: input.port ?? 65535 };
  const what = `${ip} ${portLabel(port)}`;

  // Refusals that need no AWS call: built-in ranges and the configured allowlist.
  refuseProtected(ip, { allowlist: deps.settings.egressAllowlist });
  const now = deps.now();
  if (input.expiresAt && Date.parse(input.expiresAt) <= now.getTime()) {
    throw new ValidationError(`expiresAt ${input.expiresAt} is not in the future`);
  }
  if (!request.actor || !request.incidentId) throw new ValidationError('deny-egress needs an actor and an incident id to record the block');
  const { ec2, registry } = requireClients(deps);

  // Preflight: the network ACL, the VPC's own ranges, the plan.
  const located = await locateNacl(ec2, input, deps.settings.naclId);
  const { naclId, vpcId } = located;
  refuseProtected(ip, { vpcCidrs: await vpcCidrs(ec2, vpcId), allowlist: deps.settings.egressAllowlist });

  const target: NaclDenyTarget = { cidr, ipv6, ...(input.port !== undefined ? { port: input.port } : {}) };
  const subnetIds = (located.nacl.Associations ?? []).map((a) => a.SubnetId).filter((s): s is string => Boolean(s));
  const base = { ip, cidr, port, naclId, vpcId, naclSource: located.source, subnetIds };
  const recordFor = (ruleNumber: number): BlockRecord => ({
    version: 1,
    kind: 'nacl-egress-deny',
    ip,
    cidr,
    ipv6,
    port,
    protocol: '6',
    portRange,
    naclId,
    ruleNumber,
    vpcId,
    actor: request.actor,
    reason: request.reason ?? input.reason ?? null,
    incidentId: request.incidentId,
    createdAt: now.toISOString(),
    expiresAt: input.expiresAt ? new Date(input.expiresAt).toISOString() : null,
  });

  let nacl = located.nacl;
  let created: { ruleNumber: number; firstAllow: number | null; attempts: number } | undefined;
  for (let attempt = 1; !created; attempt++) {
    const plan = planNaclRule(toNaclEntries(nacl.Entries ?? []), target, deps.settings.naclMaxRules);
    if (plan.kind === 'exists') {
      return skipped(`egress to ${what} is already denied: ${plan.reason} in ${naclId}`, {
        ...base,
        ruleNumber: plan.ruleNumber,
        firstAllow: null,
        created: false,
        record: null,
        attempts: attempt,
        note: plan.reason,
      });
    }
    const placement = plan.firstAllow === null ? 'no egress allow rule to precede' : `before allow rule ${plan.firstAllow}`;
    if (request.dryRun) {
      return planned(`would deny egress to ${what} with rule ${plan.ruleNumber} of ${naclId} (${placement})`, {
        ...base,
        ruleNumber: plan.ruleNumber,
        firstAllow: plan.firstAllow,
        created: false,
        record: null,
        attempts: attempt,
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
  let stored: RecordBlockResult;
  try {
    stored = await recordBlock(registry, record);
  } catch (err) {
    if (!(err instanceof ConflictError && err.code === 'BlockRecordExists')) return rollBack(ec2, naclId, expected, err, deps);
    // The rule number was free a moment ago, so the rule the old record describes is gone: it is stale.
    deps.logger.warn('replacing a stale block record', { naclId, ruleNumber: created.ruleNumber, ip });
    try {
      stored = await recordBlock(registry, record, { replace: true });
    } catch (again) {
      return rollBack(ec2, naclId, expected, again, deps);
    }
  }

  const placement = created.firstAllow === null ? '' : ` (before allow rule ${created.firstAllow})`;
  const scope = subnetIds.length ? `; applies to ${subnetIds.join(', ')}` : '';
  return succeeded(`denied egress to ${what} with rule ${created.ruleNumber} of ${naclId}${placement}${scope}; recorded at ${stored.location}`, {
    ...base,
    ruleNumber: created.ruleNumber,
    firstAllow: created.firstAllow,
    created: true,
    record: stored.location,
    attempts: created.attempts,
    ...(stored.replaced ? { replacedStaleRecord: true } : {}),
  });
}

export const denyEgressAction = defineAction({
  id: 'deny-egress',
  description:
    'Deny TCP egress to one IP address (one port or all ports) with a network ACL rule placed before the first egress allow rule, ' +
    'and record it so unblock-egress removes exactly that rule. Applies to every subnet associated with the network ACL. ' +
    'Refuses private, link-local, loopback, multicast and reserved addresses, the VPC\'s own ranges and the egress allowlist.',
  permissions: { iam: DENY_EGRESS_IAM, rbac: [] },
  input: inputSchema,
  run: denyEgress,
});
