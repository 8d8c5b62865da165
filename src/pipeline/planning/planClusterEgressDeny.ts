import { createHash } from 'node:crypto';
import { ANNOTATION_ACTOR, ANNOTATION_INCIDENT, CREATED_BY_SENTINEL, LABEL_CREATED_BY } from './planPodIsolation.js';
import type { ClusterBackend } from '../blocks/clusterBlockRegistry.js';

/**
 * Pure planning for deny-egress's cluster backends: the policy a block is, by name and content.
 *
 * - cilium: a CiliumClusterwideNetworkPolicy (cilium.io/v2) selecting every pod
 *   (`endpointSelector: {}`) with one `egressDeny` rule: TCP to the address (one port, or port 0:
 *   every port). `enableDefaultDeny` is false both ways, so the policy puts no pod into
 *   default-deny: it takes away this one destination and nothing else (Cilium 1.16+; an older
 *   CRD drops the field, which the backend detects with a server-side dry run before creating).
 * - calico: a GlobalNetworkPolicy (projectcalico.org/v3) in sentinel's own tier `sentinel`
 *   (order 100: before the Kubernetes and default tiers) selecting every pod
 *   (`has(projectcalico.org/namespace)`, no host endpoints): Deny TCP to the address, then Pass,
 *   so everything else goes on to the next tier exactly as before (a Pass in the default tier
 *   would skip the cluster's own NetworkPolicies, sentinel's pod isolations among them).
 *
 * The content depends only on the address and port, so a second incident about the same
 * destination finds the same policy (idempotent); who asked and why are annotations.
 */

export const CALICO_TIER = 'sentinel';
/** Before Calico's admin tiers (1000) and the default tier (1,000,000), which hold the cluster's own policies. */
export const CALICO_TIER_ORDER = 100;
/** A sentinel tier ordered at or after this would let the default tier's policies allow first. */
export const CALICO_DEFAULT_TIER_ORDER = 1_000_000;
/** Calico: workload endpoints (pods) carry this label; host endpoints do not. */
export const CALICO_ALL_PODS = 'has(projectcalico.org/namespace)';

/** The label every cluster block policy carries besides `sentinel.io/created-by`. */
export const LABEL_EGRESS_BLOCK = 'sentinel.io/egress-block';
/** Annotations: what is blocked (`<ip> tcp/<port>`), and when the sweeper lifts it. */
export const ANNOTATION_BLOCKED = 'sentinel.io/blocked';
export const ANNOTATION_EXPIRES_AT = 'sentinel.io/expires-at';

export interface CustomResourceApi {
  group: string;
  version: string;
  plural: string;
  kind: string;
}

export const CLUSTER_POLICY_API: Readonly<Record<ClusterBackend, CustomResourceApi>> = {
  cilium: { group: 'cilium.io', version: 'v2', plural: 'ciliumclusterwidenetworkpolicies', kind: 'CiliumClusterwideNetworkPolicy' },
  calico: { group: 'projectcalico.org', version: 'v3', plural: 'globalnetworkpolicies', kind: 'GlobalNetworkPolicy' },
};

export const CALICO_TIER_API: CustomResourceApi = { group: 'projectcalico.org', version: 'v3', plural: 'tiers', kind: 'Tier' };

export interface ClusterDenyTarget {
  /** Canonical address. */
  ip: string;
  /** `<ip>/32` or `<ip>/128`. */
  cidr: string;
  ipv6: boolean;
  /** One TCP port, or null for every TCP port. */
  port: number | null;
}

export interface ClusterDenyRequest {
  incidentId: string;
  actor: string;
  expiresAt: string;
}

/** `tcp/443` or `all TCP ports`. */
export function clusterPortLabel(port: number | null): string {
  return port === null ? 'all TCP ports' : `tcp/${port}`;
}

/**
 * The policy's name: readable for IPv4 (`…-203-0-113-7-tcp-443`), a hash of the canonical
 * address for IPv6 (whose text is not a Kubernetes name). Calico's carries its tier's prefix.
 */
export function clusterPolicyName(backend: ClusterBackend, target: ClusterDenyTarget): string {
  const address = target.ipv6 ? `v6-${createHash('sha256').update(target.cidr).digest('hex').slice(0, 16)}` : target.ip.replaceAll('.', '-');
  const base = `deny-egress-${address}-tcp-${target.port === null ? 'all' : String(target.port)}`;
  return backend === 'cilium' ? `sentinel-${base}` : `${CALICO_TIER}.${base}`;
}

/** The spec that denies exactly this destination; nothing about who asked (see annotations). */
export function clusterPolicySpec(backend: ClusterBackend, target: ClusterDenyTarget): Record<string, unknown> {
  if (backend === 'cilium') {
    return {
      description: `sentinel: deny TCP egress to ${target.ip} (${clusterPortLabel(target.port)})`,
      endpointSelector: {},
      enableDefaultDeny: { egress: false, ingress: false },
      egressDeny: [{ toCIDR: [target.cidr], toPorts: [{ ports: [{ port: String(target.port ?? 0), protocol: 'TCP' }] }] }],
    };
  }
  return {
    tier: CALICO_TIER,
    order: 100,
    selector: CALICO_ALL_PODS,
    types: ['Egress'],
    egress: [
      { action: 'Deny', protocol: 'TCP', destination: { nets: [target.cidr], ...(target.port !== null ? { ports: [target.port] } : {}) } },
      // Everything else leaves the tier untouched, to the cluster's own policies.
      { action: 'Pass' },
    ],
  };
}

/** The whole object to create. */
export function clusterPolicyObject(backend: ClusterBackend, target: ClusterDenyTarget, request: ClusterDenyRequest): Record<string, unknown> {
  const api = CLUSTER_POLICY_API[backend];
  return {
    apiVersion: `${api.group}/${api.version}`,
    kind: api.kind,
    metadata: {
      name: clusterPolicyName(backend, target),
      labels: { [LABEL_CREATED_BY]: CREATED_BY_SENTINEL, [LABEL_EGRESS_BLOCK]: 'true' },
      annotations: {
        [ANNOTATION_BLOCKED]: `${target.ip} ${clusterPortLabel(target.port)}`,
        [ANNOTATION_INCIDENT]: request.incidentId,
        [ANNOTATION_ACTOR]: request.actor,
        [ANNOTATION_EXPIRES_AT]: request.expiresAt,
      },
    },
    spec: clusterPolicySpec(backend, target),
  };
}

/** sentinel's own tier for Calico, made the first time a block needs it. */
export function calicoTierObject(): Record<string, unknown> {
  return {
    apiVersion: `${CALICO_TIER_API.group}/${CALICO_TIER_API.version}`,
    kind: CALICO_TIER_API.kind,
    metadata: { name: CALICO_TIER, labels: { [LABEL_CREATED_BY]: CREATED_BY_SENTINEL } },
    spec: { order: CALICO_TIER_ORDER },
  };
}

/** Why an existing tier `sentinel` cannot hold blocks, or undefined when it can. */
export function calicoTierProblem(tier: { spec?: { order?: unknown } } | undefined): string | undefined {
  const order = tier?.spec?.order;
  if (typeof order !== 'number' || !Number.isFinite(order)) return `the Calico tier ${CALICO_TIER} has no order: it would be evaluated after the cluster's own policies, which may allow first`;
  if (order >= CALICO_DEFAULT_TIER_ORDER) return `the Calico tier ${CALICO_TIER} has order ${order}, at or after the default tier (${CALICO_DEFAULT_TIER_ORDER}): the cluster's own policies would allow first`;
  return undefined;
}

/** Every field of `expected` is in `actual` with the same value (servers add defaults; nothing of ours may differ). */
export function containsAll(actual: unknown, expected: unknown): boolean {
  if (Array.isArray(expected)) return Array.isArray(actual) && actual.length === expected.length && expected.every((e, i) => containsAll(actual[i], e));
  if (expected !== null && typeof expected === 'object') {
    if (actual === null || typeof actual !== 'object' || Array.isArray(actual)) return false;
    return Object.entries(expected).every(([k, v]) => containsAll((actual as Record<string, unknown>)[k], v));
  }
  return actual === expected;
}

/** The existing object is sentinel's block of exactly this destination (label and spec). */
export function isOurClusterBlock(backend: ClusterBackend, object: { metadata?: { labels?: Record<string, string> }; spec?: unknown }, target: ClusterDenyTarget): boolean {
  const labels = object.metadata?.labels ?? {};
  return labels[LABEL_CREATED_BY] === CREATED_BY_SENTINEL && labels[LABEL_EGRESS_BLOCK] === 'true' && containsAll(object.spec, clusterPolicySpec(backend, target));
}
