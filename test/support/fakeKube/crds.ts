/**
 * The custom resources sentinel's cluster egress backends use, as `installCustomResource` takes
 * them: Cilium's CiliumClusterwideNetworkPolicy (a CRD) and Calico's GlobalNetworkPolicy and Tier
 * (served by the Calico API server under projectcalico.org/v3).
 */
import type { CustomResourceDefinition } from './customResources.js';
import type { KubeObject } from './types.js';

export const CILIUM_CLUSTERWIDE_POLICY: CustomResourceDefinition = {
  group: 'cilium.io',
  version: 'v2',
  plural: 'ciliumclusterwidenetworkpolicies',
  kind: 'CiliumClusterwideNetworkPolicy',
};

/** Cilium before 1.16: its CRD schema has no `enableDefaultDeny`, so the API server prunes it. */
export const CILIUM_CLUSTERWIDE_POLICY_WITHOUT_DEFAULT_DENY_FIELD: CustomResourceDefinition = {
  ...CILIUM_CLUSTERWIDE_POLICY,
  prune(object: KubeObject): KubeObject {
    if (object.spec) delete object.spec['enableDefaultDeny'];
    return object;
  },
};

export const CALICO_GLOBAL_NETWORK_POLICY: CustomResourceDefinition = {
  group: 'projectcalico.org',
  version: 'v3',
  plural: 'globalnetworkpolicies',
  kind: 'GlobalNetworkPolicy',
};

export const CALICO_TIER: CustomResourceDefinition = {
  group: 'projectcalico.org',
  version: 'v3',
  plural: 'tiers',
  kind: 'Tier',
};
