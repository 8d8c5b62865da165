import { createRequire } from 'node:module';
import type { CoreV1Api, CustomObjectsApi, Exec, KubeConfig, Log, NetworkingV1Api } from '@kubernetes/client-node';
import { ConfigError, describeError } from '../errors.js';
import type { Logger } from '../logger.js';

/** The Kubernetes clients sentinel uses, created once (at start-up, or on first use) and passed in. */
export interface KubeClients {
  kubeConfig: KubeConfig;
  core: CoreV1Api;
  networking: NetworkingV1Api;
  /** Custom resources: the cluster egress backends' Cilium and Calico policies. */
  custom: CustomObjectsApi;
  exec: Exec;
  /** Container logs as raw bytes (the generated API decodes them as UTF-8, which would change evidence). */
  log: Log;
}

type KubeModule = typeof import('@kubernetes/client-node');

/**
 * @kubernetes/client-node, loaded when first needed: it is the heaviest package sentinel has
 * (its generated API is most of an idle bot's heap when loaded, docs/benchmarks.md), and only pod
 * actions use it. An ES module without top-level await, so require() (Node >= 20.19) gives the
 * very module an `import` gives.
 */
const requireModule = createRequire(import.meta.url);
const kubeModule = (): KubeModule => requireModule('@kubernetes/client-node') as KubeModule;

export function createKubeClients(kubeConfig: KubeConfig): KubeClients {
  const k = kubeModule();
  return {
    kubeConfig,
    core: kubeConfig.makeApiClient(k.CoreV1Api),
    networking: kubeConfig.makeApiClient(k.NetworkingV1Api),
    custom: kubeConfig.makeApiClient(k.CustomObjectsApi),
    exec: new k.Exec(kubeConfig),
    log: new k.Log(kubeConfig),
  };
}

/** A KubeConfig from a file, or the in-cluster service account / ~/.kube/config when no path is given. */
export function loadKubeConfig(path?: string): KubeConfig {
  const kc = new (kubeModule().KubeConfig)();
  if (path) kc.loadFromFile(path);
  else kc.loadFromDefault();
  return kc;
}

/**
 * Kubernetes clients made on their first use: the kubeconfig is read, and the client package
 * loaded, when an action first touches one of them, not at start-up. They are made once; a
 * kubeconfig that cannot be read is a ConfigError at that use (logged), and is read again at the
 * next use, so a kubeconfig that appears later is picked up.
 */
export function lazyKubeClients(options: { kubeconfigPath?: string | undefined; logger: Logger }): KubeClients {
  let made: KubeClients | undefined;
  const get = (): KubeClients => {
    if (made) return made;
    try {
      made = createKubeClients(loadKubeConfig(options.kubeconfigPath));
    } catch (err) {
      options.logger.warn('no Kubernetes access: pod actions fail until a kubeconfig is available', { reason: describeError(err) });
      throw new ConfigError(`Kubernetes is not configured (${describeError(err)})`, { cause: err });
    }
    options.logger.info('Kubernetes clients created', { kubeconfig: options.kubeconfigPath ?? 'default (in-cluster or ~/.kube/config)' });
    return made;
  };
  const clients = {} as KubeClients;
  for (const name of ['kubeConfig', 'core', 'networking', 'custom', 'exec', 'log'] as const satisfies readonly (keyof KubeClients)[]) {
    Object.defineProperty(clients, name, { enumerable: true, configurable: false, get: () => get()[name] });
  }
  return Object.freeze(clients);
}
