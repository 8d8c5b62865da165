/**
 * deploy/kubernetes/sentinel.json (a kubectl List): well-formed objects, RBAC exactly as
 * docs/permissions/*.md asks, a Deployment that matches what the bot serves and reads, its data
 * on a volume that outlives the pod, and the bot's NetworkPolicy. deploy/kubernetes/falcosidekick.json:
 * the NetworkPolicy that lets only Falco reach Falcosidekick. Every object of both is checked
 * against the Kubernetes API's own models (those @kubernetes/client-node is generated from).
 */
import { readdirSync, readFileSync } from 'node:fs';
import * as k8s from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { SETTINGS } from '../../src/config.js';

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [key: string]: unknown;
}
interface Rule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
}
interface Subject {
  kind: string;
  name: string;
  namespace?: string;
}

const readList = (file: string) =>
  JSON.parse(readFileSync(new URL(`../../deploy/kubernetes/${file}`, import.meta.url), 'utf8')) as { apiVersion: string; kind: string; items: K8sObject[] };
const list = readList('sentinel.json');
const items = list.items;
const sidekickList = readList('falcosidekick.json');
const byKind = (kind: string) => items.filter((o) => o.kind === kind);
const one = (kind: string, name?: string) => {
  const found = byKind(kind).filter((o) => name === undefined || o.metadata.name === name);
  expect(found, `${kind} ${name ?? ''}`).toHaveLength(1);
  return found[0]!;
};

const CLUSTER_SCOPED = new Set(['Namespace', 'ClusterRole', 'ClusterRoleBinding']);
const API_VERSIONS: Record<string, string> = {
  Namespace: 'v1',
  ServiceAccount: 'v1',
  Service: 'v1',
  ClusterRole: 'rbac.authorization.k8s.io/v1',
  ClusterRoleBinding: 'rbac.authorization.k8s.io/v1',
  Role: 'rbac.authorization.k8s.io/v1',
  RoleBinding: 'rbac.authorization.k8s.io/v1',
  Deployment: 'apps/v1',
  PersistentVolumeClaim: 'v1',
  NetworkPolicy: 'networking.k8s.io/v1',
};

/**
 * Problems of a value against a model of the Kubernetes API as @kubernetes/client-node has it
 * (generated from the API server's OpenAPI document): unknown fields, wrong types.
 */
type Model = { getAttributeTypeMap(): { baseName: string; type: string }[] };
function schemaProblems(value: unknown, type: string, path: string): string[] {
  if (value === undefined || value === null) return [];
  const array = /^Array<(.+)>$/.exec(type);
  if (array) return Array.isArray(value) ? value.flatMap((v, i) => schemaProblems(v, array[1]!, `${path}[${i}]`)) : [`${path}: expected a list`];
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(type);
  if (map) {
    if (typeof value !== 'object' || Array.isArray(value)) return [`${path}: expected a map`];
    return Object.entries(value).flatMap(([k, v]) => schemaProblems(v, map[1]!, `${path}.${k}`));
  }
  const primitive: Record<string, (v: unknown) => boolean> = {
    string: (v) => typeof v === 'string',
    Date: (v) => typeof v === 'string',
    number: (v) => typeof v === 'number',
    boolean: (v) => typeof v === 'boolean',
    IntOrString: (v) => typeof v === 'string' || Number.isInteger(v),
    any: () => true,
  };
  if (primitive[type]) return primitive[type](value) ? [] : [`${path}: expected ${type}, got ${JSON.stringify(value)}`];
  const model = (k8s as unknown as Record<string, Model | undefined>)[type];
  if (!model?.getAttributeTypeMap) return [`${path}: no model ${type}`];
  if (typeof value !== 'object' || Array.isArray(value)) return [`${path}: expected an object (${type})`];
  const attributes = model.getAttributeTypeMap();
  return Object.entries(value).flatMap(([key, v]) => {
    const attribute = attributes.find((a) => a.baseName === key);
    return attribute ? schemaProblems(v, attribute.type, `${path}.${key}`) : [`${path}.${key}: not a field of ${type}`];
  });
}

interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist'; values?: string[] }[];
}
/** Whether a label selector selects an object with these labels (an empty selector selects all). */
function selects(selector: LabelSelector, labels: Record<string, string>): boolean {
  const byLabel = Object.entries(selector.matchLabels ?? {}).every(([k, v]) => labels[k] === v);
  const byExpression = (selector.matchExpressions ?? []).every((e) => {
    const has = Object.hasOwn(labels, e.key);
    if (e.operator === 'Exists') return has;
    if (e.operator === 'DoesNotExist') return !has;
    const within = has && (e.values ?? []).includes(labels[e.key]!);
    return e.operator === 'In' ? within : !within;
  });
  return byLabel && byExpression;
}

interface PolicyPort {
  protocol?: string;
  port?: number | string;
  endPort?: number;
}
interface PolicyPeer {
  podSelector?: LabelSelector;
  namespaceSelector?: LabelSelector;
  ipBlock?: { cidr: string; except?: string[] };
}
interface NetworkPolicy extends K8sObject {
  spec: {
    podSelector: LabelSelector;
    policyTypes: string[];
    ingress?: { from?: PolicyPeer[]; ports?: PolicyPort[] }[];
    egress?: { to?: PolicyPeer[]; ports?: PolicyPort[] }[];
  };
}

/**
 * Pod labels of the falcosecurity/falco chart (release `falco`, as docs/deploy.md installs it):
 * Falco's DaemonSet pods (falco.selectorLabels), and the Falcosidekick subchart's core and UI
 * pods (falcosidekick.labels, with app.kubernetes.io/component core or ui).
 */
const CHART_PODS = {
  falco: { 'app.kubernetes.io/name': 'falco', 'app.kubernetes.io/instance': 'falco' },
  falcosidekick: {
    'helm.sh/chart': 'falcosidekick-0.12.1',
    'app.kubernetes.io/name': 'falcosidekick',
    'app.kubernetes.io/instance': 'falco',
    'app.kubernetes.io/version': '2.31.1',
    'app.kubernetes.io/part-of': 'falcosidekick',
    'app.kubernetes.io/managed-by': 'Helm',
    'app.kubernetes.io/component': 'core',
  },
  falcosidekickUi: {
    'app.kubernetes.io/name': 'falcosidekick',
    'app.kubernetes.io/instance': 'falco',
    'app.kubernetes.io/part-of': 'falcosidekick',
    'app.kubernetes.io/component': 'ui',
  },
  /** Anything else in the falco namespace, e.g. the k8s-metacollector subchart. */
  other: { 'app.kubernetes.io/name': 'k8s-metacollector', 'app.kubernetes.io/instance': 'falco' },
} as const;

const deployment = () => one('Deployment', 'sentinel') as K8sObject & { spec: DeploymentSpec };
interface Container {
  name: string;
  image: string;
  args?: string[];
  ports: { name: string; containerPort: number }[];
  env: { name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string; key: string; optional?: boolean } } }[];
  envFrom: ({ configMapRef: { name: string } } | { secretRef: { name: string } })[];
  volumeMounts: { name: string; mountPath: string }[];
  resources: { requests?: Record<string, string>; limits?: Record<string, string> };
  livenessProbe: { httpGet: { path: string; port: string | number } };
  readinessProbe: { httpGet: { path: string; port: string | number } };
  securityContext: { allowPrivilegeEscalation: boolean; readOnlyRootFilesystem: boolean; capabilities: { drop: string[] } };
}
interface DeploymentSpec {
  replicas: number;
  strategy: { type: string };
  selector: { matchLabels: Record<string, string> };
  template: {
    metadata: { labels: Record<string, string> };
    spec: {
      serviceAccountName: string;
      terminationGracePeriodSeconds: number;
      securityContext: { runAsNonRoot: boolean; runAsUser: number };
      containers: Container[];
      volumes: { name: string; emptyDir?: object; persistentVolumeClaim?: { claimName: string; readOnly?: boolean } }[];
    };
  };
}

/** `group/resource/verb` triples of a set of rules. */
function permissions(rules: Rule[]): string[] {
  const out = new Set<string>();
  for (const r of rules) for (const g of r.apiGroups) for (const res of r.resources) for (const v of r.verbs) out.add(`${g || 'core'}/${res}/${v}`);
  return [...out].sort();
}

/** The RBAC rules written in docs/permissions/*.md (flow-style YAML: `apiGroups: [""]` etc.). */
function documentedRules(): Rule[] {
  const dir = new URL('../../docs/permissions/', import.meta.url);
  const rules: Rule[] = [];
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.md'))) {
    const text = readFileSync(new URL(file, dir), 'utf8');
    for (const block of text.matchAll(/```yaml\n([\s\S]*?)```/g)) {
      const re = /apiGroups:\s*(\[[^\]]*\])\s*\n\s*resources:\s*(\[[^\]]*\])\s*\n\s*verbs:\s*(\[[^\]]*\])/g;
      for (const m of block[1]!.matchAll(re)) {
        rules.push({ apiGroups: JSON.parse(m[1]!), resources: JSON.parse(m[2]!), verbs: JSON.parse(m[3]!) });
      }
    }
  }
  return rules;
}

describe('Kubernetes manifests', () => {
  it('is a List of objects with apiVersion, kind, name and (when namespaced) a namespace', () => {
    expect(list).toMatchObject({ apiVersion: 'v1', kind: 'List' });
    expect(items.length).toBeGreaterThanOrEqual(8);
    const seen = new Set<string>();
    for (const o of items) {
      expect(API_VERSIONS[o.kind], `${o.kind} is expected here`).toBe(o.apiVersion);
      expect(o.metadata.name, o.kind).toMatch(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/);
      if (CLUSTER_SCOPED.has(o.kind)) expect(o.metadata.namespace, `${o.kind} ${o.metadata.name}`).toBeUndefined();
      else expect(o.metadata.namespace, `${o.kind} ${o.metadata.name}`).toMatch(/^[a-z0-9-]+$/);
      const key = `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;
      expect(seen.has(key), key).toBe(false);
      seen.add(key);
    }
    // The namespace comes first, so `kubectl apply -f` can create everything in one go.
    expect(items[0]).toMatchObject({ kind: 'Namespace', metadata: { name: 'sentinel' } });
    for (const o of items.slice(1)) if (o.metadata.namespace && o.metadata.namespace !== 'default') expect(o.metadata.namespace).toBe('sentinel');
  });

  it('holds only fields the Kubernetes API knows, with the types it expects (sentinel.json and falcosidekick.json)', () => {
    expect(sidekickList).toMatchObject({ apiVersion: 'v1', kind: 'List' });
    for (const o of [...items, ...sidekickList.items]) {
      expect(API_VERSIONS[o.kind], `${o.kind} is expected here`).toBe(o.apiVersion);
      expect(schemaProblems(o, `V1${o.kind}`, `${o.kind}/${o.metadata.name}`)).toEqual([]);
    }
    // The check itself catches a misspelled field and a wrong type.
    const policy = one('NetworkPolicy', 'sentinel-bot') as NetworkPolicy;
    expect(schemaProblems({ ...policy, spec: { ...policy.spec, policyType: ['Ingress'] } }, 'V1NetworkPolicy', 'np')).toEqual(['np.spec.policyType: not a field of V1NetworkPolicySpec']);
    expect(schemaProblems({ ...policy, spec: { ...policy.spec, ingress: [{ ports: [{ port: 1.5 }] }] } }, 'V1NetworkPolicy', 'np')).toEqual([
      'np.spec.ingress[0].ports[0].port: expected IntOrString, got 1.5',
    ]);
  });

  it('gives the service account an IRSA role annotation to fill in', () => {
    const sa = one('ServiceAccount', 'sentinel');
    expect(sa.metadata.annotations?.['eks.amazonaws.com/role-arn']).toMatch(/^arn:aws:iam::[A-Z_0-9]+:role\/[A-Za-z_0-9-]+$/);
  });

  it('grants exactly the RBAC the actions document, bound to sentinel\'s service account', () => {
    const sa = one('ServiceAccount', 'sentinel');
    const roles = [...byKind('ClusterRole'), ...byKind('Role')];
    const bindings = [...byKind('ClusterRoleBinding'), ...byKind('RoleBinding')] as (K8sObject & { roleRef: { kind: string; name: string }; subjects: Subject[] })[];
    for (const b of bindings) {
      expect(roles.some((r) => r.kind === b.roleRef.kind && r.metadata.name === b.roleRef.name), `${b.metadata.name} binds an existing role`).toBe(true);
      expect(b.subjects).toEqual([{ kind: 'ServiceAccount', name: sa.metadata.name, namespace: sa.metadata.namespace }]);
      expect(b.metadata.namespace, 'never bound in kube-system').not.toBe('kube-system');
    }
    const granted = permissions(roles.flatMap((r) => r.rules as Rule[]));
    expect(granted).toEqual(permissions(documentedRules()));
    expect(granted).toEqual(
      [
        'core/pods/get',
        'core/pods/patch',
        'core/pods/delete',
        'core/pods/list',
        'core/pods/exec/create',
        'core/pods/exec/get',
        'core/pods/log/get',
        'core/pods/ephemeralcontainers/patch',
        'core/pods/eviction/create',
        'networking.k8s.io/networkpolicies/create',
        'networking.k8s.io/networkpolicies/delete',
        'networking.k8s.io/networkpolicies/get',
        'networking.k8s.io/networkpolicies/patch',
        'core/nodes/get',
        'core/nodes/patch',
      ].sort(),
    );
    // Namespaced powers (exec, patch, delete, evictions, network policies) are only ever bound per
    // namespace; a ClusterRoleBinding only carries nodes (cluster-scoped) and drain-node's read-only
    // pod list.
    for (const b of byKind('ClusterRoleBinding') as (K8sObject & { roleRef: { name: string } })[]) {
      const role = roles.find((r) => r.metadata.name === b.roleRef.name)!;
      expect(permissions(role.rules as Rule[]).every((p) => p.startsWith('core/nodes/') || p === 'core/pods/list'), b.metadata.name).toBe(true);
    }
  });

  it('runs the bot non-root on a read-only root file system, with its data dir on a PersistentVolumeClaim', () => {
    const spec = deployment().spec.template.spec;
    expect(spec.serviceAccountName).toBe('sentinel');
    expect(spec.securityContext).toMatchObject({ runAsNonRoot: true });
    expect(spec.securityContext.runAsUser).toBeGreaterThan(0);
    expect(spec.containers).toHaveLength(1);
    const c = spec.containers[0]!;
    expect(c.args).toEqual(['start']);
    expect(c.securityContext).toMatchObject({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
    const env = Object.fromEntries(c.env.map((e) => [e.name, e.value]));
    const dataDir = env.SENTINEL_DATA_DIR!;
    expect(dataDir).toMatch(/^\//);
    const mount = c.volumeMounts.find((m) => m.mountPath === dataDir);
    expect(mount, 'SENTINEL_DATA_DIR is mounted').toBeDefined();
    const volume = spec.volumes.find((v) => v.name === mount!.name);
    expect(volume?.emptyDir, 'not on an emptyDir: it would be lost with the pod').toBeUndefined();
    expect(volume?.persistentVolumeClaim?.claimName).toBe('sentinel-data');
    for (const name of Object.keys(env)) expect(Object.keys(SETTINGS), `${name} is a sentinel setting`).toContain(name);
    expect(c.resources.requests?.cpu).toBeDefined();
    expect(c.resources.requests?.memory).toBeDefined();
    expect(c.resources.limits?.memory).toBeDefined();
    expect(spec.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(30);
  });

  it('probes /healthz and /readyz on SENTINEL_HTTP_PORT, and takes settings from a ConfigMap and the token from a Secret', () => {
    const d = deployment();
    const c = d.spec.template.spec.containers[0]!;
    const port = Number(c.env.find((e) => e.name === 'SENTINEL_HTTP_PORT')!.value);
    const named = (p: string | number) => (typeof p === 'number' ? p : c.ports.find((x) => x.name === p)?.containerPort);
    expect(c.livenessProbe.httpGet.path).toBe('/healthz');
    expect(named(c.livenessProbe.httpGet.port)).toBe(port);
    expect(c.readinessProbe.httpGet.path).toBe('/readyz');
    expect(named(c.readinessProbe.httpGet.port)).toBe(port);
    expect(c.envFrom).toEqual(expect.arrayContaining([{ configMapRef: { name: 'sentinel-config' } }, { secretRef: { name: 'sentinel-discord' } }]));
    // The token never sits in the manifest.
    expect(JSON.stringify(list)).not.toMatch(/DISCORD_TOKEN/);
    expect(d.spec.selector.matchLabels).toEqual(d.spec.template.metadata.labels);
  });

  it('keeps approvals, incidents and the audit log across restarts: a ReadWriteOnce claim, one replica, Recreate', () => {
    const d = deployment();
    const claim = one('PersistentVolumeClaim', 'sentinel-data') as K8sObject & {
      spec: { accessModes: string[]; resources: { requests: { storage: string } }; storageClassName?: string };
    };
    expect(claim.metadata.namespace).toBe(d.metadata.namespace);
    expect(claim.spec.accessModes).toEqual(['ReadWriteOnce']);
    expect(claim.spec.resources.requests.storage).toMatch(/^\d+(Mi|Gi)$/);
    // ReadWriteOnce: a rolling update would start the new pod while the old one holds the volume,
    // and two bots would share one file store. One replica, the old pod gone before the new one.
    expect(d.spec.replicas).toBe(1);
    expect(d.spec.strategy).toEqual({ type: 'Recreate' });
    // The file stores are what the claim keeps: the approval store stays on it unless set to s3.
    const env = d.spec.template.spec.containers[0]!.env;
    expect(env.find((e) => e.name === 'SENTINEL_APPROVAL_STORE')?.value ?? 'file').toBe('file');
    // The claim is created before the Deployment that mounts it.
    expect(items.indexOf(claim)).toBeLessThan(items.indexOf(d));
  });

  it('takes SENTINEL_METRICS_TOKEN from an optional Secret, and tells scrapers to send it', () => {
    const c = deployment().spec.template.spec.containers[0]!;
    const token = c.env.find((e) => e.name === 'SENTINEL_METRICS_TOKEN');
    expect(token).toEqual({ name: 'SENTINEL_METRICS_TOKEN', valueFrom: { secretKeyRef: { name: 'sentinel-metrics', key: 'token', optional: true } } });
    const svc = one('Service', 'sentinel-metrics');
    expect(svc.metadata.annotations?.['sentinel.io/metrics-auth']).toMatch(/Authorization: Bearer .*sentinel-metrics.*loopback/);
  });

  it('exposes the metrics port through a Service that selects the bot', () => {
    const svc = one('Service', 'sentinel-metrics') as K8sObject & { spec: { selector: Record<string, string>; ports: { port: number; targetPort: string | number }[] } };
    const d = deployment();
    const labels = d.spec.template.metadata.labels;
    for (const [k, v] of Object.entries(svc.spec.selector)) expect(labels[k], k).toBe(v);
    const c = d.spec.template.spec.containers[0]!;
    const target = svc.spec.ports[0]!.targetPort;
    expect(typeof target === 'number' ? target : c.ports.find((p) => p.name === target)?.containerPort).toBe(8080);
  });

  it('fences the bot: ingress only to its HTTP port from labelled namespaces; egress only DNS to kube-dns and HTTPS', () => {
    const policy = one('NetworkPolicy', 'sentinel-bot') as NetworkPolicy;
    const d = deployment();
    const c = d.spec.template.spec.containers[0]!;
    const httpPort = Number(c.env.find((e) => e.name === 'SENTINEL_HTTP_PORT')!.value);
    expect(policy.metadata.namespace).toBe(d.metadata.namespace);
    expect(selects(policy.spec.podSelector, d.spec.template.metadata.labels)).toBe(true);
    expect(Object.keys(policy.spec.podSelector.matchLabels ?? {}).length, 'not an empty selector').toBeGreaterThan(0);
    // Both directions are isolated: what is not listed is refused.
    expect([...policy.spec.policyTypes].sort()).toEqual(['Egress', 'Ingress']);

    // Ingress: one rule, from namespaces that carry the scrape label, to the HTTP port only.
    expect(policy.spec.ingress).toEqual([
      { from: [{ namespaceSelector: { matchLabels: { 'sentinel.io/scrape-metrics': 'true' } } }], ports: [{ protocol: 'TCP', port: httpPort }] },
    ]);
    expect(c.ports.map((p) => p.containerPort)).toEqual([httpPort]);

    // Egress: DNS to kube-dns pods in kube-system (one peer: both selectors must hold), UDP and TCP 53.
    const egress = policy.spec.egress ?? [];
    expect(egress).toHaveLength(2);
    const dns = egress.find((r) => r.ports?.some((p) => p.port === 53));
    expect(dns?.to).toEqual([
      { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } }, podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } } },
    ]);
    expect(dns?.ports).toEqual(expect.arrayContaining([{ protocol: 'UDP', port: 53 }, { protocol: 'TCP', port: 53 }]));
    expect(dns?.ports).toHaveLength(2);
    // HTTPS to any address (Discord, AWS, the API server): the port is the only thing to narrow.
    const https = egress.find((r) => r !== dns);
    expect(https?.ports).toEqual([{ protocol: 'TCP', port: 443 }]);
    expect(https?.to).toEqual([{ ipBlock: { cidr: '0.0.0.0/0' } }, { ipBlock: { cidr: '::/0' } }]);
    // No rule is open on every port or to every peer.
    for (const rule of egress) expect(rule.ports?.length, 'each egress rule names its ports').toBeGreaterThan(0);
    for (const rule of policy.spec.ingress ?? []) expect(rule.from?.length, 'each ingress rule names its peers').toBeGreaterThan(0);
    expect(JSON.stringify(policy)).not.toMatch(/endPort/);
  });

  it('lets only Falco\'s pods reach Falcosidekick, on 2801 (falcosidekick.json)', () => {
    expect(sidekickList.items).toHaveLength(1);
    const policy = sidekickList.items[0] as NetworkPolicy;
    expect(policy).toMatchObject({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { namespace: 'falco' } });
    // It selects Falcosidekick's core pods, not Falco's, not the UI's.
    expect(selects(policy.spec.podSelector, CHART_PODS.falcosidekick)).toBe(true);
    expect(selects(policy.spec.podSelector, CHART_PODS.falco)).toBe(false);
    expect(selects(policy.spec.podSelector, CHART_PODS.falcosidekickUi)).toBe(false);
    expect(policy.spec.policyTypes).toEqual(['Ingress']);
    // One rule: from pods of its own namespace (no namespaceSelector, no ipBlock) that are Falco's, to 2801.
    expect(policy.spec.ingress).toHaveLength(1);
    const rule = policy.spec.ingress![0]!;
    expect(rule.ports).toEqual([{ protocol: 'TCP', port: 2801 }]);
    expect(rule.from).toHaveLength(1);
    const peer = rule.from![0]!;
    expect(Object.keys(peer)).toEqual(['podSelector']);
    expect(selects(peer.podSelector!, CHART_PODS.falco)).toBe(true);
    for (const other of [CHART_PODS.falcosidekick, CHART_PODS.falcosidekickUi, CHART_PODS.other, {}]) {
      expect(selects(peer.podSelector!, other), JSON.stringify(other)).toBe(false);
    }
  });

  it('is what docs/deploy.md tells people to apply and fill in', () => {
    const guide = readFileSync(new URL('../../docs/deploy.md', import.meta.url), 'utf8');
    const manifest = readFileSync(new URL('../../deploy/kubernetes/sentinel.json', import.meta.url), 'utf8');
    // The guide fills in the placeholders with sed, then applies the result.
    const replaced = [...guide.matchAll(/-e "s\|([^|]+)\|/g)].map((m) => m[1]!);
    expect(replaced).toHaveLength(2);
    for (const placeholder of replaced) expect(manifest, placeholder).toContain(placeholder);
    expect(replaced).toContain(one('ServiceAccount', 'sentinel').metadata.annotations!['eks.amazonaws.com/role-arn']);
    expect(replaced).toContain(deployment().spec.template.spec.containers[0]!.image);
    expect(guide).toMatch(/deploy\/kubernetes\/sentinel\.json > sentinel\.k8s\.json\nkubectl apply -f sentinel\.k8s\.json/);
    expect(guide).toMatch(/kubectl -n sentinel create secret generic sentinel-discord/);
    expect(guide).toMatch(/kubectl -n sentinel create configmap sentinel-config/);
    expect(guide).toContain('eks.amazonaws.com/role-arn');
    // The Falcosidekick policy goes in once Falco's namespace exists; the scrape label and the metrics Secret are explained.
    expect(guide).toMatch(/helm upgrade --install falco[\s\S]*kubectl apply -f deploy\/kubernetes\/falcosidekick\.json/);
    expect(guide).toMatch(/kubectl label namespace \S+ sentinel\.io\/scrape-metrics=true/);
    expect(guide).toMatch(/kubectl -n sentinel create secret generic sentinel-metrics --from-literal=token=/);
  });
});
