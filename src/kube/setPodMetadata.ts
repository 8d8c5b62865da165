import { PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { LimitExceededError, NotFoundError } from '../errors.js';
import type { ActionDeps, ActionRequest, ActionResult } from '../pipeline/actions/types.js';
import { planned, skipped, succeeded } from '../pipeline/actions/types.js';
import type { KubeClients } from './clients.js';
import { kubeCall, readOptional } from './kubeErrors.js';
import { ANNOTATIONS_TOTAL_MAX, annotationsSize, planMetadataChange } from './metadataKeys.js';
import { checkNamespaceAllowed } from './protectedNamespace.js';
import { requireKube } from './requireKube.js';

const MERGE_PATCH = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

export type MetadataField = 'labels' | 'annotations';

export interface SetPodMetadataDetails {
  namespace: string;
  pod: string;
  field: MetadataField;
  /** What this run set (new keys and changed values); in a dry run, what it would set. */
  set: Record<string, string>;
  /** Keys that had another value before, with that value. */
  replaced: Record<string, string>;
  /** Keys that already had the asked value. */
  unchanged: string[];
}

const WORDS: Record<MetadataField, { noun: string; verb: string; done: string }> = {
  labels: { noun: 'label', verb: 'label', done: 'labelled' },
  annotations: { noun: 'annotation', verb: 'annotate', done: 'annotated' },
};

/**
 * Sets labels or annotations on one pod (JSON merge patch of only the keys that change). Keys
 * were validated by the action's schema; here: the namespace check before any call, the pod
 * read (404 → NotFound), Kubernetes' 256 KiB annotation total, then the patch. `skipped` when
 * every key already has its value; a dry run writes nothing.
 */
export async function setPodMetadata(
  field: MetadataField,
  request: ActionRequest<{ namespace: string; pod: string; values: Record<string, string> }>,
  deps: ActionDeps,
): Promise<ActionResult<SetPodMetadataDetails>> {
  const { namespace, pod, values } = request.input;
  const { noun, verb, done } = WORDS[field];
  checkNamespaceAllowed(namespace, deps.settings.protectedNamespaces, `${verb} a pod`);
  const kube: KubeClients = requireKube(deps, `${verb} a pod`);

  const current = await readOptional(() => kube.core.readNamespacedPod({ name: pod, namespace }), `reading pod ${namespace}/${pod}`);
  if (!current) throw new NotFoundError(`pod ${namespace}/${pod} not found`, { details: { namespace, pod } });
  const existing = current.metadata?.[field];
  const change = planMetadataChange(existing, values);
  const details: SetPodMetadataDetails = { namespace, pod, field, ...change };
  const keys = Object.keys(change.set);
  const where = `pod ${namespace}/${pod}`;
  if (keys.length === 0) return skipped(`${where} already has ${Object.keys(values).length === 1 ? `this ${noun}` : `these ${field}`} (${Object.keys(values).join(', ')})`, details);
  if (field === 'annotations' && annotationsSize({ ...existing, ...change.set }) > ANNOTATIONS_TOTAL_MAX) {
    throw new LimitExceededError(`the annotations of ${where} would total more than ${ANNOTATIONS_TOTAL_MAX} bytes, Kubernetes' limit`, { code: 'AnnotationsTooLarge' });
  }
  const list = keys.map((k) => (change.replaced[k] !== undefined ? `${k} (was ${JSON.stringify(change.replaced[k]!.slice(0, 64))})` : k)).join(', ');
  if (request.dryRun) return planned(`would ${verb} ${where}: ${list}`, details);

  await kubeCall(() => kube.core.patchNamespacedPod({ name: pod, namespace, body: { metadata: { [field]: change.set } } }, MERGE_PATCH), `setting ${field} on ${where}`);
  deps.logger.info(`pod ${field} set`, { namespace, pod, keys, replaced: Object.keys(change.replaced) });
  return succeeded(`${done} ${where}: ${list}`, details);
}
