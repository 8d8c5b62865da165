import type { EC2Client } from '@aws-sdk/client-ec2';
import { z } from 'zod';
import { AwsError, AwsNotConfiguredError, ConfigError, describeError } from '../../errors.js';
import { blockIdOf, blockKeyFromRef, listBlocks, readBlock, type BlockRegistry, type StoredBlock } from '../blocks/blockRegistry.js';
import { describeLift, liftBlock, type LiftedBlock, type LiftOutcome } from '../blocks/liftBlock.js';
import { portLabel } from '../blocks/naclEntries.js';
import { ipAddressSchema } from '../net/ipAddress.js';
import { portSchema } from './denyEgress.js';
import { parseActionInput } from './parseActionInput.js';
import { defineAction, planned, skipped, succeeded, type ActionDeps, type ActionRequest, type ActionResult } from './types.js';

const inputSchema = z
  .strictObject({
    /** Every block of this IP (of `port`, when given). */
    ip: ipAddressSchema.optional(),
    /** Only the block of exactly this port; every block of the IP when absent. */
    port: portSchema.optional(),
    /** Exactly one block: its id (`<ip>/<naclId>/<ruleNumber>`) or its record key (`blocks/….json`). */
    block: z.string().trim().min(5).max(200).optional(),
  })
  .refine((v) => (v.ip === undefined) !== (v.block === undefined), { message: 'give either ip (and optionally port) or block, not both' })
  .refine((v) => v.block === undefined || v.port === undefined, { message: 'port goes with ip, not with block', path: ['port'] });

export type UnblockEgressInput = z.output<typeof inputSchema>;

export type UnblockOutcome = LiftOutcome;
export type UnblockItem = LiftedBlock;

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

function parseInput(raw: unknown): UnblockEgressInput {
  return parseActionInput(inputSchema, raw, 'unblock-egress');
}

function requireClients(deps: ActionDeps): { ec2: EC2Client; registry: BlockRegistry } {
  const ec2 = deps.aws.ec2;
  if (!ec2) throw new AwsNotConfiguredError('EC2', 'cannot unblock egress');
  const bucket = deps.settings.evidenceBucket;
  if (!bucket) throw new ConfigError('SENTINEL_EVIDENCE_BUCKET is not set: unblock-egress finds the blocks sentinel made in its block records there');
  const s3 = deps.aws.s3;
  if (!s3) throw new AwsNotConfiguredError('S3', 'cannot read the block records');
  return { ec2, registry: { s3, bucket } };
}

/** The blocks the input names, what to call them, and (when none) why. */
async function selectBlocks(registry: BlockRegistry, input: UnblockEgressInput): Promise<{ blocks: StoredBlock[]; what: string; ip: string | null; none?: string; otherPorts?: (number | null)[] }> {
  if (input.block !== undefined) {
    const key = blockKeyFromRef(input.block);
    const id = blockIdOf(key);
    const block = await readBlock(registry, key);
    return block ? { blocks: [block], what: `block ${id} (${block.record.ip} ${portLabel(block.record.port)})`, ip: block.record.ip } : { blocks: [], what: `block ${id}`, ip: null, none: `no block by sentinel with id ${id}` };
  }
  const ip = input.ip!;
  const all = await listBlocks(registry, ip);
  const blocks = input.port === undefined ? all : all.filter((b) => b.record.port === input.port);
  const what = input.port === undefined ? ip : `${ip} ${portLabel(input.port)}`;
  if (blocks.length) return { blocks, what, ip };
  const otherPorts = [...new Set(all.map((b) => b.record.port))];
  const hint = otherPorts.length ? ` (sentinel has blocks of ${ip} on ${otherPorts.map(portLabel).join(', ')})` : '';
  return { blocks, what, ip, none: `no block by sentinel for ${what}${hint}`, ...(otherPorts.length ? { otherPorts } : {}) };
}

/**
 * Lifts the egress denies sentinel recorded: every block of an IP (and port, when given), or
 * exactly one block by its id or record key. Deletes a network ACL entry only when it is still
 * exactly the deny sentinel created (egress, deny, TCP, same CIDR and ports at the same rule
 * number); an entry someone else changed is left alone and reported. Never touches an entry it
 * has no record of.
 */
export async function unblockEgress(request: ActionRequest<UnblockEgressInput>, deps: ActionDeps): Promise<ActionResult<UnblockEgressDetails>> {
  const input = parseInput(request.input);
  const port = input.port ?? null;
  const { ec2, registry } = requireClients(deps);

  const selected = await selectBlocks(registry, input);
  const base = { ip: selected.ip, port, ...(input.block !== undefined ? { block: blockIdOf(blockKeyFromRef(input.block)) } : {}) };
  if (selected.none) {
    return skipped(selected.none, { ...base, blocks: [], rulesRemoved: 0, leftInPlace: 0, ...(selected.otherPorts ? { otherPorts: selected.otherPorts } : {}) });
  }

  const dryRun = Boolean(request.dryRun);
  const items: UnblockItem[] = [];
  const failures: string[] = [];
  for (const block of selected.blocks) {
    try {
      items.push(await liftBlock(ec2, registry, block, dryRun));
    } catch (err) {
      failures.push(`rule ${block.record.ruleNumber} of ${block.record.naclId}: ${describeError(err)}`);
    }
  }
  const details: UnblockEgressDetails = {
    ...base,
    blocks: items,
    rulesRemoved: items.filter((i) => i.outcome === 'removed').length,
    leftInPlace: items.filter((i) => i.outcome === 'changed').length,
  };
  const what = selected.what;
  const report = items.map((i) => describeLift(i, dryRun)).join('; ');
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
    'only if it is still exactly the deny sentinel created, then its record. Never removes a rule sentinel did not create.',
  permissions: { iam: UNBLOCK_EGRESS_IAM, rbac: [] },
  input: inputSchema,
  run: unblockEgress,
});
