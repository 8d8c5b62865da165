/**
 * Graceful pod deletion, as the API server and kubelet do it: a DELETE of a running pod sets
 * `deletionTimestamp` (now + grace period) and `deletionGracePeriodSeconds` and answers the
 * pod; the pod stays (Terminating) until the grace period has passed, then it is gone
 * (Store.reapTerminated). Grace period 0, an unscheduled pod or a finished one is removed at
 * once. A second DELETE may only shorten the grace period. `preconditions.uid` /
 * `preconditions.resourceVersion` that do not match answer 409.
 */
import { badRequest, conflict, invalid, type ResourceRef } from './status.js';
import { Store, key, type PodEntry } from './store.js';
import type { KubeObject } from './types.js';

const PODS: ResourceRef = { resource: 'pods' };

export interface DeleteOptions {
  gracePeriodSeconds?: number;
  preconditions?: { uid?: string; resourceVersion?: string };
  dryRun: boolean;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** DeleteOptions from the query (`gracePeriodSeconds`, `dryRun`) and an optional JSON body (`kind: DeleteOptions`). */
export function parseDeleteOptions(query: URLSearchParams, rawBody: string): DeleteOptions {
  let body: Record<string, unknown> = {};
  if (rawBody.trim() !== '') {
    try {
      const parsed: unknown = JSON.parse(rawBody);
      if (!isObject(parsed)) throw new Error('not an object');
      body = parsed;
    } catch (err) {
      throw badRequest(`error decoding DeleteOptions: ${(err as Error).message}`);
    }
  }
  const fromQuery = query.get('gracePeriodSeconds');
  let grace: number | undefined;
  if (fromQuery !== null && fromQuery !== '') {
    if (!/^-?\d+$/.test(fromQuery)) throw badRequest(`strconv.ParseInt: parsing ${JSON.stringify(fromQuery)}: invalid syntax`);
    grace = Number(fromQuery);
  } else if (typeof body['gracePeriodSeconds'] === 'number') {
    grace = body['gracePeriodSeconds'];
  }
  const pre = isObject(body['preconditions']) ? body['preconditions'] : undefined;
  const dryRun = query.getAll('dryRun').includes('All') || (Array.isArray(body['dryRun']) && body['dryRun'].includes('All'));
  return {
    ...(grace !== undefined ? { gracePeriodSeconds: grace } : {}),
    ...(pre
      ? {
          preconditions: {
            ...(typeof pre['uid'] === 'string' ? { uid: pre['uid'] } : {}),
            ...(typeof pre['resourceVersion'] === 'string' ? { resourceVersion: pre['resourceVersion'] } : {}),
          },
        }
      : {}),
    dryRun,
  };
}

/** Deletes (or starts terminating) a pod; answers the pod object as the API server does. */
export function deletePod(store: Store, entry: PodEntry, options: DeleteOptions): KubeObject {
  const pod = entry.object;
  const name = pod.metadata.name;
  const namespace = pod.metadata.namespace ?? '';
  const pre = options.preconditions;
  if (pre?.uid !== undefined && pre.uid !== pod.metadata.uid) {
    const err = conflict(PODS, name);
    err.body.message = `Operation cannot be fulfilled on pods "${name}": Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${pod.metadata.uid}`;
    throw err;
  }
  if (pre?.resourceVersion !== undefined && pre.resourceVersion !== pod.metadata.resourceVersion) {
    const err = conflict(PODS, name);
    err.body.message = `Operation cannot be fulfilled on pods "${name}": Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${pod.metadata.resourceVersion}`;
    throw err;
  }
  if (options.gracePeriodSeconds !== undefined && options.gracePeriodSeconds < 0) {
    throw invalid('DeleteOptions', '', [{ field: 'gracePeriodSeconds', message: `Invalid value: ${options.gracePeriodSeconds}: must be greater than or equal to 0` }]);
  }

  const phase = pod.status?.['phase'];
  const unscheduled = !pod.spec?.['nodeName'];
  const finished = phase === 'Succeeded' || phase === 'Failed';
  const specGrace = typeof pod.spec?.['terminationGracePeriodSeconds'] === 'number' ? (pod.spec['terminationGracePeriodSeconds'] as number) : 30;
  let grace = unscheduled || finished ? 0 : (options.gracePeriodSeconds ?? specGrace);
  const current = pod.metadata.deletionGracePeriodSeconds;
  if (current !== undefined && current < grace) grace = current; // a grace period can only be shortened

  const after = structuredClone(pod);
  if (grace === 0) {
    after.metadata.deletionTimestamp = store.timestamp();
    after.metadata.deletionGracePeriodSeconds = 0;
    if (!options.dryRun) {
      store.pods.delete(key(namespace, name));
      after.metadata.resourceVersion = store.nextResourceVersion();
    }
    return after;
  }
  if (current === undefined || grace < current) {
    const at = new Date(store.now().getTime() + grace * 1000);
    after.metadata.deletionTimestamp = at.toISOString().replace(/\.\d{3}Z$/, 'Z');
    after.metadata.deletionGracePeriodSeconds = grace;
    if (!options.dryRun) {
      after.metadata.resourceVersion = store.nextResourceVersion();
      entry.object = after;
    }
  }
  return structuredClone(after);
}
