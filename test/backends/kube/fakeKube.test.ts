import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { Readable } from 'node:stream';
import {
  ApiException,
  CoreV1Api,
  NetworkingV1Api,
  PatchStrategy,
  setHeaderOptions,
  type KubeConfig,
} from '@kubernetes/client-node';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { execIn, sha256Sink } from '../../support/fakeKube/client.js';
import { NOT_FOUND_EXIT_CODE, REFUSED_EXIT_CODE, startFakeKube, type FakeKube, type FakePod } from '../../support/fakeKube/index.js';

const NS = 'web';
const NODE = 'ip-10-0-1-10.ap-northeast-2.compute.internal';

let fake: FakeKube;
let kc: KubeConfig;
let pod: FakePod;

beforeAll(async () => {
  fake = await startFakeKube();
  kc = fake.kubeConfig();
  fake.addNode({ internalIP: '10.0.1.10', instanceId: 'i-0123456789abcdef0' });
  pod = fake.addPod({
    namespace: NS,
    name: 'wordpress-7d9f8-abcde',
    containers: ['wordpress', 'sidecar'],
    nodeName: NODE,
    labels: { app: 'wordpress', tier: 'frontend' },
    files: { '/var/www/html/index.php': '<?php echo "hi";\n', '/var/www/html/uploads/a.php': '<?php system($_GET["c"]);\n' },
  });
  fake.addPod({ namespace: NS, name: 'db-0', containers: ['mysql'], nodeName: 'ip-10-0-1-11.ap-northeast-2.compute.internal', labels: { app: 'mysql' } });
  fake.addPod({ namespace: 'other', name: 'api-0', nodeName: 'ip-10-0-1-12.ap-northeast-2.compute.internal', labels: { app: 'wordpress' } });
});

afterAll(async () => {
  await fake.close();
});

afterEach(async () => {
  await fake.idle();
});

function exec(argv: string[], opts: Parameters<typeof execIn>[5] = {}, container = 'wordpress') {
  return execIn(kc, NS, pod.name, container, argv, opts);
}

/** A websocket upgrade request by hand, to read the Status body of a refused upgrade. */
function rawUpgrade(pathAndQuery: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${fake.url}${pathAndQuery}`, {
      headers: {
        Authorization: `Bearer ${fake.token}`,
        Connection: 'Upgrade',
        Upgrade: 'websocket',
        'Sec-WebSocket-Version': '13',
        'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==',
        'Sec-WebSocket-Protocol': 'v5.channel.k8s.io',
      },
    });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
    });
    req.on('upgrade', () => reject(new Error('unexpected upgrade')));
    req.on('error', reject);
    req.end();
  });
}

async function expectApiError(p: Promise<unknown>, code: number): Promise<Record<string, unknown>> {
  const err = await p.then(
    () => {
      throw new Error(`expected HTTP ${code}, the call succeeded`);
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ApiException);
  const apiErr = err as ApiException<string>;
  expect(apiErr.code).toBe(code);
  // client-node 2.x drops the body of a 401 (it has a declared response without a schema).
  return code === 401 ? {} : (JSON.parse(apiErr.body) as Record<string, unknown>);
}

describe('fake kube: exec through client-node Exec', () => {
  it('streams a binary file out with cat -- PATH, byte for byte, and records the exec', async () => {
    const data = randomBytes(3 * 1024 * 1024 + 17);
    pod.writeFile('/var/www/html/uploads/blob.bin', data);
    const before = fake.execs.length;

    const r = await exec(['cat', '--', '/var/www/html/uploads/blob.bin']);

    expect(r.exitCode).toBe(0);
    expect(r.status).toEqual({ metadata: {}, status: 'Success' });
    expect(r.stdout.length).toBe(data.length);
    expect(r.stdout.equals(data)).toBe(true);
    expect(r.stderr.length).toBe(0);
    const rec = fake.execs[before]!;
    expect(rec).toMatchObject({
      namespace: NS,
      pod: pod.name,
      container: 'wordpress',
      argv: ['cat', '--', '/var/www/html/uploads/blob.bin'],
      exitCode: 0,
      protocol: 'v5.channel.k8s.io',
      stdoutBytes: data.length,
    });
    expect(rec.finishedAt).toBeInstanceOf(Date);
  });

  it('streams tens of MB with backpressure; the client hashes what it receives', async () => {
    const size = 40 * 1024 * 1024;
    const data = randomBytes(size);
    pod.writeFile('/srv/big.tar', data);
    const expected = createHash('sha256').update(data).digest('hex');
    const sink = sha256Sink();

    const r = await exec(['cat', '--', '/srv/big.tar'], { stdout: sink });

    expect(r.exitCode).toBe(0);
    expect(sink.bytes()).toBe(size);
    expect(sink.digest()).toBe(expected);
  });

  it('runs sha256sum and prints in-container paths', async () => {
    const r = await exec(['sha256sum', '--', '/var/www/html/uploads/a.php']);
    expect(r.exitCode).toBe(0);
    expect(r.stdout.toString()).toBe(`${pod.sha256('/var/www/html/uploads/a.php')}  /var/www/html/uploads/a.php\n`);
  });

  it('rewrites the pod root out of find output', async () => {
    const r = await exec(['find', '/var/www', '-type', 'f', '-name', '*.php']);
    expect(r.exitCode).toBe(0);
    expect(r.stdout.toString().split('\n').filter(Boolean).sort()).toEqual(['/var/www/html/index.php', '/var/www/html/uploads/a.php']);
    expect(r.stdout.toString()).not.toContain(pod.root);
  });

  it('reports a missing file like the real cat: exit 1, stderr, Failure status', async () => {
    const r = await exec(['cat', '--', '/nope/x']);
    expect(r.exitCode).toBe(1);
    expect(r.stdout.length).toBe(0);
    expect(r.stderr.toString()).toBe('cat: /nope/x: No such file or directory\n');
    expect(r.status).toEqual({
      metadata: {},
      status: 'Failure',
      message: 'command terminated with non-zero exit code: error executing command [cat -- /nope/x], exit code 1',
      reason: 'NonZeroExitCode',
      details: { causes: [{ reason: 'ExitCode', message: '1' }] },
    });
    expect(fake.execs.at(-1)).toMatchObject({ argv: ['cat', '--', '/nope/x'], exitCode: 1 });
    const t = await exec(['test', '-f', '/var/www/html/index.php']);
    expect(t.exitCode).toBe(0);
    const f = await exec(['test', '-f', '/var/www/html/missing.php']);
    expect(f.exitCode).toBe(1);
  });

  it('answers 404 for an unknown pod or namespace and 400 for an unknown container', async () => {
    await expect(execIn(kc, NS, 'no-such-pod', 'wordpress', ['ls'])).rejects.toMatchObject({ message: expect.stringContaining('404') });
    expect(fake.calls.at(-1)).toMatchObject({ upgrade: true, statusCode: 404, path: `/api/v1/namespaces/${NS}/pods/no-such-pod/exec` });
    await expect(execIn(kc, 'nowhere', pod.name, 'wordpress', ['ls'])).rejects.toMatchObject({ message: expect.stringContaining('404') });

    await expect(exec(['ls'], {}, 'nginx')).rejects.toMatchObject({ message: expect.stringContaining('400') });
    expect(fake.calls.at(-1)).toMatchObject({ upgrade: true, statusCode: 400 });
    expect(fake.execs.some((e) => e.container === 'nginx')).toBe(false);

    // The same Status body the API server sends on the refused upgrade.
    const res = await rawUpgrade(`/api/v1/namespaces/${NS}/pods/no-such-pod/exec?command=ls&stdout=true`);
    expect(res.status).toBe(404);
    expect(JSON.parse(res.body)).toEqual({
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: 'pods "no-such-pod" not found',
      reason: 'NotFound',
      details: { name: 'no-such-pod', kind: 'pods' },
      code: 404,
    });
    const bad = await rawUpgrade(`/api/v1/namespaces/${NS}/pods/${pod.name}/exec?command=ls&stdout=true&container=nginx`);
    expect(bad.status).toBe(400);
    expect(JSON.parse(bad.body)).toMatchObject({ reason: 'BadRequest', message: `container nginx is not valid for pod ${pod.name}`, code: 400 });
  });

  it('fails a program outside the allowlist with 127 and "executable file not found"', async () => {
    for (const argv of [['sh', '-c', 'id'], ['curl', 'http://example.com'], ['/tmp/evil']]) {
      const r = await exec(argv);
      expect(r.exitCode).toBe(NOT_FOUND_EXIT_CODE);
      expect(r.status.status).toBe('Failure');
      expect(r.stderr.toString()).toContain('executable file not found in $PATH');
    }
    const r = await exec(['bash']);
    expect(r.status.message).toContain('exec: "bash": executable file not found in $PATH');
  });

  it('refuses paths that escape the pod root: .., symlinks to / and relative symlinks', async () => {
    pod.symlink('/', '/escape');
    pod.symlink('../../../../../../../..', '/var/up');
    pod.symlink('var/www/html', '/html'); // relative, stays inside: allowed
    // Absolute targets would be resolved against the HOST root by the real programs, so they are refused.
    pod.symlink('/var/www/html', '/abs-html');
    const passwd = readFileSync('/etc/passwd');
    const attempts = [
      ['cat', '--', '../../etc/passwd'],
      ['cat', '/../../../etc/passwd'],
      ['cat', '--', '/escape/etc/passwd'],
      ['cat', '/var/up/etc/passwd'],
      ['ls', '/escape'],
      ['head', '-c', '10', '/escape/etc/hostname'],
      ['cp', '/var/www/html/index.php', '/escape/tmp/pwned.php'],
      ['find', '/', '-exec', 'id', ';'],
      ['sha256sum', '-c', '/var/www/html/index.php'],
      ['cat', '/abs-html/index.php'],
    ];
    for (const argv of attempts) {
      const r = await exec(argv);
      expect(r.exitCode, argv.join(' ')).toBe(REFUSED_EXIT_CODE);
      expect(r.stdout.includes(passwd.subarray(0, 20))).toBe(false);
      expect(fake.execs.at(-1)?.refused).toBeTruthy();
    }
    const ok = await exec(['cat', '/html/index.php']);
    expect(ok.exitCode).toBe(0);
    expect(ok.stdout.toString()).toBe('<?php echo "hi";\n');
  });

  it('treats shell metacharacters and newlines in names as data (mv then cat)', async () => {
    const dir = '/var/www/html/uploads';
    const nasty = `${dir}/'; rm -rf / #$(id)\n\`id\`.php`;
    pod.writeFile(nasty, 'payload\n');
    const dest = `${dir}/quarantined $(whoami) ; x`;

    const mv = await exec(['mv', '--', nasty, dest]);
    expect(mv.exitCode).toBe(0);
    expect(pod.exists(nasty)).toBe(false);
    expect(pod.readText(dest)).toBe('payload\n');
    expect(pod.readText('/var/www/html/index.php')).toBe('<?php echo "hi";\n');

    const cat = await exec(['cat', '--', dest]);
    expect(cat.stdout.toString()).toBe('payload\n');
    const ls = await exec(['ls', '-1', '--', dir]);
    expect(ls.stdout.toString()).toContain('quarantined $(whoami) ; x');
  });

  it('delivers stdin to the process and ends it on the v5 close frame', async () => {
    const input = randomBytes(256 * 1024);
    const r = await exec(['sha256sum'], { stdin: Readable.from([input.subarray(0, 1000), input.subarray(1000)]) });
    expect(r.exitCode).toBe(0);
    expect(r.stdout.toString()).toBe(`${createHash('sha256').update(input).digest('hex')}  -\n`);
    expect(fake.execs.at(-1)).toMatchObject({ stdin: true, stdinBytes: input.length });
    const echo = await exec(['cat'], { stdin: 'hello from stdin\n' });
    expect(echo.stdout.toString()).toBe('hello from stdin\n');
  });

  it('runs mkdir/chmod/stat/wc/cp/rm with real semantics inside the pod', async () => {
    expect((await exec(['mkdir', '-p', '/quarantine/2024'])).exitCode).toBe(0);
    expect((await exec(['cp', '--', '/var/www/html/index.php', '/quarantine/2024/index.php'])).exitCode).toBe(0);
    expect((await exec(['chmod', '0000', '/quarantine/2024/index.php'])).exitCode).toBe(0);
    expect(pod.mode('/quarantine/2024/index.php')).toBe(0);
    expect((await exec(['stat', '-c', '%a %n', '/quarantine/2024/index.php'])).stdout.toString()).toBe('0 /quarantine/2024/index.php\n');
    expect((await exec(['wc', '-c', '/var/www/html/index.php'])).stdout.toString()).toBe('17 /var/www/html/index.php\n');
    expect((await exec(['rm', '-f', '--', '/quarantine/2024/index.php'])).exitCode).toBe(0);
    expect(pod.exists('/quarantine/2024/index.php')).toBe(false);
    expect((await exec(['rm', '-rf', '/'])).exitCode).toBe(REFUSED_EXIT_CODE);
    expect(pod.exists('/var/www/html/index.php')).toBe(true);
  });

  it('lets a test override an exec', async () => {
    fake.onExec((ctx) => (ctx.argv[0] === 'cat' && ctx.argv.at(-1) === '/proc/1/environ' ? { stdout: 'A=1\0', exitCode: 0 } : undefined));
    try {
      expect((await exec(['cat', '/proc/1/environ'])).stdout.toString()).toBe('A=1\0');
      expect((await exec(['cat', '/var/www/html/index.php'])).stdout.toString()).toBe('<?php echo "hi";\n');
    } finally {
      fake.onExec(undefined);
    }
  });
});

describe('fake kube: REST through client-node 2.x APIs', () => {
  it('gets a pod with a real shape', async () => {
    const core = kc.makeApiClient(CoreV1Api);
    const p = await core.readNamespacedPod({ name: pod.name, namespace: NS });
    expect(p.metadata?.name).toBe(pod.name);
    expect(p.metadata?.namespace).toBe(NS);
    expect(p.metadata?.uid).toMatch(/^[0-9a-f-]{36}$/);
    expect(p.metadata?.resourceVersion).toMatch(/^\d+$/);
    expect(p.metadata?.creationTimestamp).toBeInstanceOf(Date);
    expect(p.spec?.nodeName).toBe(NODE);
    expect(p.spec?.containers.map((c) => c.name)).toEqual(['wordpress', 'sidecar']);
    expect(p.status).toMatchObject({ phase: 'Running', hostIP: '10.0.1.10' });
    expect(p.status?.podIP).toMatch(/^10\.0\.\d+\.\d+$/);
    expect(fake.calls.at(-1)).toMatchObject({ method: 'GET', statusCode: 200, authorization: `Bearer ${fake.token}` });

    const err = await expectApiError(core.readNamespacedPod({ name: 'x', namespace: NS }), 404);
    expect(err).toEqual({
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: 'pods "x" not found',
      reason: 'NotFound',
      details: { name: 'x', kind: 'pods' },
      code: 404,
    });
  });

  it('lists pods with label and field selectors', async () => {
    const core = kc.makeApiClient(CoreV1Api);
    const all = await core.listNamespacedPod({ namespace: NS });
    expect(all.items.map((p) => p.metadata?.name)).toEqual(['db-0', pod.name]);
    const wp = await core.listNamespacedPod({ namespace: NS, labelSelector: 'app=wordpress' });
    expect(wp.items.map((p) => p.metadata?.name)).toEqual([pod.name]);
    const notWp = await core.listNamespacedPod({ namespace: NS, labelSelector: 'app!=wordpress,tier' });
    expect(notWp.items).toEqual([]);
    const onNode = await core.listPodForAllNamespaces({ fieldSelector: `spec.nodeName=${NODE}` });
    expect(onNode.items.map((p) => p.metadata?.name)).toEqual([pod.name]);
    const everywhere = await core.listPodForAllNamespaces({ labelSelector: 'app in (wordpress)' });
    expect(everywhere.items.map((p) => `${p.metadata?.namespace}/${p.metadata?.name}`)).toEqual(['other/api-0', `${NS}/${pod.name}`]);
  });

  it('patches pod labels with merge, strategic-merge and (default) JSON patch', async () => {
    const core = kc.makeApiClient(CoreV1Api);
    const rv0 = Number(pod.object().metadata.resourceVersion);

    const merged = await core.patchNamespacedPod(
      { name: pod.name, namespace: NS, body: { metadata: { labels: { 'sentinel.io/quarantine': 'true', tier: null } } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    expect(merged.metadata?.labels).toEqual({ app: 'wordpress', 'sentinel.io/quarantine': 'true' });
    expect(fake.calls.at(-1)).toMatchObject({ method: 'PATCH', contentType: 'application/merge-patch+json', statusCode: 200 });
    expect(Number(merged.metadata?.resourceVersion)).toBeGreaterThan(rv0);

    const strategic = await core.patchNamespacedPod(
      { name: pod.name, namespace: NS, body: { metadata: { labels: { 'sentinel.io/case': 'c-42' } } } },
      setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch),
    );
    expect(strategic.metadata?.labels?.['sentinel.io/case']).toBe('c-42');
    expect(fake.calls.at(-1)?.contentType).toBe('application/strategic-merge-patch+json');

    // Without a Content-Type override client-node 2.x sends application/json-patch+json.
    const json = await core.patchNamespacedPod({
      name: pod.name,
      namespace: NS,
      body: [
        { op: 'remove', path: '/metadata/labels/sentinel.io~1case' },
        { op: 'replace', path: '/metadata/labels/sentinel.io~1quarantine', value: 'released' },
        { op: 'add', path: '/metadata/annotations', value: { 'sentinel.io/note': 'ok' } },
      ],
    });
    expect(fake.calls.at(-1)?.contentType).toBe('application/json-patch+json');
    expect(json.metadata?.labels).toEqual({ app: 'wordpress', 'sentinel.io/quarantine': 'released' });
    expect(json.metadata?.annotations).toEqual({ 'sentinel.io/note': 'ok' });
    expect(pod.object().metadata.labels).toEqual({ app: 'wordpress', 'sentinel.io/quarantine': 'released' });

    const bad = await expectApiError(
      core.patchNamespacedPod({ name: pod.name, namespace: NS, body: { metadata: { labels: { app: 'not valid!' } } } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch)),
      422,
    );
    expect(bad).toMatchObject({ reason: 'Invalid', code: 422 });
    await expectApiError(core.patchNamespacedPod({ name: pod.name, namespace: NS, body: [{ op: 'remove', path: '/metadata/labels/absent' }] }), 422);
    await expectApiError(core.patchNamespacedPod({ name: 'ghost', namespace: NS, body: [] }), 404);
  });

  it('gets and lists nodes with EKS-like shapes, and cordons/uncordons', async () => {
    const core = kc.makeApiClient(CoreV1Api);
    const n = await core.readNode({ name: NODE });
    expect(n.spec?.providerID).toBe('aws:///ap-northeast-2a/i-0123456789abcdef0');
    expect(n.status?.addresses).toEqual([
      { type: 'InternalIP', address: '10.0.1.10' },
      { type: 'InternalDNS', address: NODE },
      { type: 'Hostname', address: NODE },
    ]);
    expect(n.spec?.unschedulable).toBeUndefined();
    expect((await core.listNode()).items.map((x) => x.metadata?.name)).toEqual([NODE]);
    await expectApiError(core.readNode({ name: 'ip-1-2-3-4' }), 404);

    const cordoned = await core.patchNode({ name: NODE, body: { spec: { unschedulable: true } } }, setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch));
    expect(cordoned.spec?.unschedulable).toBe(true);
    expect(cordoned.spec?.taints?.map((t) => `${t.key}:${t.effect}`)).toEqual(['node.kubernetes.io/unschedulable:NoSchedule']);
    expect(fake.node(NODE)?.spec?.['unschedulable']).toBe(true);

    const uncordoned = await core.patchNode({ name: NODE, body: [{ op: 'replace', path: '/spec/unschedulable', value: false }] });
    expect(uncordoned.spec?.unschedulable).toBeUndefined();
    expect(uncordoned.spec?.taints).toBeUndefined();
  });

  it('creates, gets, lists and deletes NetworkPolicies with real status codes', async () => {
    const net = kc.makeApiClient(NetworkingV1Api);
    const body = {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: { name: 'sentinel-isolate-wordpress', labels: { 'app.kubernetes.io/managed-by': 'sentinel' } },
      spec: { podSelector: { matchLabels: { app: 'wordpress' } }, policyTypes: ['Ingress', 'Egress'], ingress: [], egress: [] },
    };
    const created = await net.createNamespacedNetworkPolicy({ namespace: NS, body });
    expect(created.metadata?.namespace).toBe(NS);
    expect(created.metadata?.uid).toBeTruthy();
    expect(created.spec?.podSelector?.matchLabels).toEqual({ app: 'wordpress' });
    expect(fake.calls.at(-1)).toMatchObject({ method: 'POST', statusCode: 201, path: `/apis/networking.k8s.io/v1/namespaces/${NS}/networkpolicies` });
    expect(fake.networkPolicy(NS, 'sentinel-isolate-wordpress')?.spec?.['policyTypes']).toEqual(['Ingress', 'Egress']);

    const got = await net.readNamespacedNetworkPolicy({ namespace: NS, name: 'sentinel-isolate-wordpress' });
    expect(got.metadata?.uid).toBe(created.metadata?.uid);
    const listed = await net.listNamespacedNetworkPolicy({ namespace: NS, labelSelector: 'app.kubernetes.io/managed-by=sentinel' });
    expect(listed.items.map((i) => i.metadata?.name)).toEqual(['sentinel-isolate-wordpress']);

    const dup = await expectApiError(net.createNamespacedNetworkPolicy({ namespace: NS, body }), 409);
    expect(dup).toMatchObject({
      status: 'Failure',
      reason: 'AlreadyExists',
      message: 'networkpolicies.networking.k8s.io "sentinel-isolate-wordpress" already exists',
      details: { name: 'sentinel-isolate-wordpress', group: 'networking.k8s.io', kind: 'networkpolicies' },
      code: 409,
    });
    await expectApiError(net.createNamespacedNetworkPolicy({ namespace: NS, body: { spec: {} } }), 422);

    const deleted = await net.deleteNamespacedNetworkPolicy({ namespace: NS, name: 'sentinel-isolate-wordpress' });
    expect(deleted.status).toBe('Success');
    expect(fake.networkPolicy(NS, 'sentinel-isolate-wordpress')).toBeUndefined();
    const missing = await expectApiError(net.deleteNamespacedNetworkPolicy({ namespace: NS, name: 'sentinel-isolate-wordpress' }), 404);
    expect(missing).toMatchObject({ reason: 'NotFound', message: 'networkpolicies.networking.k8s.io "sentinel-isolate-wordpress" not found' });
    await expectApiError(net.readNamespacedNetworkPolicy({ namespace: NS, name: 'sentinel-isolate-wordpress' }), 404);
  });

  it('injects failures on demand', async () => {
    const core = kc.makeApiClient(CoreV1Api);
    fake.injectFailure({ method: 'GET', path: /\/pods\/db-0$/, code: 503, reason: 'ServiceUnavailable', message: 'etcd is sad' });
    const body = await expectApiError(core.readNamespacedPod({ name: 'db-0', namespace: NS }), 503);
    expect(body).toMatchObject({ reason: 'ServiceUnavailable', message: 'etcd is sad' });
    expect((await core.readNamespacedPod({ name: 'db-0', namespace: NS })).metadata?.name).toBe('db-0');
  });
});

describe('fake kube: credentials and protocol versions', () => {
  it('rejects a wrong bearer token with 401 on REST and exec', async () => {
    const wrong = fake.kubeConfig({ token: 'not-the-token' });
    await expectApiError(wrong.makeApiClient(CoreV1Api).readNamespacedPod({ name: pod.name, namespace: NS }), 401);
    expect(fake.calls.at(-1)).toMatchObject({ statusCode: 401, authorization: 'Bearer not-the-token' });
    await expect(execIn(wrong, NS, pod.name, 'wordpress', ['ls'])).rejects.toMatchObject({ message: expect.stringContaining('401') });
  });

  it('speaks v4.channel.k8s.io when that is all the server offers', async () => {
    const v4 = await startFakeKube({ execProtocols: ['v4.channel.k8s.io'], token: false });
    try {
      const p = v4.addPod({ name: 'legacy', files: { '/etc/motd': 'hello\n' } });
      const r = await execIn(v4.kubeConfig(), 'default', p.name, 'app', ['cat', '/etc/motd']);
      expect(r.stdout.toString()).toBe('hello\n');
      expect(r.exitCode).toBe(0);
      expect(v4.execs[0]?.protocol).toBe('v4.channel.k8s.io');
    } finally {
      await v4.close();
    }
  });
});
