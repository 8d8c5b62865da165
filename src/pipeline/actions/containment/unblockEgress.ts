import type { EC2Client } from '@aws-sdk/client-ec2';
import { z } from 'zod';
import { AwsError, AwsNotConfiguredError, ConfigError, describeError } from '../../../errors.js';
import { requireKube } from '../../../kube/requireKube.js';
import { blockIdOf, blockKeyFromRef, listBlocks, readBlock, type BlockRegistry, type StoredBlock } from '../../blocks/blockRegistry.js';
import { clusterBlockKeyFromRef, listClusterBlocks, readClusterBlock, type StoredClusterBlock } from '../../blocks/clusterBlockRegistry.js';
import { describeLift, liftBlock, type LiftedBlock, type LiftOutcome } from '../../blocks/liftBlock.js';
import { describeClusterLift, liftClusterBlock, type LiftedClusterBlock } from '../../blocks/liftClusterBlock.js';
import { portLabel } from '../../blocks/naclEntries.js';
import { ipAddressSchema } from '../../net/ipAddress.js';
import { portSchema } from './denyEgress.js';
import { parseActionInput } from '../parseActionInput.js';
import { defineAction, planned, skipped, succeeded, type ActionDeps, type ActionRequest, type ActionResult, type RbacRule } from '../types.js';

const inputSchema = z
  .strictObject({
    /** Every block of this IP (of `port`, when given). */
    ip: ipAddressSchema.optional(),
    /** Only the block of exactly this port; every block of the IP when absent. */
    port: portSchema.optional(),
    /** Exactly one block: its id (`<ip>/<naclId>/<ruleNumber>`, or `<ip>/<cilium|calico>/<policy name>`) or its record key (`blocks/….json`). */
    block: z.string().trim().min(5).max(200).optional(),
  })
  .refine((v) => (v.ip === undefined) !== (v.block === undefined), { message: 'give either ip (and optionally port) or block, not both' })
  .refine((v) => v.block === undefined || v.port === undefined, { message: 'port goes with ip, not with block', path: ['port'] });

export type UnblockEgressInput = z.output<typeof inputSchema>;

export type UnblockOutcome = LiftOutcome;
/** A lifted network ACL block, or a lifted cluster block (which has no NACL or rule number). */
export type UnblockItem = LiftedBlock | (LiftedClusterBlock & { naclId?: undefined; ruleNumber?: undefined });

export interface UnblockEgressDetails {
  /** The IP asked for (with ip), or the IP of the one block asked for (with block). */
  ip: string | null;
  port: number | null;
  /** The one block asked for, by id (with block). */
  block?: string;
  blocks: UnblockItem[];
  /** Rules deleted (or, in a dry run, that would be). */
  rulesRemoved: number;
  /** Entries left alone because they are no longer sentinel's. */
  leftInPlace: number;
  /** Sentinel's blocks of this IP on other ports (when a port was given and none matched it). */
  otherPorts?: (number | null)[];
}

export const UNBLOCK_EGRESS_IAM = ['ec2:DescribeNetworkAcls', 'ec2:DeleteNetworkAclEntry', 's3:ListBucket', 's3:GetObject', 's3:DeleteObject'];
/** The cluster backends' policies: read and delete only. */
export const UNBLOCK_EGRESS_RBAC: RbacRule[] = [
  { apiGroups: ['cilium.io'], resources: ['ciliumclusterwidenetworkpolicies'], verbs: ['get', 'delete'] },
  { apiGroups: ['projectcalico.org'], resources: ['globalnetworkpolicies', 'tier.globalnetworkpolicies'], verbs: ['get', 'delete'] },
];

function parseInput(raw: unknown): UnblockEgressInput {
  return parseActionInput(inputSchema, raw, 'unblock-egress');
}

function requireRegistry(deps: ActionDeps): BlockRegistry {
  const bucket = deps.settings.evidenceBucket;
  if (!bucket) throw new ConfigError('SENTINEL_EVIDENCE_BUCKET is not set: unblock-egress finds the blocks sentinel made in its block records there');
  const s3 = deps.aws.s3;
  if (!s3) throw new AwsNotConfiguredError('S3', 'cannot read the block records');
  return { s3, bucket };
}

function requireEc2(deps: ActionDeps): EC2Client {
  const ec2 = deps.aws.ec2;
  if (!ec2) throw new AwsNotConfiguredError('EC2', 'cannot unblock egress');
  return ec2;
}

/** A block of either kind, as selected: a network ACL rule or a cluster policy. */
type AnyStoredBlock = { nacl: StoredBlock } | { cluster: StoredClusterBlock };

const portOf = (b: AnyStoredBlock) => ('nacl' in b ? b.nacl.record.port : b.cluster.record.port);
const ipOf = (b: AnyStoredBlock) => ('nacl' in b ? b.nacl.record.ip : b.cluster.record.ip);

/** The blocks the input names (network ACL and cluster ones), what to call them, and (when none) why. */
async function selectBlocks(registry: BlockRegistry, input: UnblockEgressInput): Promise<{ blocks: AnyStoredBlock[]; what: string; ip: string | null; id?: string; none?: string; otherPorts?: (number | null)[] }> {
  if (input.block !== undefined) {
    const clusterKey = clusterBlockKeyFromRef(input.block);
    const key = clusterKey ?? blockKeyFromRef(input.block);
    const id = blockIdOf(key);
    const block: AnyStoredBlock | undefined = clusterKey
      ? await readClusterBlock(registry, clusterKey).then((b) => (b ? { cluster: b } : undefined))
      : await readBlock(registry, key).then((b) => (b ? { nacl: b } : undefined));
    return block ? { blocks: [block], what: `block ${id} (${ipOf(block)} ${portLabel(portOf(block))})`, ip: ipOf(block), id } : { blocks: [], what: `block ${id}`, ip: null, id, none: `no block by sentinel with id ${id}` };
  }
  const ip = input.ip!;
  const all: AnyStoredBlock[] = [...(await listBlocks(registry, ip)).map((nacl) => ({ nacl })), ...(await listClusterBlocks(registry, ip)).map((cluster) => ({ cluster }))];
  const blocks = input.port === undefined ? all : all.filter((b) => portOf(b) === input.port);
  const what = input.port === undefined ? ip : `${ip} ${portLabel(input.port)}`;
  if (blocks.length) return { blocks, what, ip };
  const otherPorts = [...new Set(all.map(portOf))];
  const hint = otherPorts.length ? ` (sentinel has blocks of ${ip} on ${otherPorts.map(portLabel).join(', ')})` : '';
  return { blocks, what, ip, none: `no block by sentinel for ${what}${hint}`, ...(otherPorts.length ? { otherPorts } : {}) };
}

/**
 * Lifts the egress denies sentinel recorded: every block of an IP (and port, when given), or
 * exactly one block by its id or record key, whichever backend made it. Deletes a network ACL
 * entry only when it is still exactly the deny sentinel created (egress, deny, TCP, same CIDR and
 * ports at the same rule number), and a cluster policy only while its name still holds the object
 * sentinel created (its uid); anything someone else changed is left alone and reported. Never
 * touches what it has no record of. With the network ACL backend configured, EC2 is needed up
 * front; with a cluster backend, only when a network ACL block (made before a switch) is selected.
 */
export async function unblockEgress(request: ActionRequest<UnblockEgressInput>, deps: ActionDeps): Promise<ActionResult<UnblockEgressDetails>> {
  const input = parseInput(request.input);
  const port = input.port ?? null;
  if (deps.settings.egressBackend === 'nacl') requireEc2(deps);
  const registry = requireRegistry(deps);

  const selected = await selectBlocks(registry, input);
  const base = { ip: selected.ip, port, ...(selected.id !== undefined ? { block: selected.id } : {}) };
  if (selected.none) {
    return skipped(selected.none, { ...base, blocks: [], rulesRemoved: 0, leftInPlace: 0, ...(selected.otherPorts ? { otherPorts: selected.otherPorts } : {}) });
  }
  const ec2 = selected.blocks.some((b) => 'nacl' in b) ? requireEc2(deps) : undefined;
  const kube = selected.blocks.some((b) => 'cluster' in b) ? requireKube(deps, 'lift a cluster egress block') : undefined;

  const dryRun = Boolean(request.dryRun);
  const items: UnblockItem[] = [];
  const failures: string[] = [];
  for (const block of selected.blocks) {
    try {
      items.push('nacl' in block ? await liftBlock(ec2!, registry, block.nacl, dryRun) : await liftClusterBlock(kube!, registry, block.cluster, dryRun));
    } catch (err) {
      const where = 'nacl' in block ? `rule ${block.nacl.record.ruleNumber} of ${block.nacl.record.naclId}` : `${block.cluster.record.policy.kind} ${block.cluster.record.policy.name}`;
      failures.push(`${where}: ${describeError(err)}`);
    }
  }
  const details: UnblockEgressDetails = {
    ...base,
    blocks: items,
    rulesRemoved: items.filter((i) => i.outcome === 'removed').length,
    leftInPlace: items.filter((i) => i.outcome === 'changed').length,
  };
  const what = selected.what;
  const report = items.map((i) => ('backend' in i ? describeClusterLift(i, dryRun) : describeLift(i, dryRun))).join('; ');
  if (failures.length) {
    deps.logger.error('unblock-egress failed for some blocks', { what, failures, done: report });
    throw new AwsError(`unblocking ${what} failed for ${failures.join('; ')}${report ? `; done: ${report}` : ''}`, { details: { ...details, failures } });
  }
  if (dryRun) return planned(`unblock ${what}: ${report}`, details);
  const changedSomething = items.some((i) => i.recordRemoved);
  return changedSomething ? succeeded(`unblocked ${what}: ${report}`, details) : skipped(`did not unblock ${what}: ${report}`, details);
}

export const unblockEgressAction = defineAction({
  id: 'unblock-egress',
  description:
    'Lift the egress denies sentinel created: every block of an IP (and port), or one block by its id. Deletes each recorded network ACL rule ' +
    'only if it is still exactly the deny sentinel created, and each recorded Cilium or Calico policy only while it is still the one sentinel created (its uid), then its record. Never removes a rule or policy sentinel did not create.',
  permissions: { iam: UNBLOCK_EGRESS_IAM, rbac: UNBLOCK_EGRESS_RBAC },
  input: inputSchema,
  run: unblockEgress,
});
