import { AwsError, describeError } from '../../errors.js';
import type { KubeClients } from '../../kube/clients.js';
import { deleteClusterObject, readClusterObject } from '../../kube/clusterCustomObjects.js';
import { kubeStatusCode } from '../../kube/kubeErrors.js';
import { blockIdOf, type BlockRegistry } from './blockRegistry.js';
import { backendOfKind, removeClusterBlockRecord, type ClusterBackend, type StoredClusterBlock } from './clusterBlockRegistry.js';
import { CLUSTER_POLICY_API } from '../planning/planClusterEgressDeny.js';
import type { LiftOutcome } from './liftBlock.js';

/** One cluster block lifted (or, in a dry run, what lifting it would do). */
export interface LiftedClusterBlock {
  /** The block's id (`<ip>/<backend>/<policy name>`). */
  id: string;
  ip: string;
  backend: ClusterBackend;
  policy: { kind: string; name: string; uid: string };
  cidr: string;
  port: number | null;
  record: string;
  /** `removed`, `already-gone` (no such policy, or no such API, now) or `changed` (the name holds another object). */
  outcome: Exclude<LiftOutcome, 'nacl-gone'>;
  recordRemoved: boolean;
  current?: string;
}

/**
 * Lifts one cluster block: deletes its policy only while the name still holds the object
 * sentinel created (its uid; the delete carries it as a precondition, so one recreated meanwhile
 * is never hit), then forgets the record. A policy gone already only loses its record; an object
 * of another uid is left alone with its record. The backend's API missing altogether (Cilium or
 * Calico removed) counts as gone: nothing it held can block any more.
 */
export async function liftClusterBlock(kube: KubeClients, registry: BlockRegistry, block: StoredClusterBlock, dryRun: boolean): Promise<LiftedClusterBlock> {
  const r = block.record;
  const backend = backendOfKind(r.kind);
  const api = CLUSTER_POLICY_API[backend];
  const item = { id: blockIdOf(block.key), ip: r.ip, backend, policy: { kind: r.policy.kind, name: r.policy.name, uid: r.policy.uid }, cidr: r.cidr, port: r.port, record: block.location };
  const current = await readClusterObject(kube, api, r.policy.name);
  let outcome: LiftedClusterBlock['outcome'];
  if (current.state !== 'found') outcome = 'already-gone';
  else if (current.object.metadata?.uid !== r.policy.uid) {
    return { ...item, outcome: 'changed', recordRemoved: false, current: `another ${api.kind} of that name (uid ${current.object.metadata?.uid ?? '?'})` };
  } else outcome = 'removed';

  if (dryRun) return { ...item, outcome, recordRemoved: false };
  if (outcome === 'removed') {
    try {
      await deleteClusterObject(kube, api, r.policy.name, r.policy.uid);
    } catch (err) {
      const code = kubeStatusCode(err);
      if (code === 404) outcome = 'already-gone';
      else if (code === 409) return { ...item, outcome: 'changed', recordRemoved: false, current: `another ${api.kind} of that name (its uid changed meanwhile)` };
      else throw new AwsError(`cannot delete ${api.kind} ${r.policy.name}: ${describeError(err)}`, { cause: err, details: { status: code } });
    }
  }
  await removeClusterBlockRecord(registry, block.key);
  return { ...item, outcome, recordRemoved: true };
}

/** One lifted cluster block in a sentence. */
export function describeClusterLift(i: LiftedClusterBlock, dryRun: boolean): string {
  const policy = `${i.policy.kind} ${i.policy.name}`;
  switch (i.outcome) {
    case 'removed':
      return dryRun ? `delete ${policy}` : `deleted ${policy}`;
    case 'already-gone':
      return `${policy} was already gone (${dryRun ? 'would forget' : 'forgot'} its record)`;
    case 'changed':
      return `left ${policy} alone: it is no longer the one sentinel created (now ${i.current ?? 'something else'}); its record is kept`;
  }
}
