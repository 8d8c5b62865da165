import { CoreV1Api, Exec, KubeConfig, NetworkingV1Api } from '@kubernetes/client-node';

/** The Kubernetes clients sentinel uses, created once at start-up and passed in. */
export interface KubeClients {
  kubeConfig: KubeConfig;
  core: CoreV1Api;
  networking: NetworkingV1Api;
  exec: Exec;
}

export function createKubeClients(kubeConfig: KubeConfig): KubeClients {
  return {
    kubeConfig,
    core: kubeConfig.makeApiClient(CoreV1Api),
    networking: kubeConfig.makeApiClient(NetworkingV1Api),
    exec: new Exec(kubeConfig),
  };
}

/** A KubeConfig from a file, or the in-cluster service account / ~/.kube/config when no path is given. */
export function loadKubeConfig(path?: string): KubeConfig {
  const kc = new KubeConfig();
  if (path) kc.loadFromFile(path);
  else kc.loadFromDefault();
  return kc;
}
