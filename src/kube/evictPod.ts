import type { V1Pod } from '@kubernetes/client-node';
import type { KubeClients } from './clients.js';
import { kubeErrorMessage, kubeStatusBody, kubeStatusCode, toKubeError } from './kubeErrors.js';

export type EvictionOutcome =
  /** The API accepted the eviction: the pod terminates within its grace period. */
  | { result: 'evicted'; attempts: number }
  /** The pod was gone, or replaced by a new pod of that name (uid precondition), before it could be evicted. */
  | { result: 'gone'; attempts: number }
  /** The API refused it for good (budget still violated after the retries, forbidden, two budgets): left on the node. */
  | { result: 'refused'; attempts: number; kind: 'disruption-budget' | 'forbidden' | 'refused'; reason: string };

export interface EvictOptions {
  /** How often a 429 (a PodDisruptionBudget would be violated) is retried. */
  retries: number;
  delayMs: number;
  gracePeriodSeconds?: number | undefined;
  sleep?: (ms: number) => Promise<void>;
}

const defaultSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Evicts one pod through the policy/v1 Eviction subresource, which honours its
 * PodDisruptionBudget: a 429 is retried `retries` times `delayMs` apart, then reported as
 * refused with the budget's own words. Conditioned on the pod's uid, so a pod recreated under
 * the same name is never evicted. 403 and the API's "more than one PodDisruptionBudget" are
 * refusals too; other failures throw (retryable, the drain can be rerun).
 */
export async function evictPod(kube: KubeClients, pod: V1Pod, options: EvictOptions): Promise<EvictionOutcome> {
  const name = pod.metadata?.name ?? '';
  const namespace = pod.metadata?.namespace ?? '';
  const sleep = options.sleep ?? defaultSleep;
  const body = {
    apiVersion: 'policy/v1',
    kind: 'Eviction',
    metadata: { name, namespace },
    deleteOptions: {
      preconditions: { uid: pod.metadata?.uid },
      ...(options.gracePeriodSeconds !== undefined ? { gracePeriodSeconds: options.gracePeriodSeconds } : {}),
    },
  };
  for (let attempt = 1; ; attempt++) {
    try {
      await kube.core.createNamespacedPodEviction({ name, namespace, body });
      return { result: 'evicted', attempts: attempt };
    } catch (err) {
      const code = kubeStatusCode(err);
      if (code === 404 || code === 409) return { result: 'gone', attempts: attempt };
      if (code === 429) {
        if (attempt <= options.retries) {
          await sleep(options.delayMs);
          continue;
        }
        const cause = kubeStatusBody(err)?.details?.causes?.find((c) => c.reason === 'DisruptionBudget')?.message;
        return { result: 'refused', attempts: attempt, kind: 'disruption-budget', reason: `disruption budget: ${cause ?? kubeErrorMessage(err)} (still refused after ${attempt} attempts)` };
      }
      if (code === 403) return { result: 'refused', attempts: attempt, kind: 'forbidden', reason: `forbidden: sentinel may not evict pods in namespace ${namespace} (${kubeErrorMessage(err)})` };
      const message = kubeErrorMessage(err);
      if (code === 500 && /more than one PodDisruptionBudget/.test(message)) return { result: 'refused', attempts: attempt, kind: 'refused', reason: message };
      throw toKubeError(err, `evicting pod ${namespace}/${name}`);
    }
  }
}
