/** Fake pods: a Pod object plus a temporary directory acting as the container root filesystem. */
import { createHash } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  lchownSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  realpathSync,
  statSync,
  symlinkSync,
  writeFileSync,
  type Stats,
} from 'node:fs';
import path from 'node:path';
import { confinedHostPath, toHostPath } from './sandbox.js';
import { Store, isDnsLabel, isDnsSubdomain, key, labelErrors, type PodEntry } from './store.js';
import type { AddPodOptions, KubeObject } from './types.js';

export const DEFAULT_NODE_NAME = 'ip-10-0-1-10.ap-northeast-2.compute.internal';

/** Test-side view of a fake pod and its root filesystem. Paths are in-pod absolute paths. */
export class FakePod {
  constructor(
    private readonly store: Store,
    readonly namespace: string,
    readonly name: string,
    readonly containers: readonly string[],
    /** Host directory acting as the container's `/`. */
    readonly root: string,
  ) {}

  /** The current Pod object (a copy). */
  object(): KubeObject {
    const entry = this.store.pods.get(key(this.namespace, this.name));
    if (!entry) throw new Error(`fakeKube: pod ${this.namespace}/${this.name} was removed`);
    return structuredClone(entry.object);
  }

  /** Host path of an in-pod path; throws when it would resolve outside the pod root. */
  hostPath(podPath: string): string {
    return confinedHostPath(this.root, absolute(podPath));
  }

  writeFile(podPath: string, content: string | Buffer, opts: { mode?: number } = {}): void {
    const host = this.hostPath(podPath);
    mkdirSync(path.dirname(host), { recursive: true });
    writeFileSync(host, content);
    if (opts.mode !== undefined) chmodSync(host, opts.mode);
  }

  readFile(podPath: string): Buffer {
    return readFileSync(this.hostPath(podPath));
  }

  readText(podPath: string): string {
    return this.readFile(podPath).toString('utf8');
  }

  exists(podPath: string): boolean {
    return existsSync(this.hostPath(podPath));
  }

  /** `lstat` of the in-pod path (does not follow a final symlink). */
  stat(podPath: string): Stats {
    return lstatSync(toHostPath(this.root, absolute(podPath)));
  }

  /** Permission bits, e.g. `0o644` (follows symlinks that stay inside the pod). */
  mode(podPath: string): number {
    return statSync(this.hostPath(podPath)).mode & 0o7777;
  }

  sha256(podPath: string): string {
    return createHash('sha256').update(this.readFile(podPath)).digest('hex');
  }

  mkdir(podPath: string, opts: { mode?: number } = {}): void {
    const host = this.hostPath(podPath);
    mkdirSync(host, { recursive: true });
    if (opts.mode !== undefined) chmodSync(host, opts.mode);
  }

  chmod(podPath: string, mode: number): void {
    chmodSync(this.hostPath(podPath), mode);
  }

  /**
   * Give the entry (not a symlink's target) another owner, as a workload user who created it
   * would have. A real chown: it needs the suite to run as root (EPERM otherwise).
   */
  chown(podPath: string, uid: number, gid: number = uid): void {
    lchownSync(toHostPath(this.root, absolute(podPath)), uid, gid);
  }

  /**
   * Create a symlink at `podPath` whose target is stored verbatim (e.g. `/` or `../../..`),
   * so tests can build escape attempts.
   */
  symlink(target: string, podPath: string): void {
    const host = this.hostPath(podPath);
    mkdirSync(path.dirname(host), { recursive: true });
    symlinkSync(target, host);
  }

  /**
   * Append what a container wrote to its log (the kubelet's view): one line per `\n`, each
   * stamped `at` (default now). A trailing newline ends the last line; none is added.
   */
  writeLog(container: string, text: string | Buffer, opts: { at?: Date } = {}): void {
    const log = this.containerLog(container);
    const time = opts.at ?? this.store.now();
    const data = Buffer.isBuffer(text) ? text : Buffer.from(text);
    let start = 0;
    while (start < data.length) {
      const nl = data.indexOf(0x0a, start);
      const end = nl === -1 ? data.length : nl;
      log.current.push({ time, text: Buffer.from(data.subarray(start, end)) });
      start = end + 1;
    }
  }

  /**
   * The container exits and the kubelet starts it again: the running log becomes the previous
   * one (what `?previous=true` serves), restartCount goes up and lastState says how it ended.
   */
  restartContainer(container: string, opts: { exitCode?: number; reason?: string } = {}): void {
    const log = this.containerLog(container);
    log.previous = log.current;
    log.current = [];
    const entry = this.entry();
    const statuses = (entry.object.status?.['containerStatuses'] ?? []) as Record<string, unknown>[];
    const status = statuses.find((s) => s['name'] === container)!;
    const now = this.store.timestamp();
    const startedAt = ((status['state'] as { running?: { startedAt?: string } } | undefined)?.running?.startedAt) ?? now;
    const exitCode = opts.exitCode ?? 137;
    status['lastState'] = {
      terminated: { exitCode, reason: opts.reason ?? (exitCode === 0 ? 'Completed' : 'Error'), startedAt, finishedAt: now, containerID: status['containerID'] },
    };
    status['restartCount'] = Number(status['restartCount'] ?? 0) + 1;
    status['state'] = { running: { startedAt: now } };
    entry.object.metadata.resourceVersion = this.store.nextResourceVersion();
  }

  /** Replace a container's state, e.g. `{ waiting: { reason: 'CrashLoopBackOff' } }`. */
  setContainerState(container: string, state: Record<string, unknown>): void {
    const entry = this.entry();
    const statuses = (entry.object.status?.['containerStatuses'] ?? []) as Record<string, unknown>[];
    const status = statuses.find((s) => s['name'] === container);
    if (!status) throw new Error(`fakeKube: pod ${this.namespace}/${this.name} has no container ${container}`);
    status['state'] = structuredClone(state);
    status['ready'] = 'running' in state;
    entry.object.metadata.resourceVersion = this.store.nextResourceVersion();
  }

  /** Set the pod's readiness (the Ready and ContainersReady conditions and every container's `ready`), as probes would. */
  setReady(ready: boolean): void {
    const entry = this.entry();
    const status = (entry.object.status ??= {});
    for (const c of (status['conditions'] ?? []) as Record<string, unknown>[]) {
      if (c['type'] === 'Ready' || c['type'] === 'ContainersReady') {
        c['status'] = ready ? 'True' : 'False';
        c['lastTransitionTime'] = this.store.timestamp();
      }
    }
    for (const c of (status['containerStatuses'] ?? []) as Record<string, unknown>[]) c['ready'] = ready;
    entry.object.metadata.resourceVersion = this.store.nextResourceVersion();
  }

  /** Replace an ephemeral container's state, e.g. `{ terminated: { exitCode: 0, reason: 'Completed' } }` once its command ended. */
  setEphemeralContainerState(name: string, state: Record<string, unknown>): void {
    const entry = this.entry();
    const statuses = (entry.object.status?.['ephemeralContainerStatuses'] ?? []) as Record<string, unknown>[];
    const status = statuses.find((s) => s['name'] === name);
    if (!status) throw new Error(`fakeKube: pod ${this.namespace}/${this.name} has no ephemeral container ${name}`);
    status['state'] = structuredClone(state);
    status['ready'] = false;
    entry.object.metadata.resourceVersion = this.store.nextResourceVersion();
  }

  /** Host directory acting as an ephemeral container's root filesystem (its image's), to put files in it. */
  ephemeralRoot(name: string): string {
    const root = this.entry().ephemeralRoots.get(name);
    if (!root) throw new Error(`fakeKube: pod ${this.namespace}/${this.name} has no ephemeral container ${name}`);
    return root;
  }

  private entry(): PodEntry {
    const entry = this.store.pods.get(key(this.namespace, this.name));
    if (!entry) throw new Error(`fakeKube: pod ${this.namespace}/${this.name} was removed`);
    return entry;
  }

  private containerLog(container: string) {
    const entry = this.entry();
    const log = entry.logs.get(container);
    if (!log) throw new Error(`fakeKube: pod ${this.namespace}/${this.name} has no container ${container}`);
    return log;
  }

  /** All regular files and symlinks under `dir` (default `/`), as sorted in-pod paths. */
  list(dir = '/'): string[] {
    const out: string[] = [];
    const walk = (host: string, pod: string): void => {
      for (const entry of readdirSync(host, { withFileTypes: true })) {
        const childPod = pod === '/' ? `/${entry.name}` : `${pod}/${entry.name}`;
        if (entry.isDirectory()) walk(path.join(host, entry.name), childPod);
        else out.push(childPod);
      }
    };
    walk(this.hostPath(dir), absolute(dir));
    return out.sort();
  }
}

function absolute(podPath: string): string {
  return podPath.startsWith('/') ? podPath : `/${podPath}`;
}

function containerId(seed: string): string {
  return `containerd://${createHash('sha256').update(seed).digest('hex')}`;
}

export function addPod(store: Store, opts: AddPodOptions): FakePod {
  const namespace = opts.namespace ?? 'default';
  const name = opts.name;
  if (!isDnsLabel(namespace)) throw new Error(`fakeKube: invalid namespace ${JSON.stringify(namespace)}`);
  if (!isDnsSubdomain(name)) throw new Error(`fakeKube: invalid pod name ${JSON.stringify(name)}`);
  if (store.pods.has(key(namespace, name))) throw new Error(`fakeKube: pod ${namespace}/${name} already exists`);
  const labelProblems = labelErrors(opts.labels);
  if (labelProblems.length > 0) throw new Error(`fakeKube: invalid labels: ${labelProblems.map((p) => p.message).join('; ')}`);

  const containers = (opts.containers ?? ['app']).map((c) => (typeof c === 'string' ? { name: c } : c));
  if (containers.length === 0) throw new Error('fakeKube: a pod needs at least one container');

  const dir = path.join(store.baseDir, 'pods', namespace, name);
  mkdirSync(dir, { recursive: true });
  const root = realpathSync(dir);

  const n = store.next('pod');
  const nodeName = opts.nodeName ?? DEFAULT_NODE_NAME;
  const node = store.nodes.get(nodeName);
  const nodeIP = (node?.status?.['addresses'] as { type: string; address: string }[] | undefined)?.find((a) => a.type === 'InternalIP')?.address;
  const hostIP = opts.hostIP ?? nodeIP ?? '10.0.1.10';
  const podIP = opts.podIP ?? `10.0.${2 + Math.floor(n / 250)}.${10 + (n % 250)}`;
  const phase = opts.phase ?? 'Running';
  const started = store.timestamp();
  const running = phase === 'Running';

  const metadata = store.newMeta(name, namespace, { labels: opts.labels, annotations: opts.annotations });
  if (opts.ownerReferences) metadata['ownerReferences'] = structuredClone(opts.ownerReferences);

  const object: KubeObject = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata,
    spec: {
      containers: containers.map((c) => ({
        name: c.name,
        image: c.image ?? `registry.example.com/${c.name}:1.0.0`,
        imagePullPolicy: 'IfNotPresent',
        resources: {},
        terminationMessagePath: '/dev/termination-log',
        terminationMessagePolicy: 'File',
      })),
      nodeName,
      restartPolicy: 'Always',
      dnsPolicy: 'ClusterFirst',
      schedulerName: 'default-scheduler',
      serviceAccountName: opts.serviceAccountName ?? 'default',
      securityContext: {},
      terminationGracePeriodSeconds: opts.terminationGracePeriodSeconds ?? 30,
      ...(opts.volumes ? { volumes: structuredClone(opts.volumes) } : {}),
      enableServiceLinks: true,
      preemptionPolicy: 'PreemptLowerPriority',
      priority: 0,
    },
    status: {
      phase,
      conditions: [
        { type: 'Initialized', status: 'True', lastProbeTime: null, lastTransitionTime: started },
        { type: 'Ready', status: running ? 'True' : 'False', lastProbeTime: null, lastTransitionTime: started },
        { type: 'ContainersReady', status: running ? 'True' : 'False', lastProbeTime: null, lastTransitionTime: started },
        { type: 'PodScheduled', status: 'True', lastProbeTime: null, lastTransitionTime: started },
      ],
      hostIP,
      hostIPs: [{ ip: hostIP }],
      podIP,
      podIPs: [{ ip: podIP }],
      startTime: started,
      qosClass: 'BestEffort',
      containerStatuses: containers.map((c) => ({
        name: c.name,
        image: c.image ?? `registry.example.com/${c.name}:1.0.0`,
        imageID: `registry.example.com/${c.name}@sha256:${createHash('sha256').update(c.name).digest('hex')}`,
        containerID: containerId(`${metadata.uid}/${c.name}`),
        ready: running,
        started: running,
        restartCount: 0,
        state: running ? { running: { startedAt: started } } : phase === 'Pending' ? { waiting: { reason: 'ContainerCreating' } } : { terminated: { exitCode: phase === 'Succeeded' ? 0 : 1, reason: phase === 'Succeeded' ? 'Completed' : 'Error', startedAt: started, finishedAt: started } },
      })),
    },
  };

  const handle = new FakePod(store, namespace, name, containers.map((c) => c.name), root);
  const logs = new Map(containers.map((c) => [c.name, { current: [], previous: undefined }]));
  store.pods.set(key(namespace, name), { object, root, containers: containers.map((c) => c.name), handle, logs, ephemeralRoots: new Map() });
  for (const [podPath, content] of Object.entries(opts.files ?? {})) handle.writeFile(podPath, content);
  return handle;
}
