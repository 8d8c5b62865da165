import type { V1Node, V1Pod } from '@kubernetes/client-node';
import { ProtectedTargetError } from '../../errors.js';
import { controllerOf, isMirrorPod } from '../../kube/podController.js';
import { isProtectedNamespace } from '../../kube/protectedNamespace.js';
import { NODE_CORDON_ANNOTATION_PREFIX } from './planPodIsolation.js';

/**
 * Pure planning for `drain-node`: whether the node may be drained, how to cordon it, and which
 * of its pods to evict or leave (and why). No I/O.
 *
 * The cordon is recorded on the node as `sentinel.io/cordon-drain` (value: the incident), in
 * the same patch that sets `spec.unschedulable`: it shares the prefix of isolate-pod's cordon
 * records, so release-pod never uncordons a node a drain holds. Nothing uncordons it
 * automatically: `kubectl uncordon` and removing the annotation undo it.
 */

export const DRAIN_CORDON_ANNOTATION = `${NODE_CORDON_ANNOTATION_PREFIX}drain`;
/** A node annotated `sentinel.io/protected: "true"` is never drained, whatever the settings say. */
export const PROTECTED_NODE_ANNOTATION = 'sentinel.io/protected';

export type DrainCordon =
  /** Schedulable: cordon it and record sentinel's key. */
  | 'cordon'
  /** A drain's key is there but someone uncordoned it: cordon it again. */
  | 'recordon'
  /** A drain already holds the cordon. */
  | 'held'
  /** A sentinel isolation holds the cordon: add the drain's record, so releasing the isolation leaves it cordoned. */
  | 'join'
  /** Someone else cordoned it: left as it is, nothing recorded. */
  | 'cordoned-by-others';

export type LeftKind = 'daemonset' | 'mirror' | 'protected-namespace' | 'no-controller' | 'emptydir' | 'disruption-budget' | 'forbidden' | 'refused';

export interface PodRef {
  namespace: string;
  pod: string;
}

export interface LeftPod extends PodRef {
  kind: LeftKind;
  reason: string;
}

export interface DrainOptions {
  force: boolean;
  deleteEmptyDirData: boolean;
  protectedNamespaces: readonly string[];
}

export interface DrainPlan {
  node: string;
  cordon: DrainCordon;
  /** The merge patch that cordons the node (with the record), when one is needed. */
  nodePatch: { metadata?: { annotations: Record<string, string> }; spec?: { unschedulable: true } } | undefined;
  /** Pods to evict, as read (their uid conditions the eviction). */
  evict: V1Pod[];
  left: LeftPod[];
  /** Pods already terminating (an earlier drain, or someone else): nothing to do. */
  terminating: PodRef[];
}

/** Whether a node label selector from SENTINEL_PROTECTED_NODE_LABELS (`key` or `key=value`) matches. */
function labelMatches(labels: Record<string, string>, selector: string): boolean {
  const eq = selector.indexOf('=');
  if (eq < 0) return Object.hasOwn(labels, selector);
  return labels[selector.slice(0, eq)] === selector.slice(eq + 1);
}

/** Refuses a protected node: annotated `sentinel.io/protected=true`, or carrying a label of SENTINEL_PROTECTED_NODE_LABELS. */
export function checkNodeAllowed(node: V1Node, protectedLabels: readonly string[]): void {
  const name = node.metadata?.name ?? '';
  if (node.metadata?.annotations?.[PROTECTED_NODE_ANNOTATION] === 'true') {
    throw new ProtectedTargetError(`refusing to drain node ${name}: it is annotated ${PROTECTED_NODE_ANNOTATION}=true`, { code: 'ProtectedNode', details: { node: name } });
  }
  const labels = node.metadata?.labels ?? {};
  const hit = protectedLabels.find((s) => labelMatches(labels, s));
  if (hit) {
    throw new ProtectedTargetError(`refusing to drain node ${name}: it has the protected label ${hit} (SENTINEL_PROTECTED_NODE_LABELS)`, { code: 'ProtectedNode', details: { node: name } });
  }
}

function decideCordon(node: V1Node, incidentId: string): Pick<DrainPlan, 'cordon' | 'nodePatch'> {
  const annotations = node.metadata?.annotations ?? {};
  const recorded = annotations[DRAIN_CORDON_ANNOTATION] !== undefined;
  const unschedulable = node.spec?.unschedulable === true;
  if (recorded && unschedulable) return { cordon: 'held', nodePatch: undefined };
  if (recorded) return { cordon: 'recordon', nodePatch: { spec: { unschedulable: true } } };
  const isolations = Object.keys(annotations).some((k) => k.startsWith(NODE_CORDON_ANNOTATION_PREFIX));
  if (unschedulable && isolations) return { cordon: 'join', nodePatch: { metadata: { annotations: { [DRAIN_CORDON_ANNOTATION]: incidentId } } } };
  if (unschedulable) return { cordon: 'cordoned-by-others', nodePatch: undefined };
  return { cordon: 'cordon', nodePatch: { metadata: { annotations: { [DRAIN_CORDON_ANNOTATION]: incidentId } }, spec: { unschedulable: true } } };
}

/** Why a pod stays on the node, or undefined when it is to be evicted. */
function leaveReason(pod: V1Pod, options: DrainOptions): Pick<LeftPod, 'kind' | 'reason'> | undefined {
  const namespace = pod.metadata?.namespace ?? '';
  if (isMirrorPod(pod)) return { kind: 'mirror', reason: 'mirror of a static pod: the kubelet runs it from a file, eviction cannot stop it' };
  const controller = controllerOf(pod);
  if (controller?.kind === 'DaemonSet') return { kind: 'daemonset', reason: `DaemonSet pod (${controller.name}): it belongs on every node` };
  const phase = pod.status?.phase;
  if (phase === 'Succeeded' || phase === 'Failed') return undefined;
  if (isProtectedNamespace(namespace, options.protectedNamespaces)) return { kind: 'protected-namespace', reason: `namespace ${namespace} is protected: sentinel does not act on its pods` };
  if (!controller && !options.force) return { kind: 'no-controller', reason: 'no controller: nothing would recreate it (force: true evicts it)' };
  const emptyDirs = (pod.spec?.volumes ?? []).filter((v) => v.emptyDir !== undefined).map((v) => v.name);
  if (emptyDirs.length > 0 && !options.deleteEmptyDirData) {
    return { kind: 'emptydir', reason: `emptyDir volume${emptyDirs.length > 1 ? 's' : ''} ${emptyDirs.join(', ')}: the data would be lost (deleteEmptyDirData: true evicts it)` };
  }
  return undefined;
}

/** What draining `node` would do, given its pods. Call checkNodeAllowed first. */
export function planNodeDrain(node: V1Node, pods: readonly V1Pod[], options: DrainOptions, incidentId: string): DrainPlan {
  const evict: V1Pod[] = [];
  const left: LeftPod[] = [];
  const terminating: PodRef[] = [];
  const sorted = [...pods].sort((a, b) => `${a.metadata?.namespace}/${a.metadata?.name}`.localeCompare(`${b.metadata?.namespace}/${b.metadata?.name}`));
  for (const pod of sorted) {
    const ref = { namespace: pod.metadata?.namespace ?? '', pod: pod.metadata?.name ?? '' };
    if (pod.metadata?.deletionTimestamp) {
      terminating.push(ref);
      continue;
    }
    const why = leaveReason(pod, options);
    if (why) left.push({ ...ref, ...why });
    else evict.push(pod);
  }
  return { node: node.metadata?.name ?? '', ...decideCordon(node, incidentId), evict, left, terminating };
}

/** `2 DaemonSet pods, 1 mirror pod; shop/web-0 (disruption budget: …)`: expected leftovers counted, the others named. */
export function describeLeft(left: readonly LeftPod[]): string {
  const counted: [LeftKind, string][] = [
    ['daemonset', 'DaemonSet pod'],
    ['mirror', 'mirror pod'],
  ];
  const parts: string[] = [];
  for (const [kind, noun] of counted) {
    const k = left.filter((l) => l.kind === kind).length;
    if (k > 0) parts.push(`${k} ${noun}${k === 1 ? '' : 's'}`);
  }
  const named = left.filter((l) => l.kind !== 'daemonset' && l.kind !== 'mirror').map((l) => `${l.namespace}/${l.pod} (${l.reason})`);
  return [...(parts.length ? [parts.join(', ')] : []), ...named].join('; ');
}
