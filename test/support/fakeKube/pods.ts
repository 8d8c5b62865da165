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
import { Store, isDnsLabel, isDnsSubdomain, key, labelErrors } from './store.js';
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
      terminationGracePeriodSeconds: 30,
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
  store.pods.set(key(namespace, name), { object, root, containers: containers.map((c) => c.name), handle });
  for (const [podPath, content] of Object.entries(opts.files ?? {})) handle.writeFile(podPath, content);
  return handle;
}
