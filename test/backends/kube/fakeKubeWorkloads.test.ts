/**
 * The fake Kubernetes API's workload endpoints, through the real client-node: graceful pod
 * deletion, container logs (current and previous, with tailLines, sinceSeconds, limitBytes,
 * timestamps), evictions against PodDisruptionBudgets, and ephemeral containers with exec into
 * them. Each answers with the shapes and status codes the API server uses.
 */
import { PassThrough } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { ApiException, CoreV1Api, Log, PatchStrategy, PolicyV1Api, setHeaderOptions, type KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execIn } from '../../support/fakeKube/client.js';
import { startFakeKube, type FakeKube } from '../../support/fakeKube/index.js';

let fake: FakeKube;
let kc: KubeConfig;
let core: CoreV1Api;
let clock = new Date('2026-03-01T10:00:00Z');

beforeAll(async () => {
  fake = await startFakeKube({ now: () => clock });
  kc = fake.kubeConfig();
  core = kc.makeApiClient(CoreV1Api);
});
afterAll(() => fake.close());

const advance = (seconds: number) => {
  clock = new Date(clock.getTime() + seconds * 1000);
};

async function apiError(p: Promise<unknown>): Promise<{ code: number; body: Record<string, unknown> }> {
  const err = await p.then(
    () => {
      throw new Error('expected the call to fail');
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ApiException);
  const e = err as ApiException<string>;
  return { code: e.code, body: typeof e.body === 'string' && e.body !== '' ? (JSON.parse(e.body) as Record<string, unknown>) : {} };
}

let n = 0;
const unique = (prefix: string) => `${prefix}-${++n}`;

describe('fake kube: graceful pod deletion', () => {
  it('keeps a deleted pod Terminating for its grace period, then removes it', async () => {
    const name = unique('web');
    fake.addPod({ namespace: 'app', name, terminationGracePeriodSeconds: 45 });

    const answered = await core.deleteNamespacedPod({ name, namespace: 'app' });

    const expectedAt = new Date(clock.getTime() + 45_000).toISOString().replace(/\.\d{3}Z$/, 'Z');
    expect(answered.metadata?.deletionGracePeriodSeconds).toBe(45);
    expect(answered.metadata?.deletionTimestamp?.toISOString().replace(/\.\d{3}Z$/, 'Z')).toBe(expectedAt);
    const read = await core.readNamespacedPod({ name, namespace: 'app' });
    expect(read.metadata?.deletionGracePeriodSeconds).toBe(45);
    expect(fake.hasPod('app', name)).toBe(true);

    advance(44);
    expect(fake.hasPod('app', name)).toBe(true);
    advance(1);
    expect((await apiError(core.readNamespacedPod({ name, namespace: 'app' }))).code).toBe(404);
    expect(fake.hasPod('app', name)).toBe(false);
  });

  it('takes the grace period from the request, only ever shortens it, and removes at once with 0', async () => {
    const name = unique('web');
    fake.addPod({ namespace: 'app', name });
    const first = await core.deleteNamespacedPod({ name, namespace: 'app', gracePeriodSeconds: 20 });
    expect(first.metadata?.deletionGracePeriodSeconds).toBe(20);
    const longer = await core.deleteNamespacedPod({ name, namespace: 'app', gracePeriodSeconds: 60 });
    expect(longer.metadata?.deletionGracePeriodSeconds).toBe(20);
    const shorter = await core.deleteNamespacedPod({ name, namespace: 'app', gracePeriodSeconds: 5 });
    expect(shorter.metadata?.deletionGracePeriodSeconds).toBe(5);
    const now = await core.deleteNamespacedPod({ name, namespace: 'app', gracePeriodSeconds: 0 });
    expect(now.metadata?.deletionGracePeriodSeconds).toBe(0);
    expect(fake.hasPod('app', name)).toBe(false);
  });

  it('removes an unscheduled or finished pod at once, and honours dryRun', async () => {
    const done = unique('job');
    fake.addPod({ namespace: 'app', name: done, phase: 'Succeeded' });
    await core.deleteNamespacedPod({ name: done, namespace: 'app', gracePeriodSeconds: 30 });
    expect(fake.hasPod('app', done)).toBe(false);

    const kept = unique('web');
    fake.addPod({ namespace: 'app', name: kept });
    const dry = await core.deleteNamespacedPod({ name: kept, namespace: 'app', dryRun: 'All' });
    expect(dry.metadata?.deletionTimestamp).toBeDefined();
    expect(fake.pod('app', kept).object().metadata.deletionTimestamp).toBeUndefined();
  });

  it('answers 409 when a uid precondition names another pod', async () => {
    const name = unique('web');
    fake.addPod({ namespace: 'app', name });
    const { code, body } = await apiError(core.deleteNamespacedPod({ name, namespace: 'app', body: { preconditions: { uid: '00000000-0000-0000-0000-000000000000' } } }));
    expect(code).toBe(409);
    expect(body).toMatchObject({ reason: 'Conflict', message: expect.stringContaining('Precondition failed: UID in precondition: 00000000-0000-0000-0000-000000000000') });
    expect(fake.pod('app', name).object().metadata.deletionTimestamp).toBeUndefined();
  });
});

describe('fake kube: pod logs', () => {
  async function rawLog(namespace: string, pod: string, container: string, options: Record<string, unknown>): Promise<Buffer> {
    const out = new PassThrough();
    const collected = buffer(out);
    await new Log(kc).log(namespace, pod, container, out, options);
    return collected;
  }

  it('serves the current log as text, and the previous one once the container restarted', async () => {
    const name = unique('api');
    const pod = fake.addPod({ namespace: 'app', name, containers: ['api'] });
    pod.writeLog('api', 'started\nlistening on :8080\n');
    expect(await core.readNamespacedPodLog({ name, namespace: 'app' })).toBe('started\nlistening on :8080\n');

    const noPrevious = await apiError(core.readNamespacedPodLog({ name, namespace: 'app', container: 'api', previous: true }));
    expect(noPrevious.code).toBe(400);

    pod.restartContainer('api', { exitCode: 137, reason: 'OOMKilled' });
    pod.writeLog('api', 'started again\n');
    expect(await core.readNamespacedPodLog({ name, namespace: 'app', container: 'api', previous: true })).toBe('started\nlistening on :8080\n');
    expect(await core.readNamespacedPodLog({ name, namespace: 'app', container: 'api' })).toBe('started again\n');
    const status = (await core.readNamespacedPod({ name, namespace: 'app' })).status?.containerStatuses?.[0];
    expect(status).toMatchObject({ restartCount: 1, lastState: { terminated: { exitCode: 137, reason: 'OOMKilled' } } });
    expect(fake.calls.filter((c) => c.path.endsWith('/log')).every((c) => c.statusCode === 200 || c.statusCode === 400)).toBe(true);
  });

  it('says why there is no previous log, and names the containers when none is given', async () => {
    const name = unique('api');
    fake.addPod({ namespace: 'app', name, containers: ['api', 'proxy'] });
    const res = await fetch(`${fake.url}/api/v1/namespaces/app/pods/${name}/log?container=api&previous=true`, { headers: { Authorization: `Bearer ${fake.token}` } });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ kind: 'Status', reason: 'BadRequest', message: `previous terminated container "api" in pod "${name}" not found`, code: 400 });
    const which = await fetch(`${fake.url}/api/v1/namespaces/app/pods/${name}/log`, { headers: { Authorization: `Bearer ${fake.token}` } });
    expect(which.status).toBe(400);
    expect(((await which.json()) as { message: string }).message).toBe(`a container name must be specified for pod ${name}, choose one of: [api proxy]`);
    const invalid = await fetch(`${fake.url}/api/v1/namespaces/app/pods/${name}/log?container=api&tailLines=-1`, { headers: { Authorization: `Bearer ${fake.token}` } });
    expect(invalid.status).toBe(422);
    const ok = await fetch(`${fake.url}/api/v1/namespaces/app/pods/${name}/log?container=api`, { headers: { Authorization: `Bearer ${fake.token}` } });
    expect(ok.headers.get('content-type')).toBe('text/plain');
  });

  it('applies sinceSeconds, then tailLines, then limitBytes, and prefixes RFC 3339 timestamps', async () => {
    const name = unique('api');
    const pod = fake.addPod({ namespace: 'app', name });
    const t0 = new Date(clock.getTime() - 600_000);
    pod.writeLog('app', 'old one\nold two\n', { at: t0 });
    pod.writeLog('app', 'new one\nnew two\nnew three\n', { at: new Date(clock.getTime() - 30_000) });

    expect((await rawLog('app', name, 'app', { sinceSeconds: 60 })).toString()).toBe('new one\nnew two\nnew three\n');
    expect((await rawLog('app', name, 'app', { tailLines: 2 })).toString()).toBe('new two\nnew three\n');
    expect((await rawLog('app', name, 'app', { sinceSeconds: 60, tailLines: 5, limitBytes: 10 })).toString()).toBe('new one\nne');
    const stamped = (await rawLog('app', name, 'app', { tailLines: 1, timestamps: true })).toString();
    expect(stamped).toBe(`${new Date(clock.getTime() - 30_000).toISOString().replace('.000Z', 'Z')} new three\n`);
  });

  it("serves a crash-looping container's last instance as its current log, and says a waiting one has none", async () => {
    const name = unique('api');
    const pod = fake.addPod({ namespace: 'app', name });
    pod.setContainerState('app', { waiting: { reason: 'ContainerCreating' } });
    const waiting = await fetch(`${fake.url}/api/v1/namespaces/app/pods/${name}/log`, { headers: { Authorization: `Bearer ${fake.token}` } });
    expect(waiting.status).toBe(400);
    expect(((await waiting.json()) as { message: string }).message).toBe(`container "app" in pod "${name}" is waiting to start: ContainerCreating`);

    pod.setContainerState('app', { running: { startedAt: clock.toISOString() } });
    pod.writeLog('app', 'panic: boom\n');
    pod.restartContainer('app', { exitCode: 2 });
    pod.setContainerState('app', { waiting: { reason: 'CrashLoopBackOff' } });
    expect(await core.readNamespacedPodLog({ name, namespace: 'app' })).toBe('panic: boom\n');
  });

  it('serves bytes exactly as written, not re-encoded', async () => {
    const name = unique('api');
    const pod = fake.addPod({ namespace: 'app', name });
    const bytes = Buffer.from([0x41, 0xff, 0xfe, 0x00, 0x42, 0x0a]);
    pod.writeLog('app', bytes);
    expect(await rawLog('app', name, 'app', {})).toEqual(bytes);
  });
});

describe('fake kube: evictions and PodDisruptionBudgets', () => {
  const evict = (namespace: string, name: string) =>
    core.createNamespacedPodEviction({ name, namespace, body: { apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name, namespace } } });

  it('evicts a pod no budget covers: 201, then it terminates gracefully', async () => {
    const name = unique('worker');
    fake.addPod({ namespace: 'batch', name, labels: { app: 'worker' } });
    await evict('batch', name);
    const call = fake.calls.at(-1)!;
    expect(call).toMatchObject({ method: 'POST', path: `/api/v1/namespaces/batch/pods/${name}/eviction`, statusCode: 201 });
    expect(fake.pod('batch', name).object().metadata).toMatchObject({ deletionGracePeriodSeconds: 30, deletionTimestamp: expect.any(String) });
  });

  it('answers 429 with a DisruptionBudget cause when the budget would be broken, and 201 once it allows', async () => {
    const ns = unique('shop');
    const a = fake.addPod({ namespace: ns, name: 'web-a', labels: { app: 'web' } });
    fake.addPod({ namespace: ns, name: 'web-b', labels: { app: 'web' } });
    const created = await kc.makeApiClient(PolicyV1Api).createNamespacedPodDisruptionBudget({
      namespace: ns,
      body: { metadata: { name: 'web' }, spec: { minAvailable: 2, selector: { matchLabels: { app: 'web' } } } },
    });
    expect(created.status).toMatchObject({ expectedPods: 2, currentHealthy: 2, desiredHealthy: 2, disruptionsAllowed: 0 });

    const refused = await apiError(evict(ns, 'web-a'));
    expect(refused.code).toBe(429);
    expect(refused.body).toMatchObject({
      reason: 'TooManyRequests',
      message: "Cannot evict pod as it would violate the pod's disruption budget.",
      details: { causes: [{ reason: 'DisruptionBudget', message: 'The disruption budget web needs 2 healthy pods and has 2 currently' }] },
    });
    expect(a.object().metadata.deletionTimestamp).toBeUndefined();

    fake.addPod({ namespace: ns, name: 'web-c', labels: { app: 'web' } });
    expect(fake.podDisruptionBudget(ns, 'web')?.status).toMatchObject({ disruptionsAllowed: 1 });
    await evict(ns, 'web-a');
    expect(a.object().metadata.deletionTimestamp).toBeDefined();
    // web-a no longer counts: the budget is spent again.
    expect((await apiError(evict(ns, 'web-b'))).code).toBe(429);
  });

  it('lets an unhealthy pod go while the budget holds, and a terminating one always', async () => {
    const ns = unique('shop');
    fake.addPod({ namespace: ns, name: 'web-a', labels: { app: 'web' } });
    const b = fake.addPod({ namespace: ns, name: 'web-b', labels: { app: 'web' } });
    fake.addPodDisruptionBudget({ namespace: ns, name: 'web', matchLabels: { app: 'web' }, maxUnavailable: 1 });
    b.setReady(false);
    await evict(ns, 'web-b');
    expect(b.object().metadata.deletionTimestamp).toBeDefined();
    await evict(ns, 'web-b');
  });

  it('answers 500 for a pod two budgets select, as the eviction subresource does', async () => {
    const ns = unique('shop');
    fake.addPod({ namespace: ns, name: 'web-a', labels: { app: 'web', tier: 'front' } });
    fake.addPodDisruptionBudget({ namespace: ns, name: 'by-app', matchLabels: { app: 'web' }, minAvailable: 0 });
    fake.addPodDisruptionBudget({ namespace: ns, name: 'by-tier', matchLabels: { tier: 'front' }, minAvailable: 0 });
    const { code, body } = await apiError(evict(ns, 'web-a'));
    expect(code).toBe(500);
    expect(body['message']).toBe('This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.');
  });

  it('lists, reads and deletes budgets with their status', async () => {
    const ns = unique('shop');
    fake.addPodDisruptionBudget({ namespace: ns, name: 'web', matchLabels: { app: 'web' }, minAvailable: '50%' });
    const policy = kc.makeApiClient(PolicyV1Api);
    const listed = await policy.listNamespacedPodDisruptionBudget({ namespace: ns });
    expect(listed.items.map((p) => p.metadata?.name)).toEqual(['web']);
    await policy.deleteNamespacedPodDisruptionBudget({ name: 'web', namespace: ns });
    expect((await apiError(policy.readNamespacedPodDisruptionBudget({ name: 'web', namespace: ns }))).code).toBe(404);
  });
});

describe('fake kube: ephemeral containers', () => {
  const STRATEGIC = setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch);
  const add = (namespace: string, name: string, container: Record<string, unknown>) =>
    core.patchNamespacedPodEphemeralcontainers({ name, namespace, body: { spec: { ephemeralContainers: [container] } } }, STRATEGIC);

  it('adds one to a running pod, starts it, and lets a client exec into its own file system', async () => {
    const name = unique('api');
    fake.addPod({ namespace: 'app', name, containers: ['api'], files: { '/srv/app.js': 'x' } });
    const pod = await add('app', name, { name: 'debugger', image: 'busybox:1.36', command: ['sleep', '60'], targetContainerName: 'api' });
    expect(pod.spec?.ephemeralContainers).toEqual([
      expect.objectContaining({ name: 'debugger', image: 'busybox:1.36', command: ['sleep', '60'], targetContainerName: 'api', imagePullPolicy: 'IfNotPresent' }),
    ]);
    const read = await core.readNamespacedPod({ name, namespace: 'app' });
    expect(read.status?.ephemeralContainerStatuses).toEqual([expect.objectContaining({ name: 'debugger', state: { running: { startedAt: expect.any(Date) } } })]);

    // Its own root (the image's), not the pod's.
    const ls = await execIn(kc, 'app', name, 'debugger', ['ls', '-A', '/']);
    expect(ls.exitCode).toBe(0);
    expect(ls.stdout.toString()).toBe('');
    expect((await execIn(kc, 'app', name, 'api', ['ls', '/srv'])).stdout.toString()).toBe('app.js\n');
    expect(fake.execs.at(-2)).toMatchObject({ container: 'debugger', argv: ['ls', '-A', '/'] });
  });

  it('refuses to change, remove or duplicate one, and checks its fields (422)', async () => {
    const name = unique('api');
    fake.addPod({ namespace: 'app', name, containers: ['api'] });
    await add('app', name, { name: 'debugger', image: 'busybox:1.36' });

    const changed = await apiError(add('app', name, { name: 'debugger', image: 'busybox:1.37' }));
    expect(changed.code).toBe(422);
    expect(changed.body['message']).toContain('existing ephemeral containers "debugger" may not be changed');
    const removed = await apiError(
      core.patchNamespacedPodEphemeralcontainers({ name, namespace: 'app', body: { spec: { ephemeralContainers: [] } } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch)),
    );
    expect(removed.body['message']).toContain('may not be removed');
    const duplicate = await apiError(add('app', name, { name: 'api', image: 'busybox:1.36' }));
    expect(duplicate.body['message']).toContain('spec.ephemeralContainers[1].name: Duplicate value: "api"');
    const noImage = await apiError(add('app', name, { name: 'other' }));
    expect(noImage.body['message']).toContain('spec.ephemeralContainers[1].image: Required value');
    const target = await apiError(add('app', name, { name: 'other', image: 'busybox:1.36', targetContainerName: 'nope' }));
    expect(target.body['message']).toContain('targetContainerName: Not found: "nope"');
    const ports = await apiError(add('app', name, { name: 'other', image: 'busybox:1.36', ports: [{ containerPort: 80 }] }));
    expect(ports.body['message']).toContain('ports: Forbidden: cannot be set for an Ephemeral Container');
    expect((await core.readNamespacedPod({ name, namespace: 'app' })).spec?.ephemeralContainers).toHaveLength(1);
  });

  it('reports an image that cannot be pulled, and refuses exec into a container that is not running', async () => {
    const name = unique('api');
    const pod = fake.addPod({ namespace: 'app', name });
    fake.failImagePull('registry.invalid/tools:1', 'failed to pull and unpack image "registry.invalid/tools:1": not found');
    await add('app', name, { name: 'debugger', image: 'registry.invalid/tools:1' });
    const status = (await core.readNamespacedPod({ name, namespace: 'app' })).status?.ephemeralContainerStatuses?.[0];
    expect(status?.state?.waiting).toEqual({ reason: 'ErrImagePull', message: 'failed to pull and unpack image "registry.invalid/tools:1": not found' });
    await expect(execIn(kc, 'app', name, 'debugger', ['ls'])).rejects.toThrow(/400/);

    await add('app', name, { name: 'second', image: 'busybox:1.36' });
    pod.setEphemeralContainerState('second', { terminated: { exitCode: 0, reason: 'Completed' } });
    await expect(execIn(kc, 'app', name, 'second', ['ls'])).rejects.toThrow(/400/);
  });
});
