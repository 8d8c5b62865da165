/** In-memory objects of the fake API server. */
import { randomUUID } from 'node:crypto';
import { CustomResources } from './customResources.js';
import type { FakePod } from './pods.js';
import type { KubeObject, ObjectMeta } from './types.js';

/** One line a container wrote, as the kubelet keeps it (with the time it was written). */
export interface LogLine {
  time: Date;
  /** The line without its newline. */
  text: Buffer;
}

/** A container's log: the running instance's, and the previous (terminated) instance's once it restarted. */
export interface ContainerLog {
  current: LogLine[];
  previous: LogLine[] | undefined;
}

export interface PodEntry {
  object: KubeObject;
  /** Real path of the directory acting as the container root filesystem. */
  root: string;
  containers: string[];
  handle: FakePod;
  /** Container name → its log (regular and ephemeral containers). */
  logs: Map<string, ContainerLog>;
  /** Ephemeral container name → host directory acting as its image's root filesystem. */
  ephemeralRoots: Map<string, string>;
}

export function key(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

export class Store {
  readonly pods = new Map<string, PodEntry>();
  readonly nodes = new Map<string, KubeObject>();
  readonly networkPolicies = new Map<string, KubeObject>();
  readonly podDisruptionBudgets = new Map<string, KubeObject>();
  /** Installed custom resource definitions (Cilium, Calico…) and their objects. */
  readonly customResources = new CustomResources();
  /** Images whose pull fails (ErrImagePull), with the kubelet's message. */
  readonly unpullableImages = new Map<string, string>();
  private resourceVersion = 1000;
  private counters = new Map<string, number>();

  constructor(
    readonly baseDir: string,
    readonly now: () => Date,
  ) {}

  nextResourceVersion(): string {
    this.resourceVersion += 1;
    return String(this.resourceVersion);
  }

  currentResourceVersion(): string {
    return String(this.resourceVersion);
  }

  /** A per-kind counter for generated names and addresses (0, 1, 2…). */
  next(kind: string): number {
    const n = this.counters.get(kind) ?? 0;
    this.counters.set(kind, n + 1);
    return n;
  }

  /**
   * Removes pods whose graceful deletion has run out (deletionTimestamp reached), as the
   * kubelet and the API server do once the grace period is over. Called before every request.
   */
  reapTerminated(): void {
    const now = this.now().getTime();
    for (const [k, entry] of this.pods) {
      const at = entry.object.metadata.deletionTimestamp;
      if (at !== undefined && Date.parse(at) <= now) this.pods.delete(k);
    }
  }

  timestamp(): string {
    // The API serialises creationTimestamp with second precision.
    return this.now().toISOString().replace(/\.\d{3}Z$/, 'Z');
  }

  newMeta(
    name: string,
    namespace: string | undefined,
    extra: { labels?: Record<string, string> | undefined; annotations?: Record<string, string> | undefined } = {},
  ): ObjectMeta {
    return {
      name,
      ...(namespace !== undefined ? { namespace } : {}),
      uid: randomUUID(),
      resourceVersion: this.nextResourceVersion(),
      creationTimestamp: this.timestamp(),
      ...(extra.labels && Object.keys(extra.labels).length > 0 ? { labels: { ...extra.labels } } : {}),
      ...(extra.annotations && Object.keys(extra.annotations).length > 0 ? { annotations: { ...extra.annotations } } : {}),
    };
  }
}

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

export function isDnsSubdomain(name: string): boolean {
  return name.length <= 253 && DNS_SUBDOMAIN.test(name);
}

export function isDnsLabel(name: string): boolean {
  return name.length <= 63 && DNS_LABEL.test(name);
}

const LABEL_NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

/** Validation errors for metadata.labels, worded like the API server's. */
export function labelErrors(labels: unknown): { field: string; message: string; reason: string }[] {
  if (labels === undefined || labels === null) return [];
  if (typeof labels !== 'object' || Array.isArray(labels)) {
    return [{ field: 'metadata.labels', message: 'Invalid value: labels must be a map of string keys to string values', reason: 'FieldValueInvalid' }];
  }
  const errors: { field: string; message: string; reason: string }[] = [];
  for (const [k, v] of Object.entries(labels as Record<string, unknown>)) {
    const slash = k.indexOf('/');
    const prefix = slash >= 0 ? k.slice(0, slash) : undefined;
    const name = slash >= 0 ? k.slice(slash + 1) : k;
    if ((prefix !== undefined && !isDnsSubdomain(prefix)) || name.length > 63 || !LABEL_NAME.test(name)) {
      errors.push({
        field: 'metadata.labels',
        message: `Invalid value: "${k}": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')`,
        reason: 'FieldValueInvalid',
      });
    }
    if (typeof v !== 'string') {
      errors.push({ field: `metadata.labels`, message: `Invalid value: ${JSON.stringify(v)}: label values must be strings`, reason: 'FieldValueInvalid' });
    } else if (v.length > 63 || !LABEL_VALUE.test(v)) {
      errors.push({
        field: 'metadata.labels',
        message: `Invalid value: "${v}": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')`,
        reason: 'FieldValueInvalid',
      });
    }
  }
  return errors;
}
