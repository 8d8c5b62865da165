import { createHash } from 'node:crypto';
import type { V1NetworkPolicy, V1Node, V1Pod } from '@kubernetes/client-node';
import { z } from 'zod';
import { ConflictError, KubernetesError, NotFoundError, ProtectedTargetError, type SentinelError, ValidationError } from '../../errors.js';

/**
 * Pure planning for `isolate-pod` and `release-pod`: the names, labels and the
 * deny-all NetworkPolicy sentinel uses, and what must change given the current
 * pod, policy and node. No I/O; the actions read the objects and apply the plan.
 *
 * Records:
 * - pod: labels `sentinel.io/isolated=true` and `sentinel.io/isolation-id=<id>`,
 *   annotation `sentinel.io/incident`;
 * - NetworkPolicy `sentinel-isolate-<id>`: label `sentinel.io/created-by=sentinel`
 *   (the only policies sentinel ever deletes), annotations for incident, actor, pod
 *   and `sentinel.io/cordoned-node` (the node this isolation holds a cordon on);
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
/** Node annotations `sentinel.io/cordon-<id>`: one per isolation holding the node's cordon. */
export const NODE_CORDON_ANNOTATION_PREFIX = 'sentinel.io/cordon-';

/** Namespaces sentinel never isolates pods in, whatever the settings say. */
export const SYSTEM_NAMESPACES: readonly string[] = ['kube-system', 'kube-public', 'kube-node-lease'];

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** A namespace name: an RFC 1123 DNS label. */
export const namespaceNameSchema = z.string().max(63).regex(DNS_LABEL, 'a namespace name (lowercase RFC 1123 label)');
/** A pod name: an RFC 1123 DNS subdomain. */
export const podNameSchema = z.string().max(253).regex(DNS_SUBDOMAIN, 'a pod name (lowercase RFC 1123 subdomain)');

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

/** Refuses system namespaces and configured protected namespaces. */
export function checkNamespaceAllowed(namespace: string, protectedNamespaces: readonly string[]): void {
  if (SYSTEM_NAMESPACES.includes(namespace)) {
    throw new ProtectedTargetError(`refusing to isolate a pod in the system namespace ${namespace}`, { code: 'ProtectedNamespace', details: { namespace } });
  }
  if (protectedNamespaces.includes(namespace)) {
    throw new ProtectedTargetError(`refusing to isolate a pod in the protected namespace ${namespace} (SENTINEL_PROTECTED_NAMESPACES)`, {
      code: 'ProtectedNamespace',
      details: { namespace },
    });
  }
}

export interface IsolationRecord {
  namespace: string;
  pod: string;
  incidentId: string;
  actor: string;
  /** The node this isolation holds (or is about to hold) a cordon on. */
  cordonedNode?: string | undefined;
}

/** The labels isolate adds to the pod. */
export function isolationLabels(id: string): Record<string, string> {
  return { [LABEL_ISOLATED]: 'true', [LABEL_ISOLATION_ID]: id };
}

/** The deny-all NetworkPolicy for one pod: selects only its isolation-id label; Ingress and Egress with no rules. */
export function buildIsolationPolicy(record: IsolationRecord): V1NetworkPolicy {
  const id = isolationId(record.namespace, record.pod);
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
        ...(record.cordonedNode ? { [ANNOTATION_CORDONED_NODE]: record.cordonedNode } : {}),
      },
    },
    spec: {
      podSelector: { matchLabels: { [LABEL_ISOLATION_ID]: id } },
      policyTypes: ['Ingress', 'Egress'],
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
  const denyAll = (spec?.ingress ?? []).length === 0 && (spec?.egress ?? []).length === 0;
  if (!selectsPod || types.join(',') !== 'Egress,Ingress' || !denyAll) {
    return `NetworkPolicy ${name} was created by sentinel but has been modified (no longer a deny-all for this pod)`;
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
    : buildIsolationPolicy({ namespace: state.namespace, pod: podName, incidentId: state.incidentId, actor: state.actor, cordonedNode: holds ? nodeName ?? undefined : undefined });
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

/** The HTTP status of a client-node ApiException (or similar), if any. */
export function kubeStatusCode(err: unknown): number | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const code = (err as { code?: unknown; statusCode?: unknown }).code ?? (err as { statusCode?: unknown }).statusCode;
  return typeof code === 'number' ? code : undefined;
}

/** The Status message of a client-node ApiException (its body is a JSON string), else the error message. */
export function kubeErrorMessage(err: unknown): string {
  const body = typeof err === 'object' && err !== null ? (err as { body?: unknown }).body : undefined;
  if (typeof body === 'string') {
    try {
      const parsed = JSON.parse(body) as { message?: unknown };
      if (typeof parsed.message === 'string') return parsed.message;
    } catch {
      // not JSON
    }
  }
  if (body && typeof body === 'object' && typeof (body as { message?: unknown }).message === 'string') return (body as { message: string }).message;
  return err instanceof Error ? err.message : String(err);
}

/** Maps a failed Kubernetes call: 404 → NotFoundError, anything else → KubernetesError, both with the cause. */
export function toKubeError(err: unknown, what: string): SentinelError {
  const code = kubeStatusCode(err);
  if (code === 404) return new NotFoundError(`${what}: not found`, { cause: err, code: 'NotFound' });
  return new KubernetesError(`${what} failed${code ? ` (HTTP ${code})` : ''}: ${kubeErrorMessage(err)}`, { cause: err, ...(code ? { details: { status: code } } : {}) });
}
