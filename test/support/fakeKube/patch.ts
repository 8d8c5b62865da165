/**
 * The three patch flavours the API server accepts on PATCH (client-node 2.x sends
 * `application/json-patch+json` unless the caller overrides the Content-Type header):
 * JSON merge patch (RFC 7386), a subset of strategic merge patch, and JSON patch (RFC 6902).
 */
import { KubeError, badRequest } from './status.js';

export const PATCH_CONTENT_TYPES = [
  'application/json-patch+json',
  'application/merge-patch+json',
  'application/strategic-merge-patch+json',
] as const;
export type PatchContentType = (typeof PATCH_CONTENT_TYPES)[number];

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type JsonObject = { [k: string]: Json };

function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function clone<T>(v: T): T {
  return structuredClone(v);
}

/** RFC 7386: objects merge recursively, `null` deletes, everything else replaces. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return clone(patch);
  const out: JsonObject = isObject(target) ? clone(target) : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v) as Json;
  }
  return out;
}

/** Lists merged by key under strategic merge patch (the ones the fake's objects carry). */
const MERGE_KEYS: Record<string, string> = {
  'spec.containers': 'name',
  'spec.initContainers': 'name',
  'spec.ephemeralContainers': 'name',
  'spec.taints': 'key',
  'metadata.ownerReferences': 'uid',
  'status.conditions': 'type',
  'status.addresses': 'type',
};
/** Primitive lists with patchStrategy=merge (union). */
const MERGE_PRIMITIVE_LISTS = new Set(['metadata.finalizers']);

/**
 * Strategic merge patch for the fields the fake serves: maps merge like a merge patch
 * (so `metadata.labels` behaves exactly as with kubectl), lists with a known merge key
 * merge element-wise (`$patch: delete` removes an element), other lists are replaced.
 * Map-level `$patch: replace|delete` and `$deleteFromPrimitiveList/<field>` are honoured.
 */
export function strategicMergePatch(target: unknown, patch: unknown, path = ''): unknown {
  if (!isObject(patch)) return clone(patch);
  const directive = patch['$patch'];
  if (directive === 'delete') return undefined;
  if (directive === 'replace') {
    const { $patch: _ignored, ...rest } = patch;
    return clone(rest);
  }
  const out: JsonObject = isObject(target) ? clone(target) : {};
  for (const [k, v] of Object.entries(patch)) {
    if (k === '$patch') continue;
    if (k.startsWith('$deleteFromPrimitiveList/')) {
      const field = k.slice('$deleteFromPrimitiveList/'.length);
      const current = out[field];
      if (Array.isArray(current) && Array.isArray(v)) out[field] = current.filter((x) => !v.includes(x));
      continue;
    }
    if (k.startsWith('$')) continue;
    const childPath = path ? `${path}.${k}` : k;
    if (v === null) {
      delete out[k];
      continue;
    }
    const mergeKey = MERGE_KEYS[childPath];
    if (Array.isArray(v) && mergeKey !== undefined) {
      const current = Array.isArray(out[k]) ? (clone(out[k]) as Json[]) : [];
      for (const item of v) {
        if (!isObject(item)) throw badRequest(`strategic merge patch: element of ${childPath} is not an object`);
        const key = item[mergeKey];
        const idx = current.findIndex((c) => isObject(c) && c[mergeKey] === key);
        if (item['$patch'] === 'delete') {
          if (idx >= 0) current.splice(idx, 1);
        } else if (idx >= 0) {
          current[idx] = strategicMergePatch(current[idx], item, childPath) as Json;
        } else {
          current.push(strategicMergePatch(undefined, item, childPath) as Json);
        }
      }
      out[k] = current;
      continue;
    }
    if (Array.isArray(v) && MERGE_PRIMITIVE_LISTS.has(childPath)) {
      const current = Array.isArray(out[k]) ? (out[k] as Json[]) : [];
      out[k] = [...current, ...v.filter((x) => !current.includes(x))];
      continue;
    }
    const merged = strategicMergePatch(out[k], v, childPath);
    if (merged === undefined) delete out[k];
    else out[k] = merged as Json;
  }
  return out;
}

interface Operation {
  op: string;
  path: string;
  from?: string;
  value?: unknown;
}

/** 422 as the apiserver answers a JSON patch that does not apply. */
function patchDoesNotApply(message: string): KubeError {
  return new KubeError(422, 'Invalid', 'the server rejected our request due to an error in our request', {
    causes: [{ reason: 'UnexpectedServerResponse', message }],
  });
}

function parsePointer(pointer: string): string[] {
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) throw badRequest(`invalid JSON pointer: ${JSON.stringify(pointer)}`);
  return pointer
    .slice(1)
    .split('/')
    .map((t) => t.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function walk(doc: Json, tokens: string[], pointer: string, opName: string): Json {
  let cur: Json = doc;
  for (const t of tokens) {
    if (Array.isArray(cur)) {
      const i = Number(t);
      if (!/^\d+$/.test(t) || i >= cur.length) throw patchDoesNotApply(`${opName} operation does not apply: doc is missing path: "${pointer}": missing value`);
      cur = cur[i]!;
    } else if (isObject(cur)) {
      if (!Object.hasOwn(cur, t)) throw patchDoesNotApply(`${opName} operation does not apply: doc is missing path: "${pointer}": missing value`);
      cur = cur[t]!;
    } else {
      throw patchDoesNotApply(`${opName} operation does not apply: doc is missing path: "${pointer}": missing value`);
    }
  }
  return cur;
}

function getAt(doc: Json, pointer: string, opName: string): Json {
  return walk(doc, parsePointer(pointer), pointer, opName);
}

function removeAt(doc: Json, pointer: string, opName: string): Json {
  const tokens = parsePointer(pointer);
  const last = tokens.pop();
  if (last === undefined) throw patchDoesNotApply(`${opName} operation does not apply: cannot remove the document root`);
  const parent = walk(doc, tokens, pointer, opName);
  if (Array.isArray(parent)) {
    const i = Number(last);
    if (!/^\d+$/.test(last) || i >= parent.length) throw patchDoesNotApply(`${opName} operation does not apply: doc is missing key: ${pointer}: missing value`);
    return parent.splice(i, 1)[0]!;
  }
  if (isObject(parent) && Object.hasOwn(parent, last)) {
    const v = parent[last]!;
    delete parent[last];
    return v;
  }
  throw patchDoesNotApply(`${opName} operation does not apply: doc is missing key: ${pointer}: missing value`);
}

function addAt(doc: Json, pointer: string, value: Json, replace: boolean, opName: string): Json {
  const tokens = parsePointer(pointer);
  const last = tokens.pop();
  if (last === undefined) return value;
  const parent = walk(doc, tokens, pointer, opName);
  if (Array.isArray(parent)) {
    if (replace) {
      const i = Number(last);
      if (!/^\d+$/.test(last) || i >= parent.length) throw patchDoesNotApply(`${opName} operation does not apply: doc is missing key: ${pointer}: missing value`);
      parent[i] = value;
    } else if (last === '-') {
      parent.push(value);
    } else {
      const i = Number(last);
      if (!/^\d+$/.test(last) || i > parent.length) throw patchDoesNotApply(`${opName} operation does not apply: index out of bounds: ${pointer}`);
      parent.splice(i, 0, value);
    }
    return doc;
  }
  if (!isObject(parent)) throw patchDoesNotApply(`${opName} operation does not apply: doc is missing path: "${pointer}": missing value`);
  if (replace && !Object.hasOwn(parent, last)) {
    throw patchDoesNotApply(`${opName} operation does not apply: doc is missing key: ${pointer}: missing value`);
  }
  parent[last] = value;
  return doc;
}

/** RFC 6902 with the RFC 6901 pointer escapes (`~1` for `/`, as in `/metadata/labels/app.kubernetes.io~1name`). */
export function jsonPatch(target: unknown, operations: unknown): unknown {
  if (!Array.isArray(operations)) throw badRequest('json: cannot unmarshal object into Go value of type jsonpatch.Patch');
  let doc = clone(target) as Json;
  for (const raw of operations) {
    if (!isObject(raw) || typeof raw['op'] !== 'string' || typeof raw['path'] !== 'string') {
      throw badRequest('invalid JSON patch operation: each operation needs "op" and "path"');
    }
    const op = raw as unknown as Operation;
    switch (op.op) {
      case 'add':
        if (!('value' in op)) throw badRequest(`add operation missing value`);
        doc = addAt(doc, op.path, clone(op.value) as Json, false, 'add');
        break;
      case 'replace':
        if (!('value' in op)) throw badRequest(`replace operation missing value`);
        doc = addAt(doc, op.path, clone(op.value) as Json, true, 'replace');
        break;
      case 'remove':
        removeAt(doc, op.path, 'remove');
        break;
      case 'test': {
        const actual = getAt(doc, op.path, 'test');
        if (JSON.stringify(actual) !== JSON.stringify(op.value)) {
          throw patchDoesNotApply(`testing value ${op.path} failed: test failed`);
        }
        break;
      }
      case 'move': {
        if (typeof op.from !== 'string') throw badRequest('move operation missing from');
        const v = removeAt(doc, op.from, 'move');
        doc = addAt(doc, op.path, v, false, 'move');
        break;
      }
      case 'copy': {
        if (typeof op.from !== 'string') throw badRequest('copy operation missing from');
        const v = clone(getAt(doc, op.from, 'copy'));
        doc = addAt(doc, op.path, v, false, 'copy');
        break;
      }
      default:
        throw badRequest(`Unexpected kind: ${op.op}`);
    }
  }
  return doc;
}

/** Apply a PATCH body of the given media type; throws KubeError for bad patches. */
export function applyPatch(contentType: PatchContentType, target: unknown, body: unknown): unknown {
  switch (contentType) {
    case 'application/json-patch+json':
      return jsonPatch(target, body);
    case 'application/merge-patch+json':
      if (!isObject(body)) throw badRequest('merge patch must be a JSON object');
      return mergePatch(target, body);
    case 'application/strategic-merge-patch+json':
      if (!isObject(body)) throw badRequest('strategic merge patch must be a JSON object');
      return strategicMergePatch(target, body);
  }
}
