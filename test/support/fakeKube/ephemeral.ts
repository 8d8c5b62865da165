/**
 * `GET|PATCH|PUT /api/v1/namespaces/{ns}/pods/{name}/ephemeralcontainers`: the subresource
 * `kubectl debug` uses to add an ephemeral container to a running pod. It takes and answers a
 * Pod; only `spec.ephemeralContainers` changes, and only by adding: an existing ephemeral
 * container can never be changed or removed (422). A new one needs a unique name and an image,
 * may name a `targetContainerName` among the pod's containers, and may not set ports, probes,
 * lifecycle or resources. The fake kubelet then starts it (status running), or reports
 * ErrImagePull for an image the test made unpullable. Each gets its own empty root directory
 * (its image's file system), which exec into it runs in.
 */
import { mkdirSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { PATCH_CONTENT_TYPES, applyPatch, type PatchContentType } from './patch.js';
import { badRequest, conflict, invalid, methodNotAllowed, unsupportedMediaType, type ResourceRef } from './status.js';
import { Store, isDnsLabel, type PodEntry } from './store.js';
import type { KubeObject } from './types.js';

const PODS: ResourceRef = { resource: 'pods' };
const FORBIDDEN_FIELDS = ['ports', 'livenessProbe', 'readinessProbe', 'startupProbe', 'lifecycle', 'resources'] as const;

type Cause = { field: string; message: string; reason?: string };

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function ephemeralOf(pod: unknown): Record<string, unknown>[] {
  const spec = isObject(pod) && isObject(pod['spec']) ? pod['spec'] : {};
  const list = spec['ephemeralContainers'];
  return Array.isArray(list) ? (list as Record<string, unknown>[]) : [];
}

/** JSON with object keys sorted, to compare objects whatever their key order. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (isObject(v)) return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canonical(v[k])}`).join(',')}}`;
  return JSON.stringify(v);
}

function defaulted(c: Record<string, unknown>): Record<string, unknown> {
  const image = String(c['image'] ?? '');
  const tagged = /:[^/]+$/.test(image) || image.includes('@');
  return {
    terminationMessagePath: '/dev/termination-log',
    terminationMessagePolicy: 'File',
    imagePullPolicy: !tagged || image.endsWith(':latest') ? 'Always' : 'IfNotPresent',
    ...c,
  };
}

function validate(entry: PodEntry, before: Record<string, unknown>[], after: Record<string, unknown>[]): Cause[] {
  const errors: Cause[] = [];
  const pod = entry.object;
  for (const old of before) {
    const now = after.find((c) => c['name'] === old['name']);
    if (!now) errors.push({ field: 'spec.ephemeralContainers', message: `Forbidden: existing ephemeral containers "${String(old['name'])}" may not be removed`, reason: 'FieldValueForbidden' });
    else if (canonical(defaulted(now)) !== canonical(old)) {
      errors.push({ field: 'spec.ephemeralContainers', message: `Forbidden: existing ephemeral containers "${String(old['name'])}" may not be changed`, reason: 'FieldValueForbidden' });
    }
  }
  const regular = ((pod.spec?.['containers'] ?? []) as { name: string }[]).map((c) => c.name);
  const init = ((pod.spec?.['initContainers'] ?? []) as { name: string }[]).map((c) => c.name);
  const seen = new Set([...regular, ...init]);
  after.forEach((c, i) => {
    const at = `spec.ephemeralContainers[${i}]`;
    const name = c['name'];
    if (typeof name !== 'string' || name === '') errors.push({ field: `${at}.name`, message: 'Required value', reason: 'FieldValueRequired' });
    else if (!isDnsLabel(name)) errors.push({ field: `${at}.name`, message: `Invalid value: ${JSON.stringify(name)}: a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-'` });
    else if (seen.has(name)) errors.push({ field: `${at}.name`, message: `Duplicate value: ${JSON.stringify(name)}`, reason: 'FieldValueDuplicate' });
    if (typeof name === 'string') seen.add(name);
    if (before.some((b) => b['name'] === name)) return;
    if (typeof c['image'] !== 'string' || c['image'].trim() === '') errors.push({ field: `${at}.image`, message: 'Required value', reason: 'FieldValueRequired' });
    for (const f of ['command', 'args'] as const) {
      if (c[f] !== undefined && !(Array.isArray(c[f]) && (c[f] as unknown[]).every((x) => typeof x === 'string'))) {
        errors.push({ field: `${at}.${f}`, message: 'Invalid value: must be a list of strings' });
      }
    }
    const target = c['targetContainerName'];
    if (target !== undefined && (typeof target !== 'string' || ![...regular, ...init].includes(target))) {
      errors.push({ field: `${at}.targetContainerName`, message: `Not found: ${JSON.stringify(target)}`, reason: 'FieldValueNotFound' });
    }
    for (const f of FORBIDDEN_FIELDS) {
      if (c[f] !== undefined) errors.push({ field: `${at}.${f}`, message: 'Forbidden: cannot be set for an Ephemeral Container', reason: 'FieldValueForbidden' });
    }
  });
  return errors;
}

/** The kubelet starts each new ephemeral container (or fails to pull its image). */
function startNew(store: Store, entry: PodEntry, added: Record<string, unknown>[]): void {
  const status = (entry.object.status ??= {});
  const statuses = (status['ephemeralContainerStatuses'] ??= []) as Record<string, unknown>[];
  for (const c of added) {
    const name = String(c['name']);
    const image = String(c['image']);
    const failure = store.unpullableImages.get(image);
    const dir = path.join(store.baseDir, 'ephemeral', entry.object.metadata.namespace ?? '', entry.object.metadata.name, name);
    mkdirSync(dir, { recursive: true });
    entry.ephemeralRoots.set(name, realpathSync(dir));
    entry.logs.set(name, { current: [], previous: undefined });
    statuses.push({
      name,
      image,
      imageID: failure ? '' : `${image.split(':')[0]}@sha256:${createHash('sha256').update(image).digest('hex')}`,
      ...(failure ? {} : { containerID: `containerd://${createHash('sha256').update(`${entry.object.metadata.uid}/${name}`).digest('hex')}` }),
      ready: false,
      restartCount: 0,
      lastState: {},
      state: failure ? { waiting: { reason: 'ErrImagePull', message: failure } } : { running: { startedAt: store.timestamp() } },
    });
  }
}

export function ephemeralContainers(store: Store, entry: PodEntry, req: { method: string; contentType: string | undefined; rawBody: string; query: URLSearchParams }): { status: number; body: unknown } {
  const pod = entry.object;
  if (req.method === 'GET') return { status: 200, body: structuredClone(pod) };
  if (req.method !== 'PATCH' && req.method !== 'PUT') throw methodNotAllowed();
  const type = (req.contentType ?? '').split(';')[0]!.trim().toLowerCase();
  let body: unknown;
  try {
    body = JSON.parse(req.rawBody);
  } catch (err) {
    throw badRequest(`error decoding ${req.method === 'PUT' ? 'Pod' : 'patch'}: ${(err as Error).message}`);
  }
  let next: unknown;
  if (req.method === 'PATCH') {
    if (!(PATCH_CONTENT_TYPES as readonly string[]).includes(type)) throw unsupportedMediaType(type, [...PATCH_CONTENT_TYPES, 'application/apply-patch+yaml']);
    next = applyPatch(type as PatchContentType, pod, body);
  } else {
    if (!isObject(body)) throw badRequest('the object provided is unrecognized (must be of type Pod)');
    const rv = isObject(body['metadata']) ? body['metadata']['resourceVersion'] : undefined;
    if (rv !== undefined && rv !== pod.metadata.resourceVersion) throw conflict(PODS, pod.metadata.name);
    next = body;
  }
  const rv = isObject(next) && isObject(next['metadata']) ? next['metadata']['resourceVersion'] : undefined;
  if (req.method === 'PATCH' && rv !== undefined && rv !== null && rv !== pod.metadata.resourceVersion) throw conflict(PODS, pod.metadata.name);

  const before = ephemeralOf(pod);
  const after = ephemeralOf(next);
  const errors = validate(entry, before, after);
  if (errors.length > 0) throw invalid('Pod', pod.metadata.name, errors);
  const added = after.filter((c) => !before.some((b) => b['name'] === c['name'])).map(defaulted);
  const dryRun = req.query.getAll('dryRun').includes('All');
  // Only spec.ephemeralContainers changes through this subresource; everything else is kept.
  const updated: KubeObject = structuredClone(pod);
  if (added.length > 0) {
    updated.spec = { ...updated.spec, ephemeralContainers: [...before, ...added] };
    if (!dryRun) {
      updated.metadata.resourceVersion = store.nextResourceVersion();
      entry.object = updated;
      startNew(store, entry, added);
      return { status: 200, body: structuredClone(entry.object) };
    }
  }
  return { status: 200, body: updated };
}
