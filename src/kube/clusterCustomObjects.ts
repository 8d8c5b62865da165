import type { KubeClients } from './clients.js';
import { kubeStatusBody, kubeStatusCode, toKubeError } from './kubeErrors.js';

/** A cluster-scoped custom resource's coordinates. */
export interface ClusterResource {
  group: string;
  version: string;
  plural: string;
  kind: string;
}

/** A custom object as the API returns it: what sentinel reads of it. */
export interface CustomObject {
  apiVersion?: string;
  kind?: string;
  metadata?: { name?: string; uid?: string; resourceVersion?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: Record<string, unknown>;
}

/**
 * One object, or why not: `absent` (the resource is served, the object is not there) or
 * `not-installed` (the API server does not serve the resource at all: a 404 that names no object,
 * as for a CRD that is not installed or an aggregated API that is not running).
 */
export type CustomRead = { state: 'found'; object: CustomObject } | { state: 'absent' } | { state: 'not-installed' };

/** A 404 about the resource itself rather than about the object `name`. */
export function isResourceMissing(err: unknown, name: string): boolean {
  if (kubeStatusCode(err) !== 404) return false;
  const details = (kubeStatusBody(err) as { details?: { name?: string } } | undefined)?.details;
  return details?.name !== name;
}

export async function readClusterObject(kube: KubeClients, r: ClusterResource, name: string): Promise<CustomRead> {
  try {
    const object = (await kube.custom.getClusterCustomObject({ group: r.group, version: r.version, plural: r.plural, name })) as CustomObject;
    return { state: 'found', object };
  } catch (err) {
    if (kubeStatusCode(err) === 404) return isResourceMissing(err, name) ? { state: 'not-installed' } : { state: 'absent' };
    throw toKubeError(err, `reading ${r.kind} ${name}`);
  }
}

/** Creates (or with `dryRun`, has the API server validate and default without storing) one object. */
export async function createClusterObject(kube: KubeClients, r: ClusterResource, body: object, dryRun = false): Promise<CustomObject> {
  return (await kube.custom.createClusterCustomObject({ group: r.group, version: r.version, plural: r.plural, body, ...(dryRun ? { dryRun: 'All' } : {}) })) as CustomObject;
}

/** Deletes exactly the object with this uid (the API refuses with 409 when the name now holds another). */
export async function deleteClusterObject(kube: KubeClients, r: ClusterResource, name: string, uid: string): Promise<void> {
  await kube.custom.deleteClusterCustomObject({ group: r.group, version: r.version, plural: r.plural, name, body: { preconditions: { uid } } });
}
