import { z } from 'zod';
import { labelsSchema } from '../../../kube/metadataKeys.js';
import { setPodMetadata, type SetPodMetadataDetails } from '../../../kube/setPodMetadata.js';
import { namespaceNameSchema, podNameSchema } from '../../planning/planPodIsolation.js';
import { parseActionInput } from '../parseActionInput.js';
import { defineAction, type ActionDeps, type ActionRequest, type ActionResult } from '../types.js';

const inputSchema = z.strictObject({
  namespace: namespaceNameSchema,
  pod: podNameSchema,
  /** Labels to add or change: Kubernetes label keys and values; never kubernetes.io/, k8s.io/ or sentinel's isolation record. */
  labels: labelsSchema,
});

export type LabelPodInput = z.output<typeof inputSchema>;

/**
 * Adds or changes labels on a pod (only the keys that differ; idempotent). A label can move a
 * pod out of its Service or its ReplicaSet's selector: the ReplicaSet then starts a replacement
 * and the labelled pod stays, for inspection.
 */
export async function labelPod(request: ActionRequest<LabelPodInput>, deps: ActionDeps): Promise<ActionResult<SetPodMetadataDetails>> {
  const input = parseActionInput(inputSchema, request.input, 'label-pod');
  return setPodMetadata('labels', { ...request, input: { namespace: input.namespace, pod: input.pod, values: input.labels } }, deps);
}

export const labelPodAction = defineAction({
  id: 'label-pod',
  description:
    "Add or change labels on a pod (Kubernetes key and value rules; never kubernetes.io/ or k8s.io/ keys, nor sentinel's isolation record); refuses system and protected namespaces.",
  permissions: {
    iam: [],
    rbac: [{ apiGroups: [''], resources: ['pods'], verbs: ['get', 'patch'] }],
  },
  input: inputSchema,
  run: labelPod,
});
