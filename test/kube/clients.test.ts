/**
 * Kubernetes clients made on their first use (src/kube/clients.ts, lazyKubeClients): the bot
 * creates them at start-up without reading the kubeconfig or loading the client package; the
 * first pod action does both, once. Against the fake Kubernetes API.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { lazyKubeClients } from '../../src/kube/clients.js';
import { createLogger } from '../../src/logger.js';
import { labelPodAction } from '../../src/pipeline/actions/containment/labelPod.js';
import { invokeAction } from '../../src/pipeline/invokeAction.js';
import { startFakeKube, type FakeKube } from '../support/fakeKube/index.js';
import { testDeps } from '../helpers/deps.js';

let fake: FakeKube;
let dir: string;
beforeAll(async () => {
  fake = await startFakeKube();
  dir = await mkdtemp(join(tmpdir(), 'sentinel-lazy-kube-'));
});
afterAll(async () => {
  await fake.close();
  await rm(dir, { recursive: true, force: true });
});

function logs() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split('\n')) if (l.trim()) lines.push(JSON.parse(l) as Record<string, unknown>);
      done();
    },
  });
  return { lines, logger: createLogger({ stream, format: 'json', level: 'debug' }) };
}

const label = (kube: ReturnType<typeof lazyKubeClients>, pod: string) =>
  invokeAction(labelPodAction, { namespace: 'shop', pod, labels: { 'sentinel.io/seen': 'yes' } }, { actor: 'cli', incidentId: 'inc-lazy-kube' }, testDeps({ aws: {}, kube }));

describe('lazyKubeClients', () => {
  it('reads the kubeconfig at the first use, not when made, and makes the clients once', async () => {
    const path = join(dir, 'later.json');
    const { lines, logger } = logs();
    const kube = lazyKubeClients({ kubeconfigPath: path, logger });
    // No kubeconfig exists yet: making the clients did not read it.
    await writeFile(path, fake.kubeConfig().exportConfig(), { mode: 0o600 });
    expect(lines).toEqual([]);
    fake.addPod({ namespace: 'shop', name: 'api-lazy', labels: { app: 'api' } });
    const result = await label(kube, 'api-lazy');
    expect(result.status).toBe('succeeded');
    expect(fake.pod('shop', 'api-lazy').object().metadata.labels).toMatchObject({ app: 'api', 'sentinel.io/seen': 'yes' });
    expect(kube.core).toBe(kube.core);
    expect(kube.kubeConfig.getCurrentCluster()?.server).toBe(fake.kubeConfig().getCurrentCluster()?.server);
    expect(lines.filter((l) => l.message === 'Kubernetes clients created')).toHaveLength(1);
  });

  it('a kubeconfig that cannot be read is a ConfigError at the use, logged, and read again at the next use', async () => {
    const path = join(dir, 'missing.json');
    const { lines, logger } = logs();
    const kube = lazyKubeClients({ kubeconfigPath: path, logger });
    expect(() => kube.core).toThrow(ConfigError);
    expect(() => kube.core).toThrow(/^Kubernetes is not configured \(.*missing\.json/);
    fake.addPod({ namespace: 'shop', name: 'api-missing', labels: { app: 'api' } });
    const failed = await label(kube, 'api-missing');
    expect(failed.status).toBe('failed');
    expect(failed.summary).toContain('Kubernetes is not configured (ENOENT');
    expect(fake.pod('shop', 'api-missing').object().metadata.labels).toEqual({ app: 'api' });
    expect(lines.some((l) => l.level === 'warn' && l.message === 'no Kubernetes access: pod actions fail until a kubeconfig is available')).toBe(true);

    await writeFile(path, fake.kubeConfig().exportConfig(), { mode: 0o600 });
    expect((await label(kube, 'api-missing')).status).toBe('succeeded');
  });
});
