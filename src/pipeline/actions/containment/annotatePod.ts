import { z } from 'zod';
import { annotationsSchema } from '../../../kube/metadataKeys.js';
import { setPodMetadata, type SetPodMetadataDetails } from '../../../kube/setPodMetadata.js';
import { namespaceNameSchema, podNameSchema } from '../../planning/planPodIsolation.js';
import { parseActionInput } from '../parseActionInput.js';
import { defineAction, type ActionDeps, type ActionRequest, type ActionResult } from '../types.js';

const inputSchema = z.strictObject({
  namespace: namespaceNameSchema,
  pod: podNameSchema,
  /** Annotations to add or change: Kubernetes keys, any text values (256 KiB in all); never kubernetes.io/, k8s.io/ or sentinel's isolation record. */
  annotations: annotationsSchema,
});

export type AnnotatePodInput = z.output<typeof inputSchema>;

/** Adds or changes annotations on a pod (only the keys that differ; idempotent). */
export async function annotatePod(request: ActionRequest<AnnotatePodInput>, deps: ActionDeps): Promise<ActionResult<SetPodMetadataDetails>> {
  const input = parseActionInput(inputSchema, request.input, 'annotate-pod');
  return setPodMetadata('annotations', { ...request, input: { namespace: input.namespace, pod: input.pod, values: input.annotations } }, deps);
}

export const annotatePodAction = defineAction({
  id: 'annotate-pod',
  description:
    "Add or change annotations on a pod (Kubernetes key rules, 256 KiB in all; never kubernetes.io/ or k8s.io/ keys, nor sentinel's isolation record); refuses system and protected namespaces.",
  permissions: {
    iam: [],
    rbac: [{ apiGroups: [''], resources: ['pods'], verbs: ['get', 'patch'] }],
  },
  input: inputSchema,
  run: annotatePod,
});
