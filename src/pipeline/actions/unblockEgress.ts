import { DeleteNetworkAclEntryCommand, type EC2Client, type NetworkAcl } from '@aws-sdk/client-ec2';
import { z } from 'zod';
import { AwsError, ConfigError, describeError, NotFoundError } from '../../errors.js';
import { ipAddressSchema, listBlocks, normalizeIp, removeBlockRecord, type BlockRegistry, type StoredBlock } from '../blocks/blockRegistry.js';
import {
  awsErrorCode,
  describeEntry,
  egressEntryAt,
  entryMatches,
  portLabel,
  portSchema,
  readNacl,
  type ExpectedEntry,
} from './denyEgress.js';
import { parseActionInput } from './parseActionInput.js';
import { defineAction, planned, skipped, succeeded, type ActionDeps, type ActionRequest, type ActionResult } from './types.js';

const inputSchema = z.strictObject({
  ip: ipAddressSchema,
  /** Only the block of exactly this port; every block of the IP when absent. */
  port: portSchema.optional(),
});

export type UnblockEgressInput = z.output<typeof inputSchema>;

/**
 * What happened to one recorded block:
 * - `removed`: the entry was still sentinel's deny; it was deleted, then the record;
 * - `already-gone`: no entry at that number any more; the record was removed;
 * - `nacl-gone`: the network ACL itself is gone; the record was removed;
 * - `changed`: the entry at that number is no longer the recorded deny; left alone, record kept.
 */
export type UnblockOutcome = 'removed' | 'already-gone' | 'nacl-gone' | 'changed';

export interface UnblockItem {
  naclId: string;
  ruleNumber: number;
  cidr: string;
  port: number | null;
  record: string;
  outcome: UnblockOutcome;
  /** The record was deleted (false in a dry run and for `changed`). */
  recordRemoved: boolean;
  /** For `changed`: what is at that rule number now. */
  current?: string;
}

export interface UnblockEgressDetails {
  ip: string;
  port: number | null;
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
  if (!ec2) throw new ConfigError('AWS is not configured (no EC2 client): cannot unblock egress');
  const bucket = deps.settings.evidenceBucket;
  if (!bucket) throw new ConfigError('SENTINEL_EVIDENCE_BUCKET is not set: unblock-egress finds the blocks sentinel made in its block records there');
  const s3 = deps.aws.s3;
  if (!s3) throw new ConfigError('AWS is not configured (no S3 client): cannot read the block records');
  return { ec2, registry: { s3, bucket } };
}

async function readNaclIfAny(ec2: EC2Client, naclId: string): Promise<NetworkAcl | undefined> {
  try {
    return await readNacl(ec2, naclId);
  } catch (err) {
    if (err instanceof NotFoundError) return undefined;
    throw err;
  }
}

/** Decides (and, unless a dry run, does) what to do with one recorded block. */
async function handleBlock(ec2: EC2Client, registry: BlockRegistry, block: StoredBlock, dryRun: boolean): Promise<UnblockItem> {
  const r = block.record;
  const item = { naclId: r.naclId, ruleNumber: r.ruleNumber, cidr: r.cidr, port: r.port, record: block.location };
  const expected: ExpectedEntry = { ruleNumber: r.ruleNumber, cidr: r.cidr, ipv6: r.ipv6, portRange: r.portRange };

  const nacl = await readNaclIfAny(ec2, r.naclId);
  const entry = nacl ? egressEntryAt(nacl, r.ruleNumber) : undefined;
  let outcome: UnblockOutcome;
  if (!nacl) outcome = 'nacl-gone';
  else if (!entry) outcome = 'already-gone';
  else if (!entryMatches(entry, expected)) return { ...item, outcome: 'changed', recordRemoved: false, current: describeEntry(entry) };
  else outcome = 'removed';

  if (dryRun) return { ...item, outcome, recordRemoved: false };
  if (outcome === 'removed') {
    try {
      await ec2.send(new DeleteNetworkAclEntryCommand({ NetworkAclId: r.naclId, RuleNumber: r.ruleNumber, Egress: true }));
    } catch (err) {
      const code = awsErrorCode(err) ?? '';
      // Deleted by someone else between the read and the delete: the goal is reached all the same.
      if (code.endsWith('.NotFound')) outcome = 'already-gone';
      else throw new AwsError(`cannot delete rule ${r.ruleNumber} from ${r.naclId}: ${describeError(err)}`, { cause: err, details: { awsCode: code } });
    }
  }
  await removeBlockRecord(registry, block.key);
  return { ...item, outcome, recordRemoved: true };
}

function sentence(i: UnblockItem, dryRun: boolean): string {
  const rule = `rule ${i.ruleNumber} of ${i.naclId}`;
  switch (i.outcome) {
    case 'removed':
      return dryRun ? `remove ${rule}` : `removed ${rule}`;
    case 'already-gone':
      return `${rule} was already gone (${dryRun ? 'would forget' : 'forgot'} its record)`;
    case 'nacl-gone':
      return `${i.naclId} no longer exists (${dryRun ? 'would forget' : 'forgot'} the record of rule ${i.ruleNumber})`;
    case 'changed':
      return `left ${rule} alone: it is no longer sentinel's deny (now ${i.current ?? 'something else'}); its record is kept`;
  }
}

/**
 * Lifts the egress denies sentinel recorded for an IP (and port, when given). Deletes a
 * network ACL entry only when it is still exactly the deny sentinel created (egress, deny,
 * TCP, same CIDR and ports at the same rule number); an entry someone else changed is left
 * alone and reported. Never touches an entry it has no record of.
 */
export async function unblockEgress(request: ActionRequest<UnblockEgressInput>, deps: ActionDeps): Promise<ActionResult<UnblockEgressDetails>> {
  const input = parseInput(request.input);
  const ip = normalizeIp(input.ip);
  const port = input.port ?? null;
  const { ec2, registry } = requireClients(deps);

  const all = await listBlocks(registry, ip);
  const blocks = input.port === undefined ? all : all.filter((b) => b.record.port === input.port);
  const what = input.port === undefined ? ip : `${ip} ${portLabel(input.port)}`;
  if (blocks.length === 0) {
    const otherPorts = [...new Set(all.map((b) => b.record.port))];
    const hint = otherPorts.length ? ` (sentinel has blocks of ${ip} on ${otherPorts.map(portLabel).join(', ')})` : '';
    return skipped(`no block by sentinel for ${what}${hint}`, {
      ip,
      port,
      blocks: [],
      rulesRemoved: 0,
      leftInPlace: 0,
      ...(otherPorts.length ? { otherPorts } : {}),
    });
  }

  const dryRun = Boolean(request.dryRun);
  const items: UnblockItem[] = [];
  const failures: string[] = [];
  for (const block of blocks) {
    try {
      items.push(await handleBlock(ec2, registry, block, dryRun));
    } catch (err) {
      failures.push(`rule ${block.record.ruleNumber} of ${block.record.naclId}: ${describeError(err)}`);
    }
  }
  const details: UnblockEgressDetails = {
    ip,
    port,
    blocks: items,
    rulesRemoved: items.filter((i) => i.outcome === 'removed').length,
    leftInPlace: items.filter((i) => i.outcome === 'changed').length,
  };
  const report = items.map((i) => sentence(i, dryRun)).join('; ');
  if (failures.length) {
    deps.logger.error('unblock-egress failed for some blocks', { ip, failures, done: report });
    throw new AwsError(`unblocking ${what} failed for ${failures.join('; ')}${report ? `; done: ${report}` : ''}`, { details: { ...details, failures } });
  }
  if (dryRun) return planned(`unblock ${what}: ${report}`, details);
  const changedSomething = items.some((i) => i.recordRemoved);
  return changedSomething ? succeeded(`unblocked ${what}: ${report}`, details) : skipped(`did not unblock ${what}: ${report}`, details);
}

export const unblockEgressAction = defineAction({
  id: 'unblock-egress',
  description:
    'Lift the egress denies sentinel created for an IP address (and port): deletes each recorded network ACL rule only if it is still ' +
    'exactly the deny sentinel created, then its record. Never removes a rule sentinel did not create.',
  permissions: { iam: UNBLOCK_EGRESS_IAM, rbac: [] },
  input: inputSchema,
  run: unblockEgress,
});
