/**
 * Custom resources, as the API server serves them once their CustomResourceDefinition (or an
 * aggregated API such as Calico's projectcalico.org/v3) is installed: create, get, list (label
 * and field selectors), delete (uid and resourceVersion preconditions, dryRun). Before
 * `installCustomResource` every path of the group answers 404 "the server could not find the
 * requested resource", as a cluster without Cilium or the Calico API server does; an object that
 * is not there answers 404 `<plural>.<group> "<name>" not found`.
 *
 * A definition may prune fields, as a structural schema prunes what it does not declare (an
 * older Cilium's CRD drops `spec.enableDefaultDeny`): on create and on a dry-run create alike.
 */
import { randomBytes } from 'node:crypto';
import { GENERIC_FIELDS, matchesFieldSelector, matchesLabelSelector } from './selectors.js';
import { alreadyExists, badRequest, conflict, invalid, methodNotAllowed, notFound, pathNotFound, successStatus, type ResourceRef } from './status.js';
import { isDnsSubdomain, labelErrors, type Store } from './store.js';
import type { KubeObject } from './types.js';

export interface CustomResourceDefinition {
  /** e.g. `cilium.io` */
  group: string;
  /** e.g. `v2` */
  version: string;
  /** e.g. `ciliumclusterwidenetworkpolicies` */
  plural: string;
  /** e.g. `CiliumClusterwideNetworkPolicy` */
  kind: string;
  /** Namespaced resources live under `/namespaces/<ns>/`; default false (cluster-scoped). */
  namespaced?: boolean;
  /** What the schema keeps of an object: returns the object with undeclared fields dropped. */
  prune?: (object: KubeObject) => KubeObject;
}

/** The installed definitions and their objects (by `group/plural`, then `namespace/name`). */
export class CustomResources {
  private readonly definitions = new Map<string, CustomResourceDefinition>();
  private readonly objects = new Map<string, Map<string, KubeObject>>();

  install(def: CustomResourceDefinition): void {
    const id = `${def.group}/${def.plural}`;
    this.definitions.set(id, { ...def });
    if (!this.objects.has(id)) this.objects.set(id, new Map());
  }

  /** Removes the definition and, as deleting a CRD does, every object of it. */
  uninstall(group: string, plural: string): void {
    this.definitions.delete(`${group}/${plural}`);
    this.objects.delete(`${group}/${plural}`);
  }

  definition(group: string, version: string, plural: string): CustomResourceDefinition | undefined {
    const def = this.definitions.get(`${group}/${plural}`);
    return def && def.version === version ? def : undefined;
  }

  hasGroupVersion(group: string, version: string): boolean {
    return [...this.definitions.values()].some((d) => d.group === group && d.version === version);
  }

  store(group: string, plural: string): Map<string, KubeObject> {
    let m = this.objects.get(`${group}/${plural}`);
    if (!m) {
      m = new Map();
      this.objects.set(`${group}/${plural}`, m);
    }
    return m;
  }

  get(group: string, plural: string, name: string, namespace?: string): KubeObject | undefined {
    const o = this.objects.get(`${group}/${plural}`)?.get(`${namespace ?? ''}/${name}`);
    return o ? structuredClone(o) : undefined;
  }

  list(group: string, plural: string): KubeObject[] {
    return [...(this.objects.get(`${group}/${plural}`)?.values() ?? [])].map((o) => structuredClone(o));
  }
}

export interface CustomRequest {
  method: string;
  /** Path segments after `/apis`. */
  segments: string[];
  query: URLSearchParams;
  rawBody: string;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isDryRun(query: URLSearchParams): boolean {
  return query.getAll('dryRun').includes('All');
}

function parseBody(raw: string, what: string): unknown {
  if (raw.trim() === '') throw badRequest(`${what}: the request body is empty`);
  try {
    return JSON.parse(raw);
  } catch (err) {
    throw badRequest(`${what}: ${(err as Error).message}`);
  }
}

function refOf(def: CustomResourceDefinition): ResourceRef {
  return { resource: def.plural, group: def.group };
}

function create(store: Store, crs: CustomResources, def: CustomResourceDefinition, namespace: string | undefined, req: CustomRequest): { status: number; body: unknown } {
  const apiVersion = `${def.group}/${def.version}`;
  const body = parseBody(req.rawBody, "couldn't get version/kind; json parse error");
  if (!isObject(body)) throw badRequest(`the object provided is unrecognized (must be of type ${def.kind})`);
  if (body['apiVersion'] !== apiVersion) throw badRequest(`the API version in the data (${String(body['apiVersion'])}) does not match the expected API version (${apiVersion})`);
  if (body['kind'] !== def.kind) throw badRequest(`the kind in the data (${String(body['kind'])}) does not match the expected kind (${def.kind})`);
  const meta = isObject(body['metadata']) ? body['metadata'] : {};
  if (namespace !== undefined && meta['namespace'] !== undefined && meta['namespace'] !== namespace) {
    throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
  }
  let name = typeof meta['name'] === 'string' ? meta['name'] : '';
  const generateName = typeof meta['generateName'] === 'string' ? meta['generateName'] : '';
  if (name === '' && generateName !== '') name = generateName + randomBytes(3).toString('hex').slice(0, 5);
  if (name === '') throw invalid(def.kind, '', [{ field: 'metadata.name', message: 'Required value: name or generateName is required', reason: 'FieldValueRequired' }], def.group);
  const errors = labelErrors(meta['labels']);
  const annotations = meta['annotations'];
  if (annotations !== undefined && (!isObject(annotations) || Object.values(annotations).some((v) => typeof v !== 'string'))) {
    errors.push({ field: 'metadata.annotations', message: 'Invalid value: annotations must be a map of string keys to string values', reason: 'FieldValueInvalid' });
  }
  if (!isDnsSubdomain(name)) {
    errors.unshift({ field: 'metadata.name', message: `Invalid value: "${name}": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character`, reason: 'FieldValueInvalid' });
  }
  if (errors.length > 0) throw invalid(def.kind, name, errors, def.group);
  const objects = crs.store(def.group, def.plural);
  const k = `${namespace ?? ''}/${name}`;
  if (objects.has(k)) throw alreadyExists(refOf(def), name);

  const { name: _n, namespace: _ns, generateName: _g, uid: _u, resourceVersion: _rv, creationTimestamp: _c, generation: _gen, labels, annotations: ann, ...otherMeta } = meta;
  const { apiVersion: _a, kind: _k, metadata: _m, status: _s, ...rest } = body;
  let object: KubeObject = {
    ...structuredClone(rest),
    apiVersion,
    kind: def.kind,
    metadata: {
      ...structuredClone(otherMeta),
      ...store.newMeta(name, namespace, { labels: labels as Record<string, string> | undefined, annotations: ann as Record<string, string> | undefined }),
      ...(generateName ? { generateName } : {}),
      generation: 1,
    },
  };
  if (def.prune) object = def.prune(structuredClone(object));
  if (!isDryRun(req.query)) objects.set(k, object);
  return { status: 201, body: structuredClone(object) };
}

function remove(crs: CustomResources, def: CustomResourceDefinition, namespace: string | undefined, name: string, req: CustomRequest): { status: number; body: unknown } {
  const objects = crs.store(def.group, def.plural);
  const k = `${namespace ?? ''}/${name}`;
  const current = objects.get(k);
  if (!current) throw notFound(refOf(def), name);
  const options = req.rawBody.trim() === '' ? {} : parseBody(req.rawBody, 'error decoding DeleteOptions');
  const pre = isObject(options) && isObject(options['preconditions']) ? options['preconditions'] : {};
  if (typeof pre['uid'] === 'string' && pre['uid'] !== current.metadata.uid) {
    throw conflictPrecondition(def, name, 'UID', pre['uid'], current.metadata.uid);
  }
  if (typeof pre['resourceVersion'] === 'string' && pre['resourceVersion'] !== current.metadata.resourceVersion) {
    throw conflictPrecondition(def, name, 'ResourceVersion', pre['resourceVersion'], current.metadata.resourceVersion);
  }
  if (!isDryRun(req.query)) objects.delete(k);
  return { status: 200, body: successStatus(refOf(def), name, current.metadata.uid) };
}

function conflictPrecondition(def: CustomResourceDefinition, name: string, what: 'UID' | 'ResourceVersion', asked: string, actual: string) {
  const err = conflict(refOf(def), name);
  const message = `Operation cannot be fulfilled on ${def.plural}.${def.group} "${name}": Precondition failed: ${what} in precondition: ${asked}, ${what} in object meta: ${actual}`;
  err.body.message = message;
  return err;
}

function list(store: Store, crs: CustomResources, def: CustomResourceDefinition, namespace: string | undefined, req: CustomRequest): { status: number; body: unknown } {
  const labelSelector = req.query.get('labelSelector') ?? undefined;
  const fieldSelector = req.query.get('fieldSelector') ?? undefined;
  const items = crs
    .list(def.group, def.plural)
    .filter((o) => namespace === undefined || o.metadata.namespace === namespace)
    .filter((o) => matchesLabelSelector(o, labelSelector) && matchesFieldSelector(o, fieldSelector, GENERIC_FIELDS))
    .sort((a, b) => `${a.metadata.namespace ?? ''}/${a.metadata.name}`.localeCompare(`${b.metadata.namespace ?? ''}/${b.metadata.name}`));
  return {
    status: 200,
    body: { apiVersion: `${def.group}/${def.version}`, kind: `${def.kind}List`, metadata: { resourceVersion: store.currentResourceVersion() }, items },
  };
}

/**
 * Serves `/apis/<group>/<version>/[namespaces/<ns>/]<plural>[/<name>]` for an installed
 * definition; anything else of an unknown group or resource is the API server's plain 404.
 */
export function handleCustomResource(store: Store, crs: CustomResources, req: CustomRequest): { status: number; body: unknown } {
  const [group, version, ...rest] = req.segments;
  if (!group || !version || !crs.hasGroupVersion(group, version)) throw pathNotFound();
  let namespace: string | undefined;
  let tail = rest;
  if (tail[0] === 'namespaces' && tail.length >= 3) {
    namespace = tail[1]!;
    tail = tail.slice(2);
  }
  const [plural, name, ...extra] = tail;
  if (!plural || extra.length > 0) throw pathNotFound();
  const def = crs.definition(group, version, plural);
  if (!def) throw pathNotFound();
  // A cluster-scoped resource has no namespaced path; a namespaced one is listed across namespaces only.
  if (!def.namespaced && namespace !== undefined) throw pathNotFound();
  if (def.namespaced && namespace === undefined && (name !== undefined || req.method !== 'GET')) throw pathNotFound();
  if (name === undefined) {
    if (req.method === 'GET') return list(store, crs, def, namespace, req);
    if (req.method === 'POST') return create(store, crs, def, namespace, req);
    throw methodNotAllowed();
  }
  switch (req.method) {
    case 'GET': {
      const o = crs.get(def.group, def.plural, name, namespace);
      if (!o) throw notFound(refOf(def), name);
      return { status: 200, body: o };
    }
    case 'DELETE':
      return remove(crs, def, namespace, name, req);
    default:
      throw methodNotAllowed();
  }
}
