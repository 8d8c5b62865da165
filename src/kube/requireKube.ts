import { ConfigError } from '../errors.js';
import type { KubeClients } from './clients.js';

/** The Kubernetes clients, or a ConfigError saying what cannot be done without them. */
export function requireKube(deps: { kube?: KubeClients | undefined }, what: string): KubeClients {
  if (!deps.kube) throw new ConfigError(`Kubernetes is not configured (no kube clients): cannot ${what}`);
  return deps.kube;
}
