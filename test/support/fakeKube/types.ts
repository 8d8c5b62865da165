/** Public types of the fake Kubernetes API server used by tests. */

export interface ObjectMeta {
  name: string;
  namespace?: string;
  uid: string;
  resourceVersion: string;
  creationTimestamp: string;
  generation?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  deletionTimestamp?: string;
  deletionGracePeriodSeconds?: number;
  [key: string]: unknown;
}

/** A Kubernetes object as served on the wire (plain JSON). */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  spec?: Record<string, unknown>;
  status?: Record<string, unknown>;
  [key: string]: unknown;
}

/** One exec into a fake pod, recorded when the websocket is accepted. */
export interface ExecRecord {
  namespace: string;
  pod: string;
  container: string;
  argv: string[];
  /** `null` while the command is still running. */
  exitCode: number | null;
  /** Why the sandbox refused to run the command (path escape, forbidden option, unknown program…). */
  refused?: string;
  protocol: string;
  tty: boolean;
  stdin: boolean;
  stdinBytes: number;
  stdoutBytes: number;
  stderrBytes: number;
  startedAt: Date;
  finishedAt?: Date;
}

/** One HTTP request the fake server answered (REST calls and websocket upgrades). */
export interface CallRecord {
  method: string;
  /** Path without the query string, e.g. `/api/v1/namespaces/default/pods/web-0`. */
  path: string;
  /** Last value of every query parameter. */
  query: Record<string, string>;
  /** Path and query string as received. */
  url: string;
  contentType?: string;
  /** Parsed JSON body (or the raw text when it is not JSON); undefined without a body. */
  body?: unknown;
  authorization?: string;
  upgrade: boolean;
  statusCode: number;
  time: Date;
}

export type ContainerSpec = string | { name: string; image?: string };

export interface AddPodOptions {
  namespace?: string;
  name: string;
  /** Container names (or `{ name, image }`); default `['app']`. */
  containers?: ContainerSpec[];
  nodeName?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  /** Files of the container root filesystem: in-pod absolute path → content. */
  files?: Record<string, string | Buffer>;
  phase?: 'Pending' | 'Running' | 'Succeeded' | 'Failed' | 'Unknown';
  podIP?: string;
  hostIP?: string;
  serviceAccountName?: string;
  ownerReferences?: Record<string, unknown>[];
  /** `spec.volumes`, e.g. `[{ name: 'cache', emptyDir: {} }]`. */
  volumes?: Record<string, unknown>[];
  /** `spec.terminationGracePeriodSeconds`; default 30, as the API server defaults it. */
  terminationGracePeriodSeconds?: number;
}

export interface AddPodDisruptionBudgetOptions {
  namespace?: string;
  name: string;
  /** `spec.selector.matchLabels`. */
  matchLabels: Record<string, string>;
  /** An absolute number or a percentage (`'50%'`); give this or maxUnavailable. */
  minAvailable?: number | string;
  maxUnavailable?: number | string;
}

export interface AddNodeOptions {
  name?: string;
  /** EC2 instance id; default derived from a counter, e.g. `i-0123456789abcdef0`. */
  instanceId?: string;
  availabilityZone?: string;
  internalIP?: string;
  /** A public address (status.addresses ExternalIP), as nodes in public subnets have. */
  externalIP?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  unschedulable?: boolean;
  taints?: Record<string, unknown>[];
  instanceType?: string;
}

/** What an `onExec` hook may return to replace running the real program. */
export interface ExecOverride {
  stdout?: string | Buffer;
  stderr?: string | Buffer;
  exitCode: number;
  /** Wait this long before answering (simulate a slow or hanging command). */
  delayMs?: number;
}

export interface ExecContext {
  namespace: string;
  pod: string;
  container: string;
  argv: readonly string[];
  /** Host directory acting as the pod's root filesystem. */
  root: string;
}

export type ExecHook = (ctx: ExecContext) => ExecOverride | undefined | Promise<ExecOverride | undefined>;

export interface FailureInjection {
  method?: string;
  /** Exact path, or a RegExp tested against the path (no query string). */
  path?: string | RegExp;
  /** Also match websocket upgrades (exec); default true. */
  upgrades?: boolean;
  /** How many matching requests fail; default 1. `Infinity` for all. */
  times?: number;
  code: number;
  reason?: string;
  message?: string;
}

export interface FakeKubeOptions {
  /**
   * Bearer token every request must carry (401 Status otherwise). Default `'fake-kube-token'`,
   * which `kubeConfig()` sends. `false` disables the check.
   */
  token?: string | false;
  /** Websocket subprotocols the server accepts, in preference order. Default v5 then v4. */
  execProtocols?: string[];
  /** Clock for timestamps; default `() => new Date()`. */
  now?: () => Date;
}
