import { CoreV1Api, CustomObjectsApi, Exec, KubeConfig, Log, NetworkingV1Api } from '@kubernetes/client-node';

/** The Kubernetes clients sentinel uses, created once at start-up and passed in. */
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

export function createKubeClients(kubeConfig: KubeConfig): KubeClients {
  return {
    kubeConfig,
    core: kubeConfig.makeApiClient(CoreV1Api),
    networking: kubeConfig.makeApiClient(NetworkingV1Api),
    custom: kubeConfig.makeApiClient(CustomObjectsApi),
    exec: new Exec(kubeConfig),
    log: new Log(kubeConfig),
  };
}

/** A KubeConfig from a file, or the in-cluster service account / ~/.kube/config when no path is given. */
export function loadKubeConfig(path?: string): KubeConfig {
  const kc = new KubeConfig();
  if (path) kc.loadFromFile(path);
  else kc.loadFromDefault();
  return kc;
}
