import { z } from 'zod';
import {
  ANNOTATION_ACTOR,
  ANNOTATION_ALLOWED_EGRESS,
  ANNOTATION_CORDONED_NODE,
  ANNOTATION_INCIDENT,
  ANNOTATION_POD,
  LABEL_CREATED_BY,
  LABEL_ISOLATED,
  LABEL_ISOLATION_ID,
} from '../pipeline/planning/planPodIsolation.js';

/**
 * Label and annotation keys and values, by Kubernetes' own rules (apimachinery's
 * IsQualifiedName and IsValidLabelValue), plus the keys sentinel will not let a step set:
 * the reserved `kubernetes.io/` and `k8s.io/` prefixes (and their subdomains), which belong to
 * Kubernetes and its components, and the keys sentinel's own isolation keeps as its record
 * (a forged `sentinel.io/isolation-id` would put the pod under another pod's policy).
 * Other `sentinel.io/` keys are sentinel's to set.
 */

const NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

/** Keys isolate-pod and release-pod own on pods and policies: never set by a label or annotation step. */
export const SENTINEL_RECORD_KEYS: readonly string[] = [
  LABEL_ISOLATED,
  LABEL_ISOLATION_ID,
  LABEL_CREATED_BY,
  ANNOTATION_INCIDENT,
  ANNOTATION_ACTOR,
  ANNOTATION_POD,
  ANNOTATION_CORDONED_NODE,
  ANNOTATION_ALLOWED_EGRESS,
];

/** Most keys one step may set. */
export const MAX_KEYS_PER_STEP = 32;
/** Kubernetes' limit on all of an object's annotations together (keys and values). */
export const ANNOTATIONS_TOTAL_MAX = 256 * 1024;

/** Why a key is not a qualified name (`[prefix/]name`), or undefined when it is one. */
export function qualifiedNameProblem(key: string): string | undefined {
  const parts = key.split('/');
  if (parts.length > 2) return 'a qualified name has at most one "/" ([prefix/]name)';
  const [prefix, name] = parts.length === 2 ? [parts[0]!, parts[1]!] : [undefined, parts[0]!];
  if (prefix !== undefined) {
    if (prefix === '') return 'the prefix before "/" is empty';
    if (prefix.length > 253 || !DNS_SUBDOMAIN.test(prefix)) return 'the prefix must be a lowercase DNS subdomain of at most 253 characters';
  }
  if (name === '') return 'the name part is empty';
  if (name.length > 63) return 'the name part is longer than 63 characters';
  if (!NAME.test(name)) return "the name part must consist of alphanumeric characters, '-', '_' or '.', and start and end with an alphanumeric character";
  return undefined;
}

/** Whether a key's prefix is reserved for Kubernetes: kubernetes.io, k8s.io, or a subdomain of either. */
export function isReservedKey(key: string): boolean {
  const slash = key.indexOf('/');
  if (slash < 0) return false;
  const prefix = key.slice(0, slash);
  return prefix === 'kubernetes.io' || prefix === 'k8s.io' || prefix.endsWith('.kubernetes.io') || prefix.endsWith('.k8s.io');
}

/** Why a step may not set this key (reserved or sentinel's record), or undefined when it may. */
export function forbiddenKeyReason(key: string): string | undefined {
  if (isReservedKey(key)) return 'keys under kubernetes.io/ and k8s.io/ belong to Kubernetes and are never set by sentinel';
  if (SENTINEL_RECORD_KEYS.includes(key)) return 'this key is the record of a sentinel isolation (isolate-pod and release-pod own it)';
  return undefined;
}

/** Refuses keys that are not qualified names, reserved, or sentinel's record, naming each (path: the key). */
function checkKeys(map: Record<string, unknown>, ctx: z.RefinementCtx): void {
  for (const key of Object.keys(map)) {
    const problem = qualifiedNameProblem(key) ?? forbiddenKeyReason(key);
    if (problem) ctx.addIssue({ code: 'custom', path: [key], message: `${JSON.stringify(key.slice(0, 80))}: ${problem}` });
  }
}

const labelValue = z
  .string()
  .max(63, 'a label value is at most 63 characters')
  .regex(LABEL_VALUE, "a label value must be empty or consist of alphanumeric characters, '-', '_' or '.', and start and end with an alphanumeric character");

/** Labels to set: 1 to 32 valid keys, each with a valid value. */
export const labelsSchema = z
  .record(z.string(), labelValue)
  .superRefine(checkKeys)
  .refine((m) => Object.keys(m).length >= 1, 'at least one label')
  .refine((m) => Object.keys(m).length <= MAX_KEYS_PER_STEP, `at most ${MAX_KEYS_PER_STEP} labels`);

/** Annotations to set: 1 to 32 valid keys; values any text, together within Kubernetes' 256 KiB. */
export const annotationsSchema = z
  .record(z.string(), z.string())
  .superRefine(checkKeys)
  .refine((m) => Object.keys(m).length >= 1, 'at least one annotation')
  .refine((m) => Object.keys(m).length <= MAX_KEYS_PER_STEP, `at most ${MAX_KEYS_PER_STEP} annotations`)
  .refine((m) => annotationsSize(m) <= ANNOTATIONS_TOTAL_MAX, `annotations may total at most ${ANNOTATIONS_TOTAL_MAX} bytes`);

/** Bytes of a set of annotations as Kubernetes counts them (keys and values). */
export function annotationsSize(annotations: Record<string, string>): number {
  return Object.entries(annotations).reduce((n, [k, v]) => n + Buffer.byteLength(k) + Buffer.byteLength(v), 0);
}

export interface MetadataChange {
  /** Keys whose value changes (or that are new): the merge patch. */
  set: Record<string, string>;
  /** Previous values of keys that existed with another value. */
  replaced: Record<string, string>;
  /** Keys that already had the asked value. */
  unchanged: string[];
}

/** What setting `wanted` on an object with `current` changes. */
export function planMetadataChange(current: Record<string, string> | undefined, wanted: Record<string, string>): MetadataChange {
  const have = current ?? {};
  const set: Record<string, string> = {};
  const replaced: Record<string, string> = {};
  const unchanged: string[] = [];
  for (const [k, v] of Object.entries(wanted)) {
    if (have[k] === v) unchanged.push(k);
    else {
      set[k] = v;
      if (have[k] !== undefined) replaced[k] = have[k]!;
    }
  }
  return { set, replaced, unchanged };
}
