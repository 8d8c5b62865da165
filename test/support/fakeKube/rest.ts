/**
 * The REST endpoints the fake serves, on in-memory objects:
 *   core/v1 pods (get, list, patch, graceful delete), pods/log, pods/eviction,
 *   pods/ephemeralcontainers, nodes (get, list, patch),
 *   networking.k8s.io/v1 networkpolicies (create, get, list, patch, delete),
 *   policy/v1 poddisruptionbudgets (create, get, list, delete),
 *   custom resources once installed (customResources.ts: create, get, list, delete).
 * Errors are thrown as KubeError and answered as Status bodies by the server.
 */
import { randomBytes } from 'node:crypto';
import { deletePod, parseDeleteOptions } from './deletion.js';
import { PDBS, POLICY_V1, createPdb, deletePdb, evictPod, withStatus } from './disruption.js';
import { handleCustomResource } from './customResources.js';
import { ephemeralContainers } from './ephemeral.js';
import { servePodLog } from './logs.js';
import { syncUnschedulableTaint } from './nodes.js';
import { PATCH_CONTENT_TYPES, applyPatch, type PatchContentType } from './patch.js';
import { GENERIC_FIELDS, NODE_FIELDS, POD_FIELDS, matchesFieldSelector, matchesLabelSelector } from './selectors.js';
import {
  alreadyExists,
  badRequest,
  conflict,
  invalid,
  methodNotAllowed,
  notFound,
  pathNotFound,
  successStatus,
  unsupportedMediaType,
  type ResourceRef,
} from './status.js';
import { Store, isDnsSubdomain, key, labelErrors } from './store.js';
import type { KubeObject } from './types.js';

export interface RestRequest {
  method: string;
  /** Path segments, already URL-decoded. */
  segments: string[];
  query: URLSearchParams;
  contentType: string | undefined;
  rawBody: string;
}

export interface RestResponse {
  status: number;
  /** JSON-serialised, or sent as is when a Buffer. */
  body: unknown;
  /** Default `application/json`. */
  contentType?: string;
}

const PODS: ResourceRef = { resource: 'pods' };
const NODES: ResourceRef = { resource: 'nodes' };
const NETPOLS: ResourceRef = { resource: 'networkpolicies', group: 'networking.k8s.io' };
const NETWORKING = 'networking.k8s.io/v1';

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function copy<T>(v: T): T {
  return structuredClone(v);
}

function list(kind: string, apiVersion: string, resourceVersion: string, items: KubeObject[]): Record<string, unknown> {
  return {
    kind,
    apiVersion,
    metadata: { resourceVersion },
    // Items of a list carry no apiVersion/kind on the wire.
    items: items.map(({ apiVersion: _a, kind: _k, ...rest }) => copy(rest)),
  };
}

function isDryRun(query: URLSearchParams): boolean {
  return query.getAll('dryRun').includes('All');
}

function parseJsonBody(raw: string, what: string): unknown {
  if (raw.trim() === '') throw badRequest(`${what}: the request body is empty`);
  try {
    return JSON.parse(raw);
  } catch (err) {
    throw badRequest(`${what}: ${(err as Error).message}`);
  }
}

function mediaType(contentType: string | undefined): string {
  return (contentType ?? '').split(';')[0]!.trim().toLowerCase();
}

function metaErrors(obj: Record<string, unknown>): { field: string; message: string; reason: string }[] {
  const meta = isObject(obj['metadata']) ? obj['metadata'] : {};
  const errors = labelErrors(meta['labels']);
  const annotations = meta['annotations'];
  if (annotations !== undefined && annotations !== null) {
    if (!isObject(annotations) || Object.values(annotations).some((v) => typeof v !== 'string')) {
      errors.push({ field: 'metadata.annotations', message: 'Invalid value: annotations must be a map of string keys to string values', reason: 'FieldValueInvalid' });
    }
  }
  return errors;
}

/**
 * PATCH shared by all kinds: media type, decoding, the patch itself, optimistic concurrency,
 * immutable identity fields, label/annotation validation, then the kind's own rules.
 */
function patchObject(
  store: Store,
  current: KubeObject,
  req: RestRequest,
  ref: ResourceRef,
  kind: string,
  group: string | undefined,
  rules: (before: KubeObject, after: KubeObject) => void,
): KubeObject {
  const type = mediaType(req.contentType);
  if (!(PATCH_CONTENT_TYPES as readonly string[]).includes(type)) {
    throw unsupportedMediaType(type, [...PATCH_CONTENT_TYPES, 'application/apply-patch+yaml']);
  }
  const body = parseJsonBody(req.rawBody, 'error decoding patch');
  const patched = applyPatch(type as PatchContentType, current, body);
  if (!isObject(patched) || !isObject(patched['metadata'])) throw badRequest('the patched object is not a valid object');
  const after = patched as KubeObject;
  const name = current.metadata.name;

  const rv = after.metadata.resourceVersion;
  if (rv !== undefined && rv !== null && rv !== current.metadata.resourceVersion) throw conflict(ref, name);

  const immutable: { field: string; message: string; reason: string }[] = [];
  for (const field of ['name', 'namespace', 'uid', 'creationTimestamp'] as const) {
    if (after.metadata[field] !== current.metadata[field]) {
      immutable.push({ field: `metadata.${field}`, message: `Invalid value: ${JSON.stringify(after.metadata[field])}: field is immutable`, reason: 'FieldValueInvalid' });
    }
  }
  const errors = [...immutable, ...metaErrors(after)];
  if (errors.length > 0) throw invalid(kind, name, errors, group);
  after.apiVersion = current.apiVersion;
  after.kind = current.kind;
  after.metadata.resourceVersion = current.metadata.resourceVersion;
  for (const m of ['labels', 'annotations'] as const) {
    if (after.metadata[m] !== undefined && (after.metadata[m] === null || Object.keys(after.metadata[m]).length === 0)) delete after.metadata[m];
  }
  rules(current, after);
  if (JSON.stringify(after) !== JSON.stringify(current) && !isDryRun(req.query)) {
    after.metadata.resourceVersion = store.nextResourceVersion();
  }
  return after;
}

// ---------------------------------------------------------------- pods

function getPodEntry(store: Store, namespace: string, name: string) {
  const entry = store.pods.get(key(namespace, name));
  if (!entry) throw notFound(PODS, name);
  return entry;
}

function listPods(store: Store, req: RestRequest, namespace: string | undefined): RestResponse {
  const labelSelector = req.query.get('labelSelector') ?? undefined;
  const fieldSelector = req.query.get('fieldSelector') ?? undefined;
  const items = [...store.pods.values()]
    .map((e) => e.object)
    .filter((o) => namespace === undefined || o.metadata.namespace === namespace)
    .filter((o) => matchesLabelSelector(o, labelSelector) && matchesFieldSelector(o, fieldSelector, POD_FIELDS))
    .sort((a, b) => key(a.metadata.namespace ?? '', a.metadata.name).localeCompare(key(b.metadata.namespace ?? '', b.metadata.name)));
  return { status: 200, body: list('PodList', 'v1', store.currentResourceVersion(), items) };
}

function pod(store: Store, req: RestRequest, namespace: string, name: string): RestResponse {
  switch (req.method) {
    case 'GET':
      return { status: 200, body: copy(getPodEntry(store, namespace, name).object) };
    case 'PATCH': {
      const entry = getPodEntry(store, namespace, name);
      const after = patchObject(store, entry.object, req, PODS, 'Pod', undefined, (before, next) => {
        // The main resource ignores status changes (they go through /status).
        if (before.status) next.status = copy(before.status);
        else delete next.status;
        if (JSON.stringify(next.spec) !== JSON.stringify(before.spec)) {
          throw invalid('Pod', name, [
            {
              field: 'spec',
              message:
                'Forbidden: pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)',
              reason: 'FieldValueForbidden',
            },
          ]);
        }
      });
      if (!isDryRun(req.query)) entry.object = after;
      return { status: 200, body: copy(after) };
    }
    case 'DELETE': {
      const entry = getPodEntry(store, namespace, name);
      return { status: 200, body: deletePod(store, entry, parseDeleteOptions(req.query, req.rawBody)) };
    }
    default:
      throw methodNotAllowed();
  }
}

// ---------------------------------------------------------------- nodes

function node(store: Store, req: RestRequest, name: string): RestResponse {
  const current = store.nodes.get(name);
  switch (req.method) {
    case 'GET':
      if (!current) throw notFound(NODES, name);
      return { status: 200, body: copy(current) };
    case 'PATCH': {
      if (!current) throw notFound(NODES, name);
      const after = patchObject(store, current, req, NODES, 'Node', undefined, (before, next) => {
        if (before.status) next.status = copy(before.status);
        const spec = next.spec ?? {};
        if (spec['unschedulable'] !== undefined && spec['unschedulable'] !== null && typeof spec['unschedulable'] !== 'boolean') {
          throw invalid('Node', name, [{ field: 'spec.unschedulable', message: `Invalid value: ${JSON.stringify(spec['unschedulable'])}: must be a boolean` }]);
        }
        if (spec['providerID'] !== before.spec?.['providerID'] && before.spec?.['providerID'] !== undefined) {
          throw invalid('Node', name, [{ field: 'spec.providerID', message: 'Forbidden: node updates may not change providerID except from "" to valid', reason: 'FieldValueForbidden' }]);
        }
        if (spec['taints'] !== undefined && !Array.isArray(spec['taints'])) {
          throw invalid('Node', name, [{ field: 'spec.taints', message: 'Invalid value: taints must be a list' }]);
        }
        syncUnschedulableTaint(next, store.timestamp());
      });
      if (!isDryRun(req.query)) store.nodes.set(name, after);
      return { status: 200, body: copy(after) };
    }
    default:
      throw methodNotAllowed();
  }
}

function listNodes(store: Store, req: RestRequest): RestResponse {
  if (req.method !== 'GET') throw methodNotAllowed();
  const labelSelector = req.query.get('labelSelector') ?? undefined;
  const fieldSelector = req.query.get('fieldSelector') ?? undefined;
  const items = [...store.nodes.values()]
    .filter((o) => matchesLabelSelector(o, labelSelector) && matchesFieldSelector(o, fieldSelector, NODE_FIELDS))
    .sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
  return { status: 200, body: list('NodeList', 'v1', store.currentResourceVersion(), items) };
}

// ---------------------------------------------------------------- network policies

function validateNetworkPolicySpec(spec: unknown): { spec: Record<string, unknown>; errors: { field: string; message: string; reason: string }[] } {
  const errors: { field: string; message: string; reason: string }[] = [];
  if (spec !== undefined && !isObject(spec)) {
    return { spec: {}, errors: [{ field: 'spec', message: 'Invalid value: spec must be an object', reason: 'FieldValueInvalid' }] };
  }
  const out: Record<string, unknown> = copy(spec ?? {});
  if (out['podSelector'] === undefined || out['podSelector'] === null) out['podSelector'] = {};
  if (!isObject(out['podSelector'])) errors.push({ field: 'spec.podSelector', message: 'Invalid value: must be a label selector object', reason: 'FieldValueInvalid' });
  for (const dir of ['ingress', 'egress'] as const) {
    if (out[dir] !== undefined && out[dir] !== null && !Array.isArray(out[dir])) {
      errors.push({ field: `spec.${dir}`, message: `Invalid value: ${dir} must be a list of rules`, reason: 'FieldValueInvalid' });
    }
  }
  if (out['policyTypes'] === undefined || out['policyTypes'] === null) {
    // Defaulting, as the API server does: Ingress always, Egress when egress rules exist.
    out['policyTypes'] = Array.isArray(out['egress']) && out['egress'].length > 0 ? ['Ingress', 'Egress'] : ['Ingress'];
  } else if (!Array.isArray(out['policyTypes'])) {
    errors.push({ field: 'spec.policyTypes', message: 'Invalid value: policyTypes must be a list', reason: 'FieldValueInvalid' });
  } else {
    (out['policyTypes'] as unknown[]).forEach((t, i) => {
      if (t !== 'Ingress' && t !== 'Egress') {
        errors.push({ field: `spec.policyTypes[${i}]`, message: `Unsupported value: ${JSON.stringify(t)}: supported values: "Egress", "Ingress"`, reason: 'FieldValueNotSupported' });
      }
    });
  }
  return { spec: out, errors };
}

function createNetworkPolicy(store: Store, req: RestRequest, namespace: string): RestResponse {
  const body = parseJsonBody(req.rawBody, "couldn't get version/kind; json parse error");
  if (!isObject(body)) throw badRequest('the object provided is unrecognized (must be of type NetworkPolicy)');
  if (body['apiVersion'] !== undefined && body['apiVersion'] !== NETWORKING) {
    throw badRequest(`the API version in the data (${String(body['apiVersion'])}) does not match the expected API version (${NETWORKING})`);
  }
  if (body['kind'] !== undefined && body['kind'] !== 'NetworkPolicy') {
    throw badRequest(`the kind in the data (${String(body['kind'])}) does not match the expected kind (NetworkPolicy)`);
  }
  const meta = isObject(body['metadata']) ? body['metadata'] : {};
  if (meta['namespace'] !== undefined && meta['namespace'] !== namespace) {
    throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
  }
  let name = typeof meta['name'] === 'string' ? meta['name'] : '';
  const generateName = typeof meta['generateName'] === 'string' ? meta['generateName'] : '';
  if (name === '' && generateName !== '') name = generateName + randomBytes(3).toString('hex').slice(0, 5);
  if (name === '') {
    throw invalid('NetworkPolicy', '', [{ field: 'metadata.name', message: 'Required value: name or generateName is required', reason: 'FieldValueRequired' }], 'networking.k8s.io');
  }
  const errors = metaErrors(body);
  if (!isDnsSubdomain(name)) {
    errors.unshift({
      field: 'metadata.name',
      message: `Invalid value: "${name}": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')`,
      reason: 'FieldValueInvalid',
    });
  }
  const { spec, errors: specErrors } = validateNetworkPolicySpec(body['spec']);
  errors.push(...specErrors);
  if (errors.length > 0) throw invalid('NetworkPolicy', name, errors, 'networking.k8s.io');
  if (store.networkPolicies.has(key(namespace, name))) throw alreadyExists(NETPOLS, name);

  const { name: _n, namespace: _ns, generateName: _g, uid: _u, resourceVersion: _rv, creationTimestamp: _c, labels, annotations, ...otherMeta } = meta;
  const object: KubeObject = {
    apiVersion: NETWORKING,
    kind: 'NetworkPolicy',
    metadata: {
      ...copy(otherMeta),
      ...store.newMeta(name, namespace, {
        labels: labels as Record<string, string> | undefined,
        annotations: annotations as Record<string, string> | undefined,
      }),
      ...(generateName ? { generateName } : {}),
      generation: 1,
    },
    spec,
  };
  if (!isDryRun(req.query)) store.networkPolicies.set(key(namespace, name), object);
  return { status: 201, body: copy(object) };
}

function networkPolicy(store: Store, req: RestRequest, namespace: string, name: string): RestResponse {
  const current = store.networkPolicies.get(key(namespace, name));
  switch (req.method) {
    case 'GET':
      if (!current) throw notFound(NETPOLS, name);
      return { status: 200, body: copy(current) };
    case 'DELETE':
      if (!current) throw notFound(NETPOLS, name);
      if (!isDryRun(req.query)) store.networkPolicies.delete(key(namespace, name));
      return { status: 200, body: successStatus(NETPOLS, name, current.metadata.uid) };
    case 'PATCH': {
      if (!current) throw notFound(NETPOLS, name);
      const after = patchObject(store, current, req, NETPOLS, 'NetworkPolicy', 'networking.k8s.io', (before, next) => {
        const { spec, errors } = validateNetworkPolicySpec(next.spec);
        if (errors.length > 0) throw invalid('NetworkPolicy', name, errors, 'networking.k8s.io');
        next.spec = spec;
        if (JSON.stringify(spec) !== JSON.stringify(before.spec)) next.metadata.generation = (before.metadata.generation ?? 1) + 1;
      });
      if (!isDryRun(req.query)) store.networkPolicies.set(key(namespace, name), after);
      return { status: 200, body: copy(after) };
    }
    default:
      throw methodNotAllowed();
  }
}

function listNetworkPolicies(store: Store, req: RestRequest, namespace: string | undefined): RestResponse {
  const labelSelector = req.query.get('labelSelector') ?? undefined;
  const fieldSelector = req.query.get('fieldSelector') ?? undefined;
  const items = [...store.networkPolicies.values()]
    .filter((o) => namespace === undefined || o.metadata.namespace === namespace)
    .filter((o) => matchesLabelSelector(o, labelSelector) && matchesFieldSelector(o, fieldSelector, GENERIC_FIELDS))
    .sort((a, b) => key(a.metadata.namespace ?? '', a.metadata.name).localeCompare(key(b.metadata.namespace ?? '', b.metadata.name)));
  return { status: 200, body: list('NetworkPolicyList', NETWORKING, store.currentResourceVersion(), items) };
}

// ---------------------------------------------------------------- pod disruption budgets

function listPdbs(store: Store, req: RestRequest, namespace: string | undefined): RestResponse {
  const labelSelector = req.query.get('labelSelector') ?? undefined;
  const fieldSelector = req.query.get('fieldSelector') ?? undefined;
  const items = [...store.podDisruptionBudgets.values()]
    .filter((o) => namespace === undefined || o.metadata.namespace === namespace)
    .filter((o) => matchesLabelSelector(o, labelSelector) && matchesFieldSelector(o, fieldSelector, GENERIC_FIELDS))
    .sort((a, b) => key(a.metadata.namespace ?? '', a.metadata.name).localeCompare(key(b.metadata.namespace ?? '', b.metadata.name)))
    .map((o) => withStatus(store, o));
  return { status: 200, body: list('PodDisruptionBudgetList', POLICY_V1, store.currentResourceVersion(), items) };
}

// ---------------------------------------------------------------- routing

export function handleRest(store: Store, req: RestRequest): RestResponse {
  const s = req.segments;
  const get = req.method === 'GET';

  if (s[0] === 'api' && s[1] === 'v1') {
    const rest = s.slice(2);
    if (rest.length === 1 && rest[0] === 'pods') {
      if (!get) throw methodNotAllowed();
      return listPods(store, req, undefined);
    }
    if (rest[0] === 'nodes') {
      if (rest.length === 1) return listNodes(store, req);
      if (rest.length === 2) return node(store, req, rest[1]!);
    }
    if (rest[0] === 'namespaces' && rest.length >= 3 && rest[2] === 'pods') {
      const namespace = rest[1]!;
      if (rest.length === 3) {
        if (!get) throw methodNotAllowed();
        return listPods(store, req, namespace);
      }
      if (rest.length === 4) return pod(store, req, namespace, rest[3]!);
      if (rest.length === 5 && rest[4] === 'exec') {
        getPodEntry(store, namespace, rest[3]!);
        throw badRequest('Upgrade request required');
      }
      if (rest.length === 5 && rest[4] === 'log') {
        if (!get) throw methodNotAllowed();
        return servePodLog(store, getPodEntry(store, namespace, rest[3]!), req.query);
      }
      if (rest.length === 5 && rest[4] === 'eviction') {
        if (req.method !== 'POST') throw methodNotAllowed();
        return evictPod(store, getPodEntry(store, namespace, rest[3]!), req.rawBody, req.query);
      }
      if (rest.length === 5 && rest[4] === 'ephemeralcontainers') {
        return ephemeralContainers(store, getPodEntry(store, namespace, rest[3]!), req);
      }
    }
    throw pathNotFound();
  }

  if (s[0] === 'apis' && s[1] === 'policy' && s[2] === 'v1') {
    const rest = s.slice(3);
    if (rest.length === 1 && rest[0] === 'poddisruptionbudgets') {
      if (!get) throw methodNotAllowed();
      return listPdbs(store, req, undefined);
    }
    if (rest[0] === 'namespaces' && rest[2] === 'poddisruptionbudgets') {
      const namespace = rest[1]!;
      if (rest.length === 3) {
        if (get) return listPdbs(store, req, namespace);
        if (req.method === 'POST') {
          const body = parseJsonBody(req.rawBody, "couldn't get version/kind; json parse error");
          if (!isObject(body)) throw badRequest('the object provided is unrecognized (must be of type PodDisruptionBudget)');
          return { status: 201, body: createPdb(store, namespace, body, isDryRun(req.query)) };
        }
        throw methodNotAllowed();
      }
      if (rest.length === 4) {
        const name = rest[3]!;
        if (get) {
          const pdb = store.podDisruptionBudgets.get(key(namespace, name));
          if (!pdb) throw notFound(PDBS, name);
          return { status: 200, body: withStatus(store, pdb) };
        }
        if (req.method === 'DELETE') return { status: 200, body: deletePdb(store, namespace, name, isDryRun(req.query)) };
        throw methodNotAllowed();
      }
    }
  }

  if (s[0] === 'apis' && s[1] === 'networking.k8s.io' && s[2] === 'v1') {
    const rest = s.slice(3);
    if (rest.length === 1 && rest[0] === 'networkpolicies') {
      if (!get) throw methodNotAllowed();
      return listNetworkPolicies(store, req, undefined);
    }
    if (rest[0] === 'namespaces' && rest[2] === 'networkpolicies') {
      const namespace = rest[1]!;
      if (rest.length === 3) {
        if (get) return listNetworkPolicies(store, req, namespace);
        if (req.method === 'POST') return createNetworkPolicy(store, req, namespace);
        throw methodNotAllowed();
      }
      if (rest.length === 4) return networkPolicy(store, req, namespace, rest[3]!);
    }
  }
  // Any other group: a custom resource when its definition is installed, else the plain 404.
  if (s[0] === 'apis') return handleCustomResource(store, store.customResources, { method: req.method, segments: s.slice(1), query: req.query, rawBody: req.rawBody });
  throw pathNotFound();
}

