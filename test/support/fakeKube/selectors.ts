/** Label and field selectors (`?labelSelector=` / `?fieldSelector=`), as the API server parses them. */
import { badRequest } from './status.js';
import type { KubeObject } from './types.js';

type Requirement =
  | { key: string; op: 'exists' | 'notexists' }
  | { key: string; op: 'eq' | 'neq'; value: string }
  | { key: string; op: 'in' | 'notin'; values: string[] };

const KEY = String.raw`(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?\/)?[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?`;
const VALUE = String.raw`(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?)?`;
const EXISTS = new RegExp(`^(${KEY})$`);
const NOT_EXISTS = new RegExp(`^!\\s*(${KEY})$`);
const EQUALITY = new RegExp(`^(${KEY})\\s*(==|=|!=)\\s*(${VALUE})$`);
const SET = new RegExp(`^(${KEY})\\s+(in|notin)\\s*\\(([^()]*)\\)$`);

/** Split on commas that are not inside parentheses. */
function splitTopLevel(selector: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let current = '';
  for (const ch of selector) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      parts.push(current);
      current = '';
    } else {
      current += ch;
    }
  }
  parts.push(current);
  return parts.map((p) => p.trim()).filter((p) => p !== '');
}

export function parseLabelSelector(selector: string): Requirement[] {
  return splitTopLevel(selector).map((part): Requirement => {
    let m = EQUALITY.exec(part);
    if (m) return { key: m[1]!, op: m[2] === '!=' ? 'neq' : 'eq', value: m[3]! };
    m = SET.exec(part);
    if (m) {
      const values = m[3]!.split(',').map((v) => v.trim()).filter((v) => v !== '');
      if (!values.every((v) => new RegExp(`^${VALUE}$`).test(v))) throw badRequest(`unable to parse requirement: found '${part}', invalid value`);
      return { key: m[1]!, op: m[2] === 'in' ? 'in' : 'notin', values };
    }
    m = NOT_EXISTS.exec(part);
    if (m) return { key: m[1]!, op: 'notexists' };
    m = EXISTS.exec(part);
    if (m) return { key: m[1]!, op: 'exists' };
    throw badRequest(`unable to parse requirement: found '${part}', expected: key, !key, key=value, key!=value, key in (...), key notin (...)`);
  });
}

function matches(reqs: Requirement[], get: (key: string) => string | undefined): boolean {
  return reqs.every((r) => {
    const v = get(r.key);
    switch (r.op) {
      case 'exists':
        return v !== undefined;
      case 'notexists':
        return v === undefined;
      case 'eq':
        return v === r.value;
      case 'neq':
        return v !== r.value;
      case 'in':
        return v !== undefined && r.values.includes(v);
      case 'notin':
        return v === undefined || !r.values.includes(v);
    }
  });
}

export function matchesLabelSelector(obj: KubeObject, selector: string | undefined): boolean {
  if (!selector) return true;
  const labels = obj.metadata.labels ?? {};
  return matches(parseLabelSelector(selector), (k) => (Object.hasOwn(labels, k) ? labels[k] : undefined));
}

function getField(obj: KubeObject, dotted: string): string | undefined {
  let cur: unknown = obj;
  for (const part of dotted.split('.')) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[part];
  }
  if (cur === undefined || cur === null) return undefined;
  return String(cur);
}

/** Field selectors support `=`, `==` and `!=` over the fields the real API allows for the kind. */
export function matchesFieldSelector(obj: KubeObject, selector: string | undefined, supported: readonly string[]): boolean {
  if (!selector) return true;
  const reqs = splitTopLevel(selector).map((part) => {
    const m = /^([A-Za-z0-9.]+)\s*(==|=|!=)\s*(.*)$/.exec(part);
    if (!m) throw badRequest(`invalid selector: '${selector}'; can't understand '${part}'`);
    const field = m[1]!;
    if (!supported.includes(field)) throw badRequest(`field label not supported: ${field}`);
    return { field, neq: m[2] === '!=', value: m[3]! };
  });
  return reqs.every((r) => {
    // Absent fields compare as the empty string (spec.nodeName= selects unscheduled pods).
    const v = getField(obj, r.field) ?? '';
    return r.neq ? v !== r.value : v === r.value;
  });
}

export const POD_FIELDS = [
  'metadata.name',
  'metadata.namespace',
  'spec.nodeName',
  'spec.restartPolicy',
  'spec.schedulerName',
  'spec.serviceAccountName',
  'status.phase',
  'status.podIP',
  'status.nominatedNodeName',
] as const;
export const NODE_FIELDS = ['metadata.name', 'spec.unschedulable'] as const;
export const GENERIC_FIELDS = ['metadata.name', 'metadata.namespace'] as const;
