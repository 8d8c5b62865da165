import { DeleteNetworkAclEntryCommand, type EC2Client, type NetworkAcl } from '@aws-sdk/client-ec2';
import { AwsError, describeError, NotFoundError } from '../../errors.js';
import { blockIdOf, removeBlockRecord, type BlockRegistry, type StoredBlock } from './blockRegistry.js';
import { awsErrorCode, describeEntry, egressEntryAt, entryMatches, readNacl, type ExpectedEntry } from './naclEntries.js';

/**
 * What happened to one recorded block:
 * - `removed`: the entry was still sentinel's deny; it was deleted, then the record;
 * - `already-gone`: no entry at that number any more; the record was removed;
 * - `nacl-gone`: the network ACL itself is gone; the record was removed;
 * - `changed`: the entry at that number is no longer the recorded deny; left alone, record kept.
 */
export type LiftOutcome = 'removed' | 'already-gone' | 'nacl-gone' | 'changed';

export interface LiftedBlock {
  /** The block's id (`<ip>/<naclId>/<ruleNumber>`). */
  id: string;
  ip: string;
  naclId: string;
  ruleNumber: number;
  cidr: string;
  port: number | null;
  record: string;
  outcome: LiftOutcome;
  /** The record was deleted (false in a dry run and for `changed`). */
  recordRemoved: boolean;
  /** For `changed`: what is at that rule number now. */
  current?: string;
}

async function readNaclIfAny(ec2: EC2Client, naclId: string): Promise<NetworkAcl | undefined> {
  try {
    return await readNacl(ec2, naclId);
  } catch (err) {
    if (err instanceof NotFoundError) return undefined;
    throw err;
  }
}

/**
 * Lifts one block sentinel recorded (or, in a dry run, says what lifting it would do). Deletes
 * the network ACL entry only while it is still exactly the deny sentinel created (egress, deny,
 * TCP, same CIDR and ports at the same rule number), then the record; an entry someone changed
 * is left alone, with its record. Shared by unblock-egress, the eviction in deny-egress and the
 * expiry sweeper (through unblock-egress).
 */
export async function liftBlock(ec2: EC2Client, registry: BlockRegistry, block: StoredBlock, dryRun: boolean): Promise<LiftedBlock> {
  const r = block.record;
  const item = { id: blockIdOf(block.key), ip: r.ip, naclId: r.naclId, ruleNumber: r.ruleNumber, cidr: r.cidr, port: r.port, record: block.location };
  const expected: ExpectedEntry = { ruleNumber: r.ruleNumber, cidr: r.cidr, ipv6: r.ipv6, portRange: r.portRange };

  const nacl = await readNaclIfAny(ec2, r.naclId);
  const entry = nacl ? egressEntryAt(nacl, r.ruleNumber) : undefined;
  let outcome: LiftOutcome;
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

/** One lifted block in a sentence, for summaries and reports. */
export function describeLift(i: LiftedBlock, dryRun: boolean): string {
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
