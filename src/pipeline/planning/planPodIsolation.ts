import { createHash } from 'node:crypto';
import type { V1NetworkPolicy, V1NetworkPolicyEgressRule, V1Node, V1Pod } from '@kubernetes/client-node';
import { z } from 'zod';
import { ConflictError, ValidationError } from '../../errors.js';
import { cidrSchema, parseCidr } from '../net/ipAddress.js';

/**
 * Pure planning for `isolate-pod` and `release-pod`: the names, labels and the
 * deny-all NetworkPolicy sentinel uses, and what must change given the current
 * pod, policy and node. No I/O; the actions read the objects and apply the plan.
 *
 * Records:
 * - pod: labels `sentinel.io/isolated=true` and `sentinel.io/isolation-id=<id>`,
 *   annotation `sentinel.io/incident`;
 * - NetworkPolicy `sentinel-isolate-<id>`: label `sentinel.io/created-by=sentinel`
 *   (the only policies sentinel ever deletes), annotations for incident, actor, pod,
 *   `sentinel.io/allowed-egress` (the egress kept open, as JSON; none on policies made before
 *   allowances existed) and `sentinel.io/cordoned-node` (the node this isolation holds a
 *   cordon on). All ingress is denied; egress only to what the allowance names;
 * - node: annotation `sentinel.io/cordon-<id>`, written in the same patch that sets
 *   `spec.unschedulable`. Release uncordons only when its own key was there and no
 *   other sentinel isolation still holds the node; a cordon made by someone else
 *   never gets a sentinel key, so it is never undone.
 */

export const LABEL_ISOLATED = 'sentinel.io/isolated';
export const LABEL_ISOLATION_ID = 'sentinel.io/isolation-id';
export const LABEL_CREATED_BY = 'sentinel.io/created-by';
export const CREATED_BY_SENTINEL = 'sentinel';
export const ANNOTATION_INCIDENT = 'sentinel.io/incident';
export const ANNOTATION_ACTOR = 'sentinel.io/actor';
export const ANNOTATION_POD = 'sentinel.io/pod';
export const ANNOTATION_CORDONED_NODE = 'sentinel.io/cordoned-node';
/** The egress an isolation keeps open (canonical JSON of an EgressAllowance). */
export const ANNOTATION_ALLOWED_EGRESS = 'sentinel.io/allowed-egress';
/** Node annotations `sentinel.io/cordon-<id>`: one per isolation holding the node's cordon. */
export const NODE_CORDON_ANNOTATION_PREFIX = 'sentinel.io/cordon-';

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** A namespace name: an RFC 1123 DNS label. */
export const namespaceNameSchema = z.string().max(63).regex(DNS_LABEL, 'a namespace name (lowercase RFC 1123 label)');
/** A pod name: an RFC 1123 DNS subdomain. */
export const podNameSchema = z.string().max(253).regex(DNS_SUBDOMAIN, 'a pod name (lowercase RFC 1123 subdomain)');

/** The label the API server puts on every namespace (Kubernetes 1.21+): how a policy names a namespace. */
export const NAMESPACE_NAME_LABEL = 'kubernetes.io/metadata.name';
/** Where cluster DNS runs, and the label of its pods (CoreDNS on EKS, kubeadm and GKE keeps `k8s-app=kube-dns`). */
export const CLUSTER_DNS_NAMESPACE = 'kube-system';
export const CLUSTER_DNS_POD_LABELS: Readonly<Record<string, string>> = { 'k8s-app': 'kube-dns' };

export const MAX_ALLOWED_CIDRS = 16;
export const MAX_ALLOWED_NAMESPACES = 16;
/** The broadest ranges an isolation may keep open: anything wider would undo it. */
const MIN_ALLOWED_PREFIX = { ipv4: 8, ipv6: 32 } as const;

/** What an isolated pod may still reach: cluster DNS, CIDRs, whole namespaces. Sorted, without duplicates. */
export interface EgressAllowance {
  dns: boolean;
  cidrs: string[];
  namespaces: string[];
}

export const NO_EGRESS: EgressAllowance = Object.freeze({ dns: false, cidrs: [], namespaces: [] }) as EgressAllowance;

const allowedCidrSchema = cidrSchema.refine((c) => {
  const parsed = parseCidr(c);
  return parsed !== undefined && parsed.prefix >= MIN_ALLOWED_PREFIX[parsed.family];
}, `no broader than /${MIN_ALLOWED_PREFIX.ipv4} (IPv4) or /${MIN_ALLOWED_PREFIX.ipv6} (IPv6): a broader range would undo the isolation`);

/** The `allow` input of isolate-pod: egress kept open. DNS defaults to SENTINEL_ISOLATE_POD_ALLOW_DNS. */
export const egressAllowanceInputSchema = z.strictObject({
  /** CIDRs the pod may still reach on any port, e.g. the team's log collector. */
  cidrs: z.array(allowedCidrSchema).max(MAX_ALLOWED_CIDRS).optional(),
  /** Namespaces whose pods the pod may still reach, e.g. `logging`. */
  namespaces: z.array(namespaceNameSchema).max(MAX_ALLOWED_NAMESPACES).optional(),
  /** Cluster DNS (kube-dns pods in kube-system, port 53 UDP and TCP). */
  dns: z.boolean().optional(),
});

export type EgressAllowanceInput = z.output<typeof egressAllowanceInputSchema>;

/** The allowance an input asks for: sorted, without duplicates, DNS from the default when not given. */
export function normalizeAllowance(input: EgressAllowanceInput | undefined, defaultDns: boolean): EgressAllowance {
  return {
    dns: input?.dns ?? defaultDns,
    cidrs: [...new Set(input?.cidrs ?? [])].sort(),
    namespaces: [...new Set(input?.namespaces ?? [])].sort(),
  };
}

const recordedAllowanceSchema = z.strictObject({
  dns: z.boolean(),
  cidrs: z.array(z.string()).max(MAX_ALLOWED_CIDRS),
  namespaces: z.array(z.string()).max(MAX_ALLOWED_NAMESPACES),
});

/** The allowance a sentinel policy records; NO_EGRESS for one made before allowances; undefined when the record is not readable. */
export function recordedAllowance(policy: V1NetworkPolicy): EgressAllowance | undefined {
  const raw = policy.metadata?.annotations?.[ANNOTATION_ALLOWED_EGRESS];
  if (raw === undefined) return NO_EGRESS;
  try {
    const parsed = recordedAllowanceSchema.safeParse(JSON.parse(raw));
    return parsed.success ? normalizeAllowance(parsed.data, false) : undefined;
  } catch {
    return undefined;
  }
}

export function allowanceText(allow: EgressAllowance): string {
  return JSON.stringify({ dns: allow.dns, cidrs: allow.cidrs, namespaces: allow.namespaces });
}

export function sameAllowance(a: EgressAllowance, b: EgressAllowance): boolean {
  return allowanceText(a) === allowanceText(b);
}

/** A readable list of what stays open: `cluster DNS, 10.0.0.0/16, namespace logging`, or `nothing`. */
export function describeAllowance(allow: EgressAllowance): string {
  const parts = [...(allow.dns ? ['cluster DNS'] : []), ...allow.cidrs, ...allow.namespaces.map((n) => `namespace ${n}`)];
  return parts.length > 0 ? parts.join(', ') : 'nothing';
}

/** The egress rules of an isolation policy: one per kind of allowance, in a fixed order (DNS, CIDRs, namespaces). */
export function buildEgressRules(allow: EgressAllowance): V1NetworkPolicyEgressRule[] {
  const rules: V1NetworkPolicyEgressRule[] = [];
  if (allow.dns) {
    rules.push({
      to: [{ namespaceSelector: { matchLabels: { [NAMESPACE_NAME_LABEL]: CLUSTER_DNS_NAMESPACE } }, podSelector: { matchLabels: { ...CLUSTER_DNS_POD_LABELS } } }],
      ports: [
        { protocol: 'UDP', port: 53 },
        { protocol: 'TCP', port: 53 },
      ],
    });
  }
  if (allow.cidrs.length > 0) rules.push({ to: allow.cidrs.map((cidr) => ({ ipBlock: { cidr } })) });
  if (allow.namespaces.length > 0) rules.push({ to: allow.namespaces.map((ns) => ({ namespaceSelector: { matchLabels: { [NAMESPACE_NAME_LABEL]: ns } } })) });
  return rules;
}

/** JSON with sorted keys and no undefined values: two objects compare equal whatever their key order (client-node reorders). */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
    return `{${entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** A short stable id for one pod (10 hex digits of sha256 of `<namespace>/<pod>`). */
export function isolationId(namespace: string, pod: string): string {
  return createHash('sha256').update(`${namespace}/${pod}`).digest('hex').slice(0, 10);
}

export function isolationPolicyName(id: string): string {
  return `sentinel-isolate-${id}`;
}

export function nodeCordonAnnotation(id: string): string {
  return `${NODE_CORDON_ANNOTATION_PREFIX}${id}`;
}

export { SYSTEM_NAMESPACES, checkNamespaceAllowed } from '../../kube/protectedNamespace.js';

export interface IsolationRecord {
  namespace: string;
  pod: string;
  incidentId: string;
  actor: string;
  /** The node this isolation holds (or is about to hold) a cordon on. */
  cordonedNode?: string | undefined;
  /** Egress kept open; none when absent. */
  allow?: EgressAllowance | undefined;
}

/** The labels isolate adds to the pod. */
export function isolationLabels(id: string): Record<string, string> {
  return { [LABEL_ISOLATED]: 'true', [LABEL_ISOLATION_ID]: id };
}

/**
 * The isolation NetworkPolicy for one pod: selects only its isolation-id label; Ingress and
 * Egress, no ingress rule (all denied) and egress only to what the allowance keeps open.
 */
export function buildIsolationPolicy(record: IsolationRecord): V1NetworkPolicy {
  const id = isolationId(record.namespace, record.pod);
  const allow = record.allow ?? NO_EGRESS;
  const egress = buildEgressRules(allow);
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: {
      name: isolationPolicyName(id),
      namespace: record.namespace,
      labels: { [LABEL_CREATED_BY]: CREATED_BY_SENTINEL, [LABEL_ISOLATION_ID]: id },
      annotations: {
        [ANNOTATION_INCIDENT]: record.incidentId,
        [ANNOTATION_ACTOR]: record.actor,
        [ANNOTATION_POD]: record.pod,
        [ANNOTATION_ALLOWED_EGRESS]: allowanceText(allow),
        ...(record.cordonedNode ? { [ANNOTATION_CORDONED_NODE]: record.cordonedNode } : {}),
      },
    },
    spec: {
      podSelector: { matchLabels: { [LABEL_ISOLATION_ID]: id } },
      policyTypes: ['Ingress', 'Egress'],
      ...(egress.length > 0 ? { egress } : {}),
    },
  };
}

/** Whether sentinel created this policy (its created-by label). */
export function isSentinelPolicy(policy: V1NetworkPolicy): boolean {
  return policy.metadata?.labels?.[LABEL_CREATED_BY] === CREATED_BY_SENTINEL;
}

/** Why an existing policy of that name is not a working isolation policy for this id, or undefined when it is. */
export function isolationPolicyProblem(policy: V1NetworkPolicy, id: string): string | undefined {
  const name = policy.metadata?.name ?? isolationPolicyName(id);
  if (!isSentinelPolicy(policy)) return `NetworkPolicy ${name} exists but was not created by sentinel`;
  if (policy.metadata?.labels?.[LABEL_ISOLATION_ID] !== id) return `NetworkPolicy ${name} belongs to another isolation`;
  const spec = policy.spec;
  const selector = spec?.podSelector;
  const matchLabels = selector?.matchLabels ?? {};
  const selectsPod =
    Object.keys(matchLabels).length === 1 && matchLabels[LABEL_ISOLATION_ID] === id && (selector?.matchExpressions ?? []).length === 0;
  const types = [...(spec?.policyTypes ?? [])].sort();
  const allow = recordedAllowance(policy);
  const denies = (spec?.ingress ?? []).length === 0 && allow !== undefined && canonicalJson(spec?.egress ?? []) === canonicalJson(buildEgressRules(allow));
  if (!selectsPod || types.join(',') !== 'Egress,Ingress' || !denies) {
    return `NetworkPolicy ${name} was created by sentinel but has been modified (no longer the isolation sentinel made for this pod)`;
  }
  return undefined;
}

function otherCordonHolders(node: V1Node, id: string): string[] {
  const own = nodeCordonAnnotation(id);
  return Object.keys(node.metadata?.annotations ?? {}).filter((k) => k.startsWith(NODE_CORDON_ANNOTATION_PREFIX) && k !== own);
}

export type CordonDecision =
  /** Cordoning was not asked for. */
  | 'not-requested'
  /** The pod is not scheduled on a node. */
  | 'no-node'
  /** The node does not exist (any more). */
  | 'node-not-found'
  /** The node is schedulable: cordon it and record sentinel's key. */
  | 'cordon'
  /** This isolation's key is on the node but someone uncordoned it: cordon it again. */
  | 'recordon'
  /** Another sentinel isolation holds the node's cordon: add this isolation's key. */
  | 'join'
  /** This isolation already holds the node's cordon. */
  | 'held'
  /** Someone other than sentinel cordoned the node: leave it, record nothing. */
  | 'cordoned-by-others';

export interface NodePatch {
  name: string;
  /** Merge patch body. */
  body: { metadata?: { annotations: Record<string, string | null> }; spec?: { unschedulable: true | null } };
}

export interface IsolationState {
  namespace: string;
  /** The pod as read; isolation needs it to exist. */
  pod: V1Pod;
  /** The policy named `isolationPolicyName(id)`, or undefined when there is none. */
  policy: V1NetworkPolicy | undefined;
  cordonRequested: boolean;
  /** The pod's node as read (only when cordoning was requested); undefined when not read or not found. */
  node: V1Node | undefined;
  incidentId: string;
  actor: string;
  /** The egress to keep open (normalised). */
  allow: EgressAllowance;
}

/** A merge patch that changes an existing isolation's allowed egress (rules and record together). */
export interface EgressPatch {
  spec: { egress: V1NetworkPolicyEgressRule[] | null };
  metadata: { annotations: Record<string, string> };
}

export interface IsolationPlan {
  namespace: string;
  pod: string;
  isolationId: string;
  policyName: string;
  node: string | null;
  /** Labels to add to the pod (those not already there with the right value). */
  labelsToAdd: Record<string, string>;
  /** Annotations to add to the pod. */
  annotationsToAdd: Record<string, string>;
  /** The policy to create, when there is none yet. */
  policyToCreate: V1NetworkPolicy | undefined;
  /** Annotations to merge into the existing sentinel policy (the cordon record) before the node is touched. */
  policyAnnotationsToAdd: Record<string, string>;
  /** The egress the isolation keeps open once the plan is applied. */
  allowedEgress: EgressAllowance;
  /** The existing policy keeps other egress open than asked: this patch changes it. */
  egressPatch: EgressPatch | undefined;
  cordon: CordonDecision;
  nodePatch: NodePatch | undefined;
  /** Whether this isolation holds the node's cordon once the plan is applied. */
  cordoned: boolean;
  /** Nothing to change. */
  complete: boolean;
  notes: string[];
}

function decideCordon(state: IsolationState, id: string, nodeName: string | null): { cordon: CordonDecision; nodePatch?: NodePatch } {
  if (!state.cordonRequested) return { cordon: 'not-requested' };
  if (!nodeName) return { cordon: 'no-node' };
  const node = state.node;
  if (!node) return { cordon: 'node-not-found' };
  const key = nodeCordonAnnotation(id);
  const annotations = node.metadata?.annotations ?? {};
  const unschedulable = node.spec?.unschedulable === true;
  const value = `${state.namespace}/${state.pod.metadata?.name ?? ''}`;
  if (annotations[key] !== undefined) {
    if (unschedulable) return { cordon: 'held' };
    return { cordon: 'recordon', nodePatch: { name: nodeName, body: { spec: { unschedulable: true } } } };
  }
  if (unschedulable) {
    if (otherCordonHolders(node, id).length > 0) {
      return { cordon: 'join', nodePatch: { name: nodeName, body: { metadata: { annotations: { [key]: value } } } } };
    }
    return { cordon: 'cordoned-by-others' };
  }
  return { cordon: 'cordon', nodePatch: { name: nodeName, body: { metadata: { annotations: { [key]: value } }, spec: { unschedulable: true } } } };
}

/** The patch that makes an existing (working) isolation policy keep `allow` open, or undefined when it already does. */
export function planEgressPatch(policy: V1NetworkPolicy, allow: EgressAllowance): EgressPatch | undefined {
  const recorded = recordedAllowance(policy);
  if (recorded !== undefined && sameAllowance(recorded, allow)) return undefined;
  const egress = buildEgressRules(allow);
  return { spec: { egress: egress.length > 0 ? egress : null }, metadata: { annotations: { [ANNOTATION_ALLOWED_EGRESS]: allowanceText(allow) } } };
}

/**
 * What isolating this pod would change, given its current state. Order of application:
 * create the policy (it selects nothing until the pod carries the label), label the pod
 * (isolation takes effect), record the cordon on the policy, then patch the node. Throws
 * ConflictError when a policy of that name exists and is not sentinel's working deny-all,
 * ValidationError when a NetworkPolicy cannot isolate the pod (host network).
 */
export function planPodIsolation(state: IsolationState): IsolationPlan {
  const podName = state.pod.metadata?.name ?? '';
  const id = isolationId(state.namespace, podName);
  const policyName = isolationPolicyName(id);
  if (state.pod.spec?.hostNetwork) {
    throw new ValidationError(`pod ${state.namespace}/${podName} uses the host network: a NetworkPolicy cannot isolate it (isolate its node instead)`, {
      code: 'HostNetworkPod',
    });
  }
  if (state.policy) {
    const problem = isolationPolicyProblem(state.policy, id);
    if (problem) throw new ConflictError(`refusing to isolate ${state.namespace}/${podName}: ${problem}`, { code: 'PolicyConflict', details: { policyName } });
  }
  const nodeName = state.pod.spec?.nodeName || null;

  const labels = state.pod.metadata?.labels ?? {};
  const labelsToAdd: Record<string, string> = {};
  for (const [k, v] of Object.entries(isolationLabels(id))) if (labels[k] !== v) labelsToAdd[k] = v;
  const annotationsToAdd: Record<string, string> =
    state.pod.metadata?.annotations?.[ANNOTATION_INCIDENT] === undefined ? { [ANNOTATION_INCIDENT]: state.incidentId } : {};

  const { cordon, nodePatch } = decideCordon(state, id, nodeName);
  const holds = cordon === 'cordon' || cordon === 'recordon' || cordon === 'join' || cordon === 'held';
  const recorded = state.policy?.metadata?.annotations?.[ANNOTATION_CORDONED_NODE];
  const policyToCreate = state.policy
    ? undefined
    : buildIsolationPolicy({ namespace: state.namespace, pod: podName, incidentId: state.incidentId, actor: state.actor, cordonedNode: holds ? nodeName ?? undefined : undefined, allow: state.allow });
  const egressPatch = state.policy ? planEgressPatch(state.policy, state.allow) : undefined;
  const policyAnnotationsToAdd: Record<string, string> = state.policy && holds && recorded !== nodeName && nodeName ? { [ANNOTATION_CORDONED_NODE]: nodeName } : {};
  // Without a cordon request the record on the policy says whether the cordon is held.
  const cordoned = holds || (cordon === 'not-requested' && recorded !== undefined && recorded === nodeName);

  const notes: string[] = [];
  if (cordon === 'no-node') notes.push('the pod is not scheduled on a node: nothing to cordon');
  if (cordon === 'node-not-found') notes.push(`node ${nodeName} was not found: not cordoned`);
  if (cordon === 'cordoned-by-others') notes.push(`node ${nodeName} was already cordoned by someone else: left as it is, release will not uncordon it`);
  if (cordon === 'join') notes.push(`node ${nodeName} is already cordoned for another sentinel isolation: this isolation now holds it too`);
  if (cordon === 'recordon') notes.push(`node ${nodeName} had been uncordoned since this isolation cordoned it: cordoning it again`);

  const complete =
    Object.keys(labelsToAdd).length === 0 &&
    Object.keys(annotationsToAdd).length === 0 &&
    policyToCreate === undefined &&
    Object.keys(policyAnnotationsToAdd).length === 0 &&
    egressPatch === undefined &&
    nodePatch === undefined;

  return {
    namespace: state.namespace,
    pod: podName,
    isolationId: id,
    policyName,
    node: nodeName,
    labelsToAdd,
    annotationsToAdd,
    policyToCreate,
    policyAnnotationsToAdd,
    allowedEgress: state.allow,
    egressPatch,
    cordon,
    nodePatch,
    cordoned,
    complete,
    notes,
  };
}

export interface ReleaseState {
  namespace: string;
  pod: string;
  /** The pod as read, or undefined when it is gone. */
  podObject: V1Pod | undefined;
  policy: V1NetworkPolicy | undefined;
  /** The node named by the policy's cordon record, as read; undefined when there is no record or the node is gone. */
  node: V1Node | undefined;
}

export interface ReleasePlan {
  namespace: string;
  pod: string;
  isolationId: string;
  policyName: string;
  podFound: boolean;
  /** Sentinel labels to remove from the pod (set to null in a merge patch). */
  labelsToRemove: string[];
  annotationsToRemove: string[];
  /** Delete the policy (only when sentinel created it). */
  deletePolicy: boolean;
  /** A policy of that name exists that sentinel did not create: never touched. */
  foreignPolicy: boolean;
  /** The node the policy says this isolation cordoned, if any. */
  node: string | null;
  nodePatch: NodePatch | undefined;
  /** The patch uncordons the node (no other sentinel isolation holds it). */
  uncordon: boolean;
  /** Nothing of this isolation is left. */
  notIsolated: boolean;
  notes: string[];
}

/**
 * What releasing this pod would change: remove exactly the sentinel labels and annotation,
 * delete the policy only when sentinel created it, and uncordon the node only when this
 * isolation's key is on it and no other sentinel isolation holds it. Order of application:
 * node, pod, then the policy (the record) last, so an interrupted release can be rerun.
 */
export function planPodRelease(state: ReleaseState): ReleasePlan {
  const id = isolationId(state.namespace, state.pod);
  const policyName = isolationPolicyName(id);
  const notes: string[] = [];
  const labels = state.podObject?.metadata?.labels ?? {};
  const annotations = state.podObject?.metadata?.annotations ?? {};
  const labelsToRemove = [LABEL_ISOLATED, LABEL_ISOLATION_ID].filter((k) => labels[k] !== undefined);
  const annotationsToRemove = [ANNOTATION_INCIDENT].filter((k) => annotations[k] !== undefined);
  if (!state.podObject) notes.push(`pod ${state.namespace}/${state.pod} no longer exists`);

  const ours = state.policy !== undefined && isSentinelPolicy(state.policy);
  const foreignPolicy = state.policy !== undefined && !ours;
  if (foreignPolicy) notes.push(`NetworkPolicy ${policyName} was not created by sentinel: left alone`);

  const recordedNode = ours ? (state.policy?.metadata?.annotations?.[ANNOTATION_CORDONED_NODE] ?? null) : null;
  let nodePatch: NodePatch | undefined;
  let uncordon = false;
  if (recordedNode) {
    const key = nodeCordonAnnotation(id);
    const node = state.node;
    if (!node) {
      notes.push(`node ${recordedNode} was not found: nothing to uncordon`);
    } else if (node.metadata?.annotations?.[key] === undefined) {
      notes.push(`node ${recordedNode} carries no cordon record of this isolation: left as it is`);
    } else {
      const others = otherCordonHolders(node, id);
      uncordon = others.length === 0 && node.spec?.unschedulable === true;
      nodePatch = { name: recordedNode, body: { metadata: { annotations: { [key]: null } }, ...(uncordon ? { spec: { unschedulable: null } } : {}) } };
      if (others.length > 0) notes.push(`node ${recordedNode} stays cordoned: ${others.length} other sentinel isolation(s) still hold it`);
      else if (!uncordon) notes.push(`node ${recordedNode} was already uncordoned`);
    }
  }

  const notIsolated = labelsToRemove.length === 0 && annotationsToRemove.length === 0 && !ours;
  return {
    namespace: state.namespace,
    pod: state.pod,
    isolationId: id,
    policyName,
    podFound: state.podObject !== undefined,
    labelsToRemove,
    annotationsToRemove,
    deletePolicy: ours,
    foreignPolicy,
    node: recordedNode,
    nodePatch,
    uncordon,
    notIsolated,
    notes,
  };
}

export { kubeErrorMessage, kubeStatusCode, toKubeError } from '../../kube/kubeErrors.js';
