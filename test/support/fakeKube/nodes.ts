/** Fake EKS-style nodes. */
import { Store } from './store.js';
import type { AddNodeOptions, KubeObject } from './types.js';

export const UNSCHEDULABLE_TAINT_KEY = 'node.kubernetes.io/unschedulable';

export function addNode(store: Store, opts: AddNodeOptions = {}): KubeObject {
  const n = store.next('node');
  const az = opts.availabilityZone ?? 'ap-northeast-2a';
  const region = az.replace(/[a-z]$/, '');
  const internalIP = opts.internalIP ?? `10.0.1.${10 + n}`;
  const dns = `ip-${internalIP.replace(/\./g, '-')}.${region}.compute.internal`;
  const name = opts.name ?? dns;
  if (store.nodes.has(name)) throw new Error(`fakeKube: node ${name} already exists`);
  const instanceId = opts.instanceId ?? `i-${(0x0123456789abcdef0n + BigInt(n)).toString(16).padStart(17, '0')}`;
  const instanceType = opts.instanceType ?? 'm5.large';
  const created = store.timestamp();
  const taints = [...(opts.taints ?? [])];
  if (opts.unschedulable && !taints.some((t) => t['key'] === UNSCHEDULABLE_TAINT_KEY)) {
    taints.push({ key: UNSCHEDULABLE_TAINT_KEY, effect: 'NoSchedule', timeAdded: created });
  }
  const node: KubeObject = {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: store.newMeta(name, undefined, {
      labels: {
        'beta.kubernetes.io/arch': 'amd64',
        'beta.kubernetes.io/instance-type': instanceType,
        'beta.kubernetes.io/os': 'linux',
        'eks.amazonaws.com/nodegroup': 'default',
        'failure-domain.beta.kubernetes.io/region': region,
        'failure-domain.beta.kubernetes.io/zone': az,
        'kubernetes.io/arch': 'amd64',
        'kubernetes.io/hostname': name,
        'kubernetes.io/os': 'linux',
        'node.kubernetes.io/instance-type': instanceType,
        'topology.kubernetes.io/region': region,
        'topology.kubernetes.io/zone': az,
        ...opts.labels,
      },
      annotations: { 'node.alpha.kubernetes.io/ttl': '0', ...opts.annotations },
    }),
    spec: {
      providerID: `aws:///${az}/${instanceId}`,
      ...(opts.unschedulable ? { unschedulable: true } : {}),
      ...(taints.length > 0 ? { taints } : {}),
    },
    status: {
      addresses: [
        { type: 'InternalIP', address: internalIP },
        ...(opts.externalIP ? [{ type: 'ExternalIP', address: opts.externalIP }] : []),
        { type: 'InternalDNS', address: dns },
        { type: 'Hostname', address: dns },
      ],
      allocatable: { cpu: '1930m', 'ephemeral-storage': '76224326324', memory: '7291748Ki', pods: '29' },
      capacity: { cpu: '2', 'ephemeral-storage': '83873772Ki', memory: '7929700Ki', pods: '29' },
      conditions: [
        { type: 'MemoryPressure', status: 'False', reason: 'KubeletHasSufficientMemory', message: 'kubelet has sufficient memory available', lastHeartbeatTime: created, lastTransitionTime: created },
        { type: 'DiskPressure', status: 'False', reason: 'KubeletHasNoDiskPressure', message: 'kubelet has no disk pressure', lastHeartbeatTime: created, lastTransitionTime: created },
        { type: 'PIDPressure', status: 'False', reason: 'KubeletHasSufficientPID', message: 'kubelet has sufficient PID available', lastHeartbeatTime: created, lastTransitionTime: created },
        { type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'kubelet is posting ready status', lastHeartbeatTime: created, lastTransitionTime: created },
      ],
      daemonEndpoints: { kubeletEndpoint: { Port: 10250 } },
      nodeInfo: {
        architecture: 'amd64',
        bootID: '00000000-0000-0000-0000-000000000000',
        containerRuntimeVersion: 'containerd://1.7.22',
        kernelVersion: '6.1.109-118.189.amzn2023.x86_64',
        kubeProxyVersion: 'v1.30.4-eks-a737599',
        kubeletVersion: 'v1.30.4-eks-a737599',
        machineID: 'ec2000000000000000000000000000' + String(n).padStart(2, '0'),
        operatingSystem: 'linux',
        osImage: 'Amazon Linux 2023.5.20240916',
        systemUUID: 'ec200000-0000-0000-0000-0000000000' + String(n).padStart(2, '0'),
      },
    },
  };
  store.nodes.set(name, node);
  return structuredClone(node);
}

/** Keep the unschedulable taint in step with spec.unschedulable, as the node lifecycle controller does. */
export function syncUnschedulableTaint(node: KubeObject, now: string): void {
  const spec = (node.spec ??= {});
  const taints = Array.isArray(spec['taints']) ? (spec['taints'] as Record<string, unknown>[]) : [];
  const has = taints.some((t) => t['key'] === UNSCHEDULABLE_TAINT_KEY);
  if (spec['unschedulable'] === true && !has) {
    spec['taints'] = [...taints, { key: UNSCHEDULABLE_TAINT_KEY, effect: 'NoSchedule', timeAdded: now }];
  } else if (spec['unschedulable'] !== true && has) {
    const rest = taints.filter((t) => t['key'] !== UNSCHEDULABLE_TAINT_KEY);
    if (rest.length > 0) spec['taints'] = rest;
    else delete spec['taints'];
  }
  if (spec['unschedulable'] === false) delete spec['unschedulable'];
}
