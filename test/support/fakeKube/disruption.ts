/**
 * policy/v1 PodDisruptionBudgets and the pods/eviction subresource.
 *
 * A PDB's status is computed when it is read or checked, as the disruption controller keeps
 * it: expectedPods (pods its selector matches that are not terminating), currentHealthy (of
 * those, the Ready ones), desiredHealthy (from minAvailable, or expectedPods - maxUnavailable;
 * percentages round up) and disruptionsAllowed.
 *
 * An eviction (`POST .../pods/{name}/eviction`, body a policy/v1 Eviction) deletes the pod
 * gracefully (deletion.ts) unless a PDB forbids it: 429 TooManyRequests "Cannot evict pod as it
 * would violate the pod's disruption budget." with a DisruptionBudget cause. A pod that is
 * Pending, finished or already terminating is evicted without checking budgets; a pod that
 * two budgets select answers 500, as the API server does.
 */
import { randomUUID } from 'node:crypto';
import { deletePod, type DeleteOptions } from './deletion.js';
import { KubeError, alreadyExists, badRequest, invalid, notFound, successStatus, type ResourceRef } from './status.js';
import { Store, isDnsSubdomain, key, type PodEntry } from './store.js';
import type { AddPodDisruptionBudgetOptions, KubeObject } from './types.js';

export const PDBS: ResourceRef = { resource: 'poddisruptionbudgets', group: 'policy' };
export const POLICY_V1 = 'policy/v1';

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: string; values?: string[] }[];
}

/** Whether a label selector object (matchLabels and matchExpressions) selects these labels; an empty selector selects everything. */
export function selectorMatches(selector: LabelSelector | undefined, labels: Record<string, string>): boolean {
  if (!selector) return false;
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of selector.matchExpressions ?? []) {
    const has = Object.hasOwn(labels, e.key);
    const v = labels[e.key];
    const values = e.values ?? [];
    if (e.operator === 'In' && !(has && values.includes(v!))) return false;
    if (e.operator === 'NotIn' && has && values.includes(v!)) return false;
    if (e.operator === 'Exists' && !has) return false;
    if (e.operator === 'DoesNotExist' && has) return false;
  }
  return true;
}

function isReady(pod: KubeObject): boolean {
  const conditions = (pod.status?.['conditions'] ?? []) as { type?: string; status?: string }[];
  return conditions.some((c) => c.type === 'Ready' && c.status === 'True');
}

function scaled(value: number | string, of: number, roundUp: boolean): number {
  if (typeof value === 'number') return value;
  const pct = Number(value.replace(/%$/, ''));
  const exact = (pct * of) / 100;
  return roundUp ? Math.ceil(exact) : Math.floor(exact);
}

/** The pods a PDB selects (not terminating), in its namespace. */
function selectedPods(store: Store, pdb: KubeObject): KubeObject[] {
  const selector = pdb.spec?.['selector'] as LabelSelector | undefined;
  return [...store.pods.values()]
    .map((e) => e.object)
    .filter((p) => p.metadata.namespace === pdb.metadata.namespace && p.metadata.deletionTimestamp === undefined && selectorMatches(selector, p.metadata.labels ?? {}));
}

/** The PDB with its status as the disruption controller would have written it now. */
export function withStatus(store: Store, pdb: KubeObject): KubeObject {
  const pods = selectedPods(store, pdb);
  const expectedPods = pods.length;
  const currentHealthy = pods.filter(isReady).length;
  const spec = pdb.spec ?? {};
  let desiredHealthy: number;
  if (spec['minAvailable'] !== undefined) desiredHealthy = scaled(spec['minAvailable'] as number | string, expectedPods, true);
  else if (spec['maxUnavailable'] !== undefined) desiredHealthy = Math.max(0, expectedPods - scaled(spec['maxUnavailable'] as number | string, expectedPods, true));
  else desiredHealthy = 0;
  const disruptionsAllowed = Math.max(0, currentHealthy - desiredHealthy);
  const out = structuredClone(pdb);
  out.status = {
    observedGeneration: pdb.metadata.generation ?? 1,
    disruptionsAllowed,
    currentHealthy,
    desiredHealthy,
    expectedPods,
    conditions: [
      {
        type: 'DisruptionAllowed',
        status: disruptionsAllowed > 0 ? 'True' : 'False',
        reason: disruptionsAllowed > 0 ? 'SufficientPods' : 'InsufficientPods',
        message: '',
        observedGeneration: pdb.metadata.generation ?? 1,
        lastTransitionTime: pdb.metadata.creationTimestamp,
      },
    ],
  };
  return out;
}

function validatePdb(body: Record<string, unknown>, name: string): { field: string; message: string; reason?: string }[] {
  const errors: { field: string; message: string; reason?: string }[] = [];
  const spec = isObject(body['spec']) ? body['spec'] : {};
  const intOrPercent = (v: unknown) => (typeof v === 'number' && Number.isInteger(v) && v >= 0) || (typeof v === 'string' && /^\d+%$/.test(v) && Number(v.slice(0, -1)) <= 100);
  if (spec['minAvailable'] !== undefined && spec['maxUnavailable'] !== undefined) {
    errors.push({ field: 'spec', message: 'Invalid value: minAvailable and maxUnavailable cannot be both set' });
  }
  for (const f of ['minAvailable', 'maxUnavailable'] as const) {
    if (spec[f] !== undefined && !intOrPercent(spec[f])) errors.push({ field: `spec.${f}`, message: `Invalid value: ${JSON.stringify(spec[f])}: must be a non-negative integer or a percentage` });
  }
  if (spec['selector'] !== undefined && !isObject(spec['selector'])) errors.push({ field: 'spec.selector', message: 'Invalid value: must be a label selector' });
  if (!isDnsSubdomain(name)) errors.push({ field: 'metadata.name', message: `Invalid value: ${JSON.stringify(name)}: a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.'` });
  return errors;
}

/** Stores a PDB (REST create and the test-side helper). */
export function createPdb(store: Store, namespace: string, body: Record<string, unknown>, dryRun: boolean): KubeObject {
  if (body['apiVersion'] !== undefined && body['apiVersion'] !== POLICY_V1) {
    throw badRequest(`the API version in the data (${String(body['apiVersion'])}) does not match the expected API version (${POLICY_V1})`);
  }
  if (body['kind'] !== undefined && body['kind'] !== 'PodDisruptionBudget') {
    throw badRequest(`the kind in the data (${String(body['kind'])}) does not match the expected kind (PodDisruptionBudget)`);
  }
  const meta = isObject(body['metadata']) ? body['metadata'] : {};
  const name = typeof meta['name'] === 'string' ? meta['name'] : '';
  if (name === '') throw invalid('PodDisruptionBudget', '', [{ field: 'metadata.name', message: 'Required value: name or generateName is required', reason: 'FieldValueRequired' }], 'policy');
  const errors = validatePdb(body, name);
  if (errors.length > 0) throw invalid('PodDisruptionBudget', name, errors, 'policy');
  if (store.podDisruptionBudgets.has(key(namespace, name))) throw alreadyExists(PDBS, name);
  const object: KubeObject = {
    apiVersion: POLICY_V1,
    kind: 'PodDisruptionBudget',
    metadata: {
      ...store.newMeta(name, namespace, {
        labels: meta['labels'] as Record<string, string> | undefined,
        annotations: meta['annotations'] as Record<string, string> | undefined,
      }),
      generation: 1,
    },
    spec: structuredClone(isObject(body['spec']) ? body['spec'] : {}),
  };
  if (!dryRun) store.podDisruptionBudgets.set(key(namespace, name), object);
  return withStatus(store, object);
}

export function addPodDisruptionBudget(store: Store, opts: AddPodDisruptionBudgetOptions): KubeObject {
  const namespace = opts.namespace ?? 'default';
  return createPdb(
    store,
    namespace,
    {
      metadata: { name: opts.name },
      spec: {
        selector: { matchLabels: opts.matchLabels },
        ...(opts.minAvailable !== undefined ? { minAvailable: opts.minAvailable } : {}),
        ...(opts.maxUnavailable !== undefined ? { maxUnavailable: opts.maxUnavailable } : {}),
      },
    },
    false,
  );
}

export function deletePdb(store: Store, namespace: string, name: string, dryRun: boolean): unknown {
  const current = store.podDisruptionBudgets.get(key(namespace, name));
  if (!current) throw notFound(PDBS, name);
  if (!dryRun) store.podDisruptionBudgets.delete(key(namespace, name));
  return successStatus(PDBS, name, current.metadata.uid ?? randomUUID());
}

function budgetViolation(pdb: KubeObject): KubeError {
  const status = pdb.status ?? {};
  const err = new KubeError(429, 'TooManyRequests', "Cannot evict pod as it would violate the pod's disruption budget.", {
    causes: [
      {
        reason: 'DisruptionBudget',
        message: `The disruption budget ${pdb.metadata.name} needs ${String(status['desiredHealthy'])} healthy pods and has ${String(status['currentHealthy'])} currently`,
      },
    ],
  });
  return err;
}

/** POST pods/{name}/eviction. Answers 201 with a Success Status, as the API server does. */
export function evictPod(store: Store, entry: PodEntry, rawBody: string, query: URLSearchParams): { status: number; body: unknown } {
  const pod = entry.object;
  const name = pod.metadata.name;
  const namespace = pod.metadata.namespace ?? '';
  let body: unknown;
  try {
    body = JSON.parse(rawBody);
  } catch (err) {
    throw badRequest(`couldn't get version/kind; json parse error: ${(err as Error).message}`);
  }
  if (!isObject(body)) throw badRequest('the object provided is unrecognized (must be of type Eviction)');
  if (body['apiVersion'] !== undefined && body['apiVersion'] !== POLICY_V1 && body['apiVersion'] !== 'policy/v1beta1') {
    throw badRequest(`the API version in the data (${String(body['apiVersion'])}) does not match the expected API version (${POLICY_V1})`);
  }
  if (body['kind'] !== undefined && body['kind'] !== 'Eviction') throw badRequest(`the kind in the data (${String(body['kind'])}) does not match the expected kind (Eviction)`);
  const meta = isObject(body['metadata']) ? body['metadata'] : {};
  if (meta['name'] !== undefined && meta['name'] !== name) throw badRequest(`name in URL does not match name in Eviction object`);
  if (meta['namespace'] !== undefined && meta['namespace'] !== namespace) throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
  const deleteOptions = isObject(body['deleteOptions']) ? body['deleteOptions'] : {};
  const dryRun = query.getAll('dryRun').includes('All');
  const options: DeleteOptions = {
    ...(typeof deleteOptions['gracePeriodSeconds'] === 'number' ? { gracePeriodSeconds: deleteOptions['gracePeriodSeconds'] } : {}),
    ...(isObject(deleteOptions['preconditions'])
      ? { preconditions: deleteOptions['preconditions'] as { uid?: string; resourceVersion?: string } }
      : {}),
    dryRun,
  };

  const phase = pod.status?.['phase'];
  const ignoreBudgets = phase === 'Pending' || phase === 'Succeeded' || phase === 'Failed' || pod.metadata.deletionTimestamp !== undefined;
  if (!ignoreBudgets) {
    const budgets = [...store.podDisruptionBudgets.values()].filter(
      (b) => b.metadata.namespace === namespace && selectorMatches(b.spec?.['selector'] as LabelSelector | undefined, pod.metadata.labels ?? {}),
    );
    if (budgets.length > 1) throw new KubeError(500, 'InternalError', 'This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.');
    if (budgets.length === 1) {
      const pdb = withStatus(store, budgets[0]!);
      const status = pdb.status ?? {};
      // A pod that is not Ready may go while the budget is met (unhealthyPodEvictionPolicy IfHealthyBudget).
      const allowed = isReady(pod) ? Number(status['disruptionsAllowed']) > 0 : Number(status['currentHealthy']) >= Number(status['desiredHealthy']);
      if (!allowed) throw budgetViolation(pdb);
    }
  }
  deletePod(store, entry, options);
  return { status: 201, body: { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success' } };
}
