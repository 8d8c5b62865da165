import type { V1Node } from '@kubernetes/client-node';
import { AwsError, AwsNotConfiguredError, ConfigError, ConflictError, describeError, NotFoundError, ProtectedTargetError, ValidationError } from '../../../errors.js';
import { createClusterObject, deleteClusterObject, readClusterObject, type CustomObject } from '../../../kube/clusterCustomObjects.js';
import { kubeStatusCode, toKubeError } from '../../../kube/kubeErrors.js';
import { requireKube } from '../../../kube/requireKube.js';
import type { KubeClients } from '../../../kube/clients.js';
import { blockIdOf, type BlockRegistry } from '../../blocks/blockRegistry.js';
import { CLUSTER_BLOCK_KINDS, clusterBlockKey, readClusterBlock, recordClusterBlock, type ClusterBackend, type ClusterBlockRecord } from '../../blocks/clusterBlockRegistry.js';
import { hostCidr, parseIpAddress } from '../../net/ipAddress.js';
import {
  CALICO_TIER,
  CALICO_TIER_API,
  CLUSTER_POLICY_API,
  calicoTierObject,
  calicoTierProblem,
  clusterPolicyName,
  clusterPolicyObject,
  clusterPortLabel,
  isOurClusterBlock,
  type ClusterDenyTarget,
} from '../../planning/planClusterEgressDeny.js';
import type { DenyEgressInput } from './denyEgress.js';
import { planned, skipped, succeeded, type ActionDeps, type ActionRequest, type ActionResult } from '../types.js';

export interface ClusterDenyEgressDetails {
  backend: ClusterBackend;
  ip: string;
  cidr: string;
  /** The TCP port denied; null for all TCP ports. */
  port: number | null;
  /** The cluster-wide policy that is the block. */
  policy: { kind: string; name: string; uid: string | null };
  /** Calico: sentinel's tier, and whether this run created it. */
  tier?: { name: string; created: boolean };
  /** This run created the policy. */
  created: boolean;
  /** Where the block record is; null when nothing was recorded. */
  record: string | null;
  blockId?: string;
  expiresAt?: string;
  automatic: boolean;
  notes: string[];
}

/** RBAC each cluster backend needs (docs/permissions/egress.md, the Helm chart). */
export const CLUSTER_EGRESS_RBAC = {
  cilium: [{ apiGroups: ['cilium.io'], resources: ['ciliumclusterwidenetworkpolicies'], verbs: ['get', 'create', 'delete'] }],
  calico: [
    { apiGroups: ['projectcalico.org'], resources: ['globalnetworkpolicies', 'tier.globalnetworkpolicies'], verbs: ['get', 'create', 'delete'] },
    { apiGroups: ['projectcalico.org'], resources: ['tiers'], verbs: ['get', 'create'] },
  ],
  /** Both: the nodes' own addresses are never blocked. */
  nodes: [{ apiGroups: [''], resources: ['nodes'], verbs: ['list'] }],
} as const;

const NOT_INSTALLED: Readonly<Record<ClusterBackend, string>> = {
  cilium: 'Cilium is not installed: the API server serves no ciliumclusterwidenetworkpolicies.cilium.io (install Cilium 1.16 or later, or set SENTINEL_EGRESS_BACKEND=nacl)',
  calico: 'Calico is not installed: the API server serves no projectcalico.org/v3 (the Calico API server), so there is no GlobalNetworkPolicy to make (install it, or set SENTINEL_EGRESS_BACKEND=nacl)',
};

function requireRegistry(deps: ActionDeps): BlockRegistry {
  const bucket = deps.settings.evidenceBucket;
  if (!bucket) throw new ConfigError('SENTINEL_EVIDENCE_BUCKET is not set: deny-egress records every policy it creates there (so unblock-egress can remove exactly it) and will not create an unrecorded one');
  const s3 = deps.aws.s3;
  if (!s3) throw new AwsNotConfiguredError('S3', 'cannot record the block');
  return { s3, bucket };
}

/** The cluster's own node addresses (InternalIP, ExternalIP): never a destination to cut the pods off from. */
async function refuseNodeAddress(kube: KubeClients, ip: string): Promise<void> {
  let nodes: V1Node[];
  try {
    nodes = (await kube.core.listNode()).items;
  } catch (err) {
    throw toKubeError(err, 'listing the nodes (their addresses are never blocked)');
  }
  for (const node of nodes) {
    for (const a of node.status?.addresses ?? []) {
      if ((a.type === 'InternalIP' || a.type === 'ExternalIP') && parseIpAddress(a.address)?.text === ip) {
        throw new ProtectedTargetError(`refusing to deny egress to ${ip}: it is the ${a.type} of node ${node.metadata?.name ?? '?'}`, { details: { ip, node: node.metadata?.name } });
      }
    }
  }
}

/** A policy of that name is there: sentinel's block of exactly this destination, or a conflict left alone. */
function checkExisting(backend: ClusterBackend, object: CustomObject, target: ClusterDenyTarget, name: string): { uid: string } {
  if (!isOurClusterBlock(backend, object, target)) {
    throw new ConflictError(`${CLUSTER_POLICY_API[backend].kind} ${name} exists but is not sentinel's deny of ${target.ip} ${clusterPortLabel(target.port)}: it was left alone`, {
      code: 'PolicyConflict',
      details: { policy: name },
    });
  }
  const uid = object.metadata?.uid;
  if (!uid) throw new ConflictError(`${CLUSTER_POLICY_API[backend].kind} ${name} has no uid`, { code: 'PolicyConflict' });
  return { uid };
}

/** Cilium before 1.16 drops `enableDefaultDeny`: its policy would put every pod into default-deny egress. */
function checkDefaultDenyKept(created: CustomObject): void {
  const kept = (created.spec?.enableDefaultDeny as { egress?: unknown } | undefined)?.egress;
  if (kept !== false) {
    throw new ConfigError(
      'the API server dropped spec.enableDefaultDeny from the CiliumClusterwideNetworkPolicy (Cilium before 1.16): the policy would put every pod into default-deny egress, so it was not created; upgrade Cilium to 1.16 or later, or set SENTINEL_EGRESS_BACKEND=nacl',
      { code: 'CiliumTooOld' },
    );
  }
}

/** Takes a just-created policy out again after its record could not be written; always throws. */
async function rollBack(kube: KubeClients, backend: ClusterBackend, name: string, uid: string, cause: unknown, deps: ActionDeps): Promise<never> {
  const why = describeError(cause);
  try {
    await deleteClusterObject(kube, CLUSTER_POLICY_API[backend], name, uid);
  } catch (err) {
    if (kubeStatusCode(err) !== 404) {
      deps.logger.error('deny-egress left an unrecorded policy', { policy: name, uid, problem: describeError(err) });
      throw new AwsError(`could not record the block (${why}) and could not delete ${CLUSTER_POLICY_API[backend].kind} ${name} again (${describeError(err)}): delete it by hand`, { cause, details: { policy: name } });
    }
  }
  deps.logger.warn('deny-egress rolled back an unrecorded policy', { policy: name, uid });
  throw new AwsError(`could not record the block (${why}); ${CLUSTER_POLICY_API[backend].kind} ${name} was deleted again, so nothing is blocked`, { cause, details: { policy: name, rolledBack: true } });
}

/**
 * deny-egress with a cluster backend (SENTINEL_EGRESS_BACKEND cilium or calico): one cluster-wide
 * policy that denies every pod TCP egress to the address (one port or all), named after the
 * destination (planClusterEgressDeny.ts), recorded in the block registry with its uid and expiry
 * so that unblock-egress and the expiry sweeper delete exactly it. The caller has already refused
 * protected destinations; here the nodes' own addresses are refused too. Refuses a missing CRD
 * or API ("Cilium is not installed"), a Cilium whose CRD would drop `enableDefaultDeny` (a
 * server-side dry run first), a Calico tier `sentinel` ordered after the default tier, and a
 * policy of that name that is not sentinel's block. Idempotent: sentinel's block already there is
 * `skipped` (its record written if it was missing). No ceiling: caps and escalation are the
 * playbook's, as for the network ACL backend.
 */
export async function denyEgressInCluster(
  backend: ClusterBackend,
  request: ActionRequest<DenyEgressInput>,
  deps: ActionDeps,
  common: { expiresAt: string; automatic: boolean },
): Promise<ActionResult<ClusterDenyEgressDetails>> {
  const input = request.input;
  const given = (['naclId', 'subnetId', 'instanceId'] as const).filter((k) => input[k] !== undefined);
  if (given.length) throw new ValidationError(`${given.join(', ')} name a network ACL: SENTINEL_EGRESS_BACKEND is ${backend}, which blocks cluster-wide (set it to nacl to block in a network ACL)`);
  const host = hostCidr(input.ip);
  const target: ClusterDenyTarget = { ip: input.ip, cidr: host.text, ipv6: host.family === 'ipv6', port: input.port ?? null };
  const what = `${target.ip} ${clusterPortLabel(target.port)}`;
  const api = CLUSTER_POLICY_API[backend];
  const name = clusterPolicyName(backend, target);
  const kube = requireKube(deps, 'deny egress in the cluster');
  const registry = requireRegistry(deps);
  const notes: string[] = input.node ? [`blocks cluster-wide: every pod, not only those on ${input.node}`] : [];

  await refuseNodeAddress(kube, target.ip);

  // Preflight: the API is served; Calico's tier; what is there already.
  let tier: { name: string; created: boolean } | undefined;
  let tierMissing = false;
  if (backend === 'calico') {
    const t = await readClusterObject(kube, CALICO_TIER_API, CALICO_TIER);
    if (t.state === 'not-installed') throw new NotFoundError(NOT_INSTALLED.calico, { code: 'CalicoNotInstalled' });
    if (t.state === 'found') {
      const problem = calicoTierProblem(t.object as { spec?: { order?: unknown } });
      if (problem) throw new ConflictError(`${problem}; nothing was created`, { code: 'TierConflict' });
    }
    tierMissing = t.state === 'absent';
    tier = { name: CALICO_TIER, created: false };
  }
  const current = await readClusterObject(kube, api, name);
  if (current.state === 'not-installed') throw new NotFoundError(NOT_INSTALLED[backend], { code: backend === 'cilium' ? 'CiliumNotInstalled' : 'CalicoNotInstalled' });

  const base = { backend, ip: target.ip, cidr: target.cidr, port: target.port, ...(tier ? { tier } : {}), automatic: common.automatic };
  const recordFor = (uid: string): ClusterBlockRecord => ({
    version: 1,
    kind: CLUSTER_BLOCK_KINDS[backend],
    ip: target.ip,
    cidr: target.cidr,
    ipv6: target.ipv6,
    port: target.port,
    protocol: '6',
    policy: { apiVersion: `${api.group}/${api.version}`, kind: api.kind, name, uid },
    actor: request.actor,
    reason: request.reason ?? input.reason ?? null,
    incidentId: request.incidentId,
    createdAt: deps.now().toISOString(),
    expiresAt: common.expiresAt,
    severity: input.severity ?? null,
  });

  if (current.state === 'found') {
    const { uid } = checkExisting(backend, current.object, target, name);
    const key = clusterBlockKey({ ip: target.ip, kind: CLUSTER_BLOCK_KINDS[backend], policy: { name } });
    const existing = await readClusterBlock(registry, key);
    const policy = { kind: api.kind, name, uid };
    if (existing) {
      return skipped(`egress to ${what} is already denied by ${api.kind} ${name} (block ${blockIdOf(key)}, until ${existing.record.expiresAt ?? 'lifted'})`, {
        ...base,
        policy,
        created: false,
        record: existing.location,
        blockId: blockIdOf(key),
        ...(existing.record.expiresAt ? { expiresAt: existing.record.expiresAt } : {}),
        notes,
      });
    }
    // sentinel's policy without its record (a run cut short between the two): record it, so it expires and can be lifted.
    if (request.dryRun) return planned(`egress to ${what} is already denied by ${api.kind} ${name}; would record it (its block record is missing) until ${common.expiresAt}`, { ...base, policy, created: false, record: null, notes });
    const stored = await recordClusterBlock(registry, recordFor(uid));
    deps.logger.warn('recorded a cluster block whose record was missing', { policy: name, uid });
    return succeeded(`egress to ${what} was already denied by ${api.kind} ${name}, which had no block record: recorded it now at ${stored.location} (block ${blockIdOf(stored.key)}) until ${common.expiresAt}`, {
      ...base,
      policy,
      created: false,
      record: stored.location,
      blockId: blockIdOf(stored.key),
      expiresAt: common.expiresAt,
      notes: [...notes, 'the policy was there without its block record'],
    });
  }

  const body = clusterPolicyObject(backend, target, { incidentId: request.incidentId, actor: request.actor, expiresAt: common.expiresAt });
  // The API server validates (and, for Cilium, shows what its CRD keeps) without storing anything.
  if (!tierMissing) {
    try {
      const dry = await createClusterObject(kube, api, body, true);
      if (backend === 'cilium') checkDefaultDenyKept(dry);
    } catch (err) {
      if (err instanceof ConfigError) throw err;
      throw toKubeError(err, `validating ${api.kind} ${name} (server-side dry run)`);
    }
  }
  const tierPlan = tierMissing ? ` (after creating the Calico tier ${CALICO_TIER}, order 100)` : '';
  if (request.dryRun) {
    return planned(`would deny TCP egress from every pod to ${what} with ${api.kind} ${name}${tierPlan} until ${common.expiresAt}`, { ...base, policy: { kind: api.kind, name, uid: null }, created: false, record: null, expiresAt: common.expiresAt, notes });
  }

  if (tierMissing) {
    try {
      await createClusterObject(kube, CALICO_TIER_API, calicoTierObject());
      tier = { name: CALICO_TIER, created: true };
      deps.logger.info('created the Calico tier for egress blocks', { tier: CALICO_TIER });
    } catch (err) {
      // Another writer made it meanwhile: use it if it is fit.
      if (kubeStatusCode(err) !== 409) throw toKubeError(err, `creating the Calico tier ${CALICO_TIER}`);
      const again = await readClusterObject(kube, CALICO_TIER_API, CALICO_TIER);
      const problem = again.state === 'found' ? calicoTierProblem(again.object as { spec?: { order?: unknown } }) : `the Calico tier ${CALICO_TIER} vanished`;
      if (problem) throw new ConflictError(`${problem}; nothing was created`, { code: 'TierConflict' });
    }
  }

  let made: CustomObject;
  try {
    made = await createClusterObject(kube, api, body);
  } catch (err) {
    if (kubeStatusCode(err) === 409) throw new ConflictError(`${api.kind} ${name} was created by another writer meanwhile; run deny-egress again to use it`, { code: 'PolicyRace', cause: err });
    throw toKubeError(err, `creating ${api.kind} ${name}`);
  }
  const uid = made.metadata?.uid;
  if (!uid) throw new AwsError(`the API server created ${api.kind} ${name} without a uid`);
  if (backend === 'cilium') {
    try {
      checkDefaultDenyKept(made);
    } catch (err) {
      return rollBack(kube, backend, name, uid, err, deps);
    }
  }

  let stored;
  try {
    stored = await recordClusterBlock(registry, recordFor(uid));
  } catch (err) {
    if (!(err instanceof ConflictError && err.code === 'BlockRecordExists')) return rollBack(kube, backend, name, uid, err, deps);
    // The policy was not there a moment ago, so the record at its key describes one that is gone: stale.
    deps.logger.warn('replacing a stale cluster block record', { policy: name });
    try {
      stored = await recordClusterBlock(registry, recordFor(uid), { replace: true });
    } catch (again) {
      return rollBack(kube, backend, name, uid, again, deps);
    }
  }
  deps.logger.info('egress denied in the cluster', { backend, policy: name, uid, ip: target.ip, port: target.port });
  return succeeded(`denied TCP egress from every pod to ${what} with ${api.kind} ${name} until ${common.expiresAt}; recorded at ${stored.location} (block ${blockIdOf(stored.key)})`, {
    ...base,
    ...(tier ? { tier } : {}),
    policy: { kind: api.kind, name, uid },
    created: true,
    record: stored.location,
    blockId: blockIdOf(stored.key),
    expiresAt: common.expiresAt,
    notes,
  });
}
