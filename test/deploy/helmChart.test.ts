/**
 * deploy/helm/sentinel, the one source of sentinel's Kubernetes objects: rendered with `helm
 * template` (helm built from the Go module proxy), every object validated against the Kubernetes
 * API schemas of the oldest release the chart supports and the newest kubernetes-validate knows
 * (strict: no unknown field), and then checked for what sentinel needs: RBAC exactly as
 * docs/permissions/*.md asks and bound per namespace, the IRSA annotation, the Deployment's
 * securityContext and probes, its data on a volume that outlives the pod, the tokens from Secrets,
 * settings as values, the network policies of the bot, its webhook and Falcosidekick, metrics (a
 * Service and an optional ServiceMonitor) and a PodDisruptionBudget. Values that would weaken it
 * are refused at render time, with a message that says why.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { SETTINGS } from '../../src/config.js';
import { SYSTEM_NAMESPACES } from '../../src/kube/protectedNamespace.js';
import { helm, renderChart, CHART_DIR, type RenderResult } from '../support/helm/renderChart.js';
import { validateManifests, type ValidationReport } from '../support/kubernetesValidate/runKubernetesValidate.js';

/** The oldest Kubernetes the chart supports (Chart.yaml kubeVersion) and the newest kubernetes-validate has schemas for. */
const KUBERNETES_VERSIONS = ['1.29', '1.37'] as const;
const REPO = '123456789012.dkr.ecr.ap-northeast-2.amazonaws.com/sentinel';
const ROLE_ARN = 'arn:aws:iam::123456789012:role/sentinel-bot';
const DIGEST = `sha256:${'ab'.repeat(32)}`;

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
interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist'; values?: string[] }[];
}
interface PolicyPeer {
  podSelector?: LabelSelector;
  namespaceSelector?: LabelSelector;
  ipBlock?: { cidr: string; except?: string[] };
}
interface PolicyPort {
  protocol?: string;
  port?: number | string;
  endPort?: number;
}
interface NetworkPolicy extends K8sObject {
  spec: {
    podSelector: LabelSelector;
    policyTypes: string[];
    ingress?: { from?: PolicyPeer[]; ports?: PolicyPort[] }[];
    egress?: { to?: PolicyPeer[]; ports?: PolicyPort[] }[];
  };
}
interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef?: { name: string; key: string; optional?: boolean } };
}
interface Container {
  name: string;
  image: string;
  args?: string[];
  ports: { name: string; containerPort: number }[];
  env: EnvVar[];
  envFrom: ({ configMapRef: { name: string } } | { secretRef: { name: string } })[];
  volumeMounts: { name: string; mountPath: string }[];
  resources: { requests?: Record<string, string>; limits?: Record<string, string> };
  livenessProbe: { httpGet: { path: string; port: string | number } };
  readinessProbe: { httpGet: { path: string; port: string | number } };
  securityContext: { allowPrivilegeEscalation: boolean; readOnlyRootFilesystem: boolean; capabilities: { drop: string[] } };
}
interface Deployment extends K8sObject {
  spec: {
    replicas: number;
    strategy: { type: string };
    selector: { matchLabels: Record<string, string> };
    template: {
      metadata: { labels: Record<string, string>; annotations: Record<string, string> };
      spec: {
        serviceAccountName: string;
        terminationGracePeriodSeconds: number;
        securityContext: { runAsNonRoot: boolean; runAsUser: number; seccompProfile: { type: string } };
        containers: Container[];
        volumes: { name: string; emptyDir?: object; persistentVolumeClaim?: { claimName: string; readOnly?: boolean } }[];
      };
    };
  };
}
interface Service extends K8sObject {
  spec: { selector: Record<string, string>; ports: { name: string; port: number; targetPort: string | number }[] };
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

/**
 * Pods of the falcosecurity/falco chart (release `falco`): Falco's DaemonSet pods, the
 * Falcosidekick subchart's core and UI pods, and another subchart's.
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
  falcosidekickUi: { 'app.kubernetes.io/name': 'falcosidekick', 'app.kubernetes.io/instance': 'falco', 'app.kubernetes.io/part-of': 'falcosidekick', 'app.kubernetes.io/component': 'ui' },
  other: { 'app.kubernetes.io/name': 'k8s-metacollector', 'app.kubernetes.io/instance': 'falco' },
} as const;
/** The labels of namespaces as Kubernetes sets them. */
const nsLabels = (name: string) => ({ 'kubernetes.io/metadata.name': name });

/** Whether a NetworkPolicy peer admits a pod with these labels in this namespace (the policy's own namespace when the peer has no namespaceSelector). */
function peerAdmits(peer: PolicyPeer, policyNamespace: string, pod: { namespace: string; labels: Record<string, string> }): boolean {
  if (peer.ipBlock) return false;
  const nsOk = peer.namespaceSelector ? selects(peer.namespaceSelector, nsLabels(pod.namespace)) : pod.namespace === policyNamespace;
  const podOk = peer.podSelector ? selects(peer.podSelector, pod.labels) : true;
  return nsOk && podOk;
}

/** `group/resource/verb` triples of a set of rules. */
function permissions(rules: Rule[]): string[] {
  const out = new Set<string>();
  for (const r of rules) for (const g of r.apiGroups) for (const res of r.resources) for (const v of r.verbs) out.add(`${g || 'core'}/${res}/${v}`);
  return [...out].sort();
}

/** The RBAC rules written in docs/permissions/*.md (flow-style YAML: `apiGroups: [""]` etc.). */
/**
 * The RBAC docs/permissions documents, for an egress backend: the ClusterRoles named
 * `sentinel-egress-<backend>` (docs/permissions/egress.md) count only for their own backend.
 */
function documentedRules(egressBackend: 'nacl' | 'cilium' | 'calico' = 'nacl'): Rule[] {
  const dir = new URL('../../docs/permissions/', import.meta.url);
  const rules: Rule[] = [];
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.md'))) {
    const text = readFileSync(new URL(file, dir), 'utf8');
    for (const block of text.matchAll(/```yaml\n([\s\S]*?)```/g)) {
      for (const doc of block[1]!.split(/^---$/m)) {
        const backend = /name: sentinel-egress-(\w+)/.exec(doc)?.[1];
        if (backend !== undefined && backend !== egressBackend) continue;
        const re = /apiGroups:\s*(\[[^\]]*\])\s*\n\s*resources:\s*(\[[^\]]*\])\s*\n\s*verbs:\s*(\[[^\]]*\])/g;
        for (const m of doc.matchAll(re)) rules.push({ apiGroups: JSON.parse(m[1]!), resources: JSON.parse(m[2]!), verbs: JSON.parse(m[3]!) });
      }
    }
  }
  return rules;
}

/** The least a user must give: where the image is and which Secret holds the bot token. */
const MINIMAL = { image: { repository: REPO }, discord: { existingSecret: 'sentinel-discord' } };
/** Everything on: IRSA, pod actions in two namespaces, the webhook, a ServiceMonitor, the namespace, AWS settings. */
const FULL = {
  image: { repository: REPO, digest: DIGEST },
  namespace: { create: true },
  serviceAccount: { roleArn: ROLE_ARN },
  rbac: { workloadNamespaces: ['dvwa', 'shop'] },
  discord: { existingSecret: 'sentinel-discord' },
  metrics: { existingSecret: 'sentinel-metrics', serviceMonitor: { enabled: true, labels: { release: 'prometheus' } } },
  webhook: { enabled: true, existingSecret: 'sentinel-webhook' },
  persistence: { storageClassName: 'gp3', size: '5Gi' },
  settings: {
    AWS_REGION: 'ap-northeast-2',
    SENTINEL_QUEUE_URL: 'https://sqs.ap-northeast-2.amazonaws.com/123456789012/sentinel-intake',
    SENTINEL_CONTROL_QUEUE_URL: 'https://sqs.ap-northeast-2.amazonaws.com/123456789012/sentinel-control',
    SENTINEL_EVIDENCE_BUCKET: 'sentinel-evidence-123456789012-ap-northeast-2',
    DISCORD_APPLICATION_ID: '123456789012345678',
    SENTINEL_BLOCK_TTL_HOURS: 24,
    SENTINEL_ISOLATE_STOP_INSTANCE: false,
    SENTINEL_PROTECTED_NAMESPACES: 'payments, vault',
  },
};

interface Rendered {
  render: RenderResult;
  report: ValidationReport;
  items: K8sObject[];
}

async function renderAndValidate(values: Record<string, unknown>, kubeVersion = '1.29.0'): Promise<Rendered> {
  const render = await renderChart(values, { kubeVersion });
  if (!render.ok) throw new Error(`helm template failed:\n${render.error}`);
  const report = await validateManifests(render.yaml, KUBERNETES_VERSIONS);
  return { render, report, items: report.documents as unknown as K8sObject[] };
}

let minimal: Rendered;
let full: Rendered;

beforeAll(async () => {
  [minimal, full] = await Promise.all([renderAndValidate(MINIMAL), renderAndValidate(FULL, '1.37.0')]);
}, 30 * 60_000);

const byKind = (r: Rendered, kind: string) => r.items.filter((o) => o.kind === kind);
function one<T extends K8sObject = K8sObject>(r: Rendered, kind: string, name?: string): T {
  const found = byKind(r, kind).filter((o) => name === undefined || o.metadata.name === name);
  expect(found, `${kind} ${name ?? ''}`).toHaveLength(1);
  return found[0] as T;
}
const deployment = (r: Rendered) => one<Deployment>(r, 'Deployment', 'sentinel');
const container = (r: Rendered) => deployment(r).spec.template.spec.containers[0]!;
const envOf = (r: Rendered, name: string) => container(r).env.find((e) => e.name === name);

/** Renders values expected to be refused; returns helm's message. */
async function refused(values: Record<string, unknown>, options: Parameters<typeof renderChart>[1] = {}): Promise<string> {
  const out = await renderChart(values, options);
  expect(out.ok, `rendered although it should have been refused:\n${out.yaml.slice(0, 400)}`).toBe(false);
  return out.error;
}

describe('the chart renders objects the Kubernetes API accepts', () => {
  it(`validates every object against the API schemas of Kubernetes ${KUBERNETES_VERSIONS.join(' and ')}, strict (no unknown field)`, () => {
    for (const r of [minimal, full]) {
      const problems = r.report.results.filter((x) => x.status === 'failed').map((x) => `${x.kind}/${x.name} (${x.version}) ${x.path}: ${x.message}`);
      expect(problems).toEqual([]);
      // Only the Prometheus Operator's CRD has no schema among the API's; it is checked below.
      const unchecked = r.report.results.filter((x) => x.status === 'no-schema').map((x) => x.kind);
      expect([...new Set(unchecked)]).toEqual(r === full ? ['ServiceMonitor'] : []);
      for (const v of KUBERNETES_VERSIONS) expect(r.report.results.filter((x) => x.version === v && x.status === 'passed').length, v).toBe(r.items.length - (r === full ? 1 : 0));
    }
    expect(full.report.results.map((x) => x.validatedAgainst).filter(Boolean)).toEqual(expect.arrayContaining([...KUBERNETES_VERSIONS]));
    expect(full.items.length).toBeGreaterThan(minimal.items.length);
  });

  it('the validation catches a misspelled field and a wrong type', async () => {
    const policy = one<NetworkPolicy>(minimal, 'NetworkPolicy', 'sentinel-bot');
    const broken = [
      { ...policy, spec: { ...policy.spec, policyType: ['Ingress'] } },
      { ...policy, metadata: { ...policy.metadata, name: 'typed' }, spec: { ...policy.spec, ingress: [{ ports: [{ port: 1.5 }] }] } },
    ];
    const report = await validateManifests(broken.map((b) => JSON.stringify(b)).join('\n---\n'), ['1.29']);
    expect(report.results.map((r) => [r.status, r.path])).toEqual([
      ['failed', 'spec'],
      ['failed', 'spec.ingress.0.ports.0.port'],
    ]);
    expect(report.results[0]!.message).toMatch(/policyType/);
  });

  it('passes helm lint --strict', async () => {
    const out = await helm(['lint', '--strict', CHART_DIR, '--set', `image.repository=${REPO}`, '--set', 'discord.existingSecret=sentinel-discord']);
    expect(out.code, out.stdout + out.stderr).toBe(0);
  });

  it('names every object validly, puts namespaced ones in the release namespace (RoleBindings in theirs, the Falcosidekick fence in Falco\'s), none twice', () => {
    const clusterScoped = new Set(['Namespace', 'ClusterRole', 'ClusterRoleBinding']);
    const seen = new Set<string>();
    for (const o of full.items) {
      expect(o.metadata.name, o.kind).toMatch(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/);
      expect(o.metadata.name.length, o.metadata.name).toBeLessThanOrEqual(63);
      if (clusterScoped.has(o.kind)) expect(o.metadata.namespace, `${o.kind} ${o.metadata.name}`).toBeUndefined();
      else if (o.kind === 'RoleBinding') expect(['dvwa', 'shop']).toContain(o.metadata.namespace);
      else if (o.metadata.name === 'sentinel-falcosidekick-from-falco') expect(o.metadata.namespace).toBe('falco');
      else expect(o.metadata.namespace, `${o.kind} ${o.metadata.name}`).toBe('sentinel');
      const key = `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;
      expect(seen.has(key), key).toBe(false);
      seen.add(key);
      expect(o.metadata.labels?.['app.kubernetes.io/managed-by'], key).toBe('Helm');
    }
  });

  it('is versioned as sentinel is, and runs the image by tag (the appVersion) or, when given, by digest', async () => {
    const chart = readFileSync(new URL('../../deploy/helm/sentinel/Chart.yaml', import.meta.url), 'utf8');
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    expect(chart).toContain(`appVersion: "${pkg.version}"`);
    expect(container(minimal).image).toBe(`${REPO}:${pkg.version}`);
    expect(container(full).image).toBe(`${REPO}@${DIGEST}`);
    expect(await refused({ ...MINIMAL, image: {} })).toMatch(/image\.repository is required/);
    expect(await refused({ ...MINIMAL, image: { repository: REPO, digest: 'sha256:short' } })).toMatch(/digest/);
    // Chart.yaml's kubeVersion: older clusters are refused by helm.
    expect(await refused(MINIMAL, { kubeVersion: '1.28.0' })).toMatch(/kubeVersion|Kubernetes version/i);
  });
});

describe('the bot\'s identity and permissions', () => {
  it('annotates the service account with the IRSA role when given, and carries none otherwise', async () => {
    expect(one(full, 'ServiceAccount', 'sentinel').metadata.annotations?.['eks.amazonaws.com/role-arn']).toBe(ROLE_ARN);
    expect(one(minimal, 'ServiceAccount', 'sentinel').metadata.annotations).toBeUndefined();
    expect(await refused({ ...MINIMAL, serviceAccount: { roleArn: 'sentinel-bot' } })).toMatch(/roleArn/);
  });

  it('grants exactly the RBAC the actions document, bound to sentinel\'s service account', () => {
    for (const r of [minimal, full]) {
      const sa = one(r, 'ServiceAccount', 'sentinel');
      const roles = [...byKind(r, 'ClusterRole'), ...byKind(r, 'Role')];
      const bindings = [...byKind(r, 'ClusterRoleBinding'), ...byKind(r, 'RoleBinding')] as (K8sObject & { roleRef: { kind: string; name: string }; subjects: Subject[] })[];
      for (const b of bindings) {
        expect(roles.some((role) => role.kind === b.roleRef.kind && role.metadata.name === b.roleRef.name), `${b.metadata.name} binds an existing role`).toBe(true);
        expect(b.subjects).toEqual([{ kind: 'ServiceAccount', name: sa.metadata.name, namespace: sa.metadata.namespace }]);
        expect(SYSTEM_NAMESPACES, 'never bound in a system namespace').not.toContain(b.metadata.namespace);
      }
      const granted = permissions(roles.flatMap((role) => role.rules as Rule[]));
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
      // Namespaced powers are only ever bound per namespace; a ClusterRoleBinding carries only
      // nodes (cluster-scoped) and drain-node's read-only pod list.
      for (const b of byKind(r, 'ClusterRoleBinding') as (K8sObject & { roleRef: { name: string } })[]) {
        const role = roles.find((x) => x.metadata.name === b.roleRef.name)!;
        expect(permissions(role.rules as Rule[]).every((p) => p.startsWith('core/nodes/') || p === 'core/pods/list'), b.metadata.name).toBe(true);
      }
    }
  });

  it('with a cluster egress backend, grants that backend\'s policies and the nodes\' list cluster-wide, as docs/permissions/egress.md says; none with the network ACL', { timeout: 300_000 }, async () => {
    for (const backend of ['cilium', 'calico'] as const) {
      const r = await renderAndValidate({ ...MINIMAL, settings: { SENTINEL_EGRESS_BACKEND: backend } });
      expect(r.report.results.filter((x) => x.status === 'failed')).toEqual([]);
      const roles = [...byKind(r, 'ClusterRole'), ...byKind(r, 'Role')];
      expect(permissions(roles.flatMap((role) => role.rules as Rule[]))).toEqual(permissions(documentedRules(backend)));
      const role = one(r, 'ClusterRole', `sentinel-egress-${backend}`);
      const binding = one(r, 'ClusterRoleBinding', `sentinel-egress-${backend}`) as K8sObject & { roleRef: { name: string }; subjects: Subject[] };
      expect(binding.roleRef.name).toBe(role.metadata.name);
      expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: 'sentinel', namespace: one(r, 'ServiceAccount', 'sentinel').metadata.namespace }]);
      expect(permissions(role.rules as Rule[])).toContain('core/nodes/list');
      expect(permissions(role.rules as Rule[]).some((p) => p.startsWith(backend === 'cilium' ? 'cilium.io/' : 'projectcalico.org/'))).toBe(true);
      expect(r.render.yaml).not.toMatch(backend === 'cilium' ? /projectcalico/ : /cilium\.io/);
    }
    expect(minimal.render.yaml).not.toMatch(/sentinel-egress-/);
    expect(await refused({ ...MINIMAL, settings: { SENTINEL_EGRESS_BACKEND: 'iptables' } })).toMatch(/SENTINEL_EGRESS_BACKEND is "iptables": expected nacl, cilium or calico/);
  });

  it('binds the pod actions in exactly the namespaces listed, one RoleBinding each, and none by default', async () => {
    const bindings = byKind(full, 'RoleBinding') as (K8sObject & { roleRef: { kind: string; name: string } })[];
    expect(bindings.map((b) => b.metadata.namespace).sort()).toEqual(['dvwa', 'shop']);
    for (const b of bindings) expect(b.roleRef).toEqual({ apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'sentinel-workloads' });
    expect(byKind(minimal, 'RoleBinding')).toEqual([]);
    // drain-node's cluster-wide pod list can be left out.
    const noDrain = await renderChart({ ...MINIMAL, rbac: { drainNode: false } });
    expect(noDrain.yaml).not.toMatch(/sentinel-pods-read/);
    expect(noDrain.yaml).toMatch(/name: sentinel-nodes/);
  });

  it('refuses to bind sentinel in a system namespace, its own, or one SENTINEL_PROTECTED_NAMESPACES protects', async () => {
    for (const ns of SYSTEM_NAMESPACES) {
      expect(await refused({ ...MINIMAL, rbac: { workloadNamespaces: ['dvwa', ns] } })).toMatch(new RegExp(`${ns} is a system namespace`));
    }
    expect(await refused({ ...MINIMAL, rbac: { workloadNamespaces: ['sentinel'] } })).toMatch(/sentinel's own namespace/);
    expect(await refused({ ...MINIMAL, rbac: { workloadNamespaces: ['vault'] }, settings: { SENTINEL_PROTECTED_NAMESPACES: 'payments, vault' } })).toMatch(/vault is in settings\.SENTINEL_PROTECTED_NAMESPACES/);
    expect(await refused({ ...MINIMAL, rbac: { workloadNamespaces: ['Not_A_Namespace'] } })).toMatch(/workloadNamespaces/);
  });
});

describe('the Deployment', () => {
  it('runs the bot non-root on a read-only root file system, seccomp RuntimeDefault, no capabilities, with its data dir on a PersistentVolumeClaim', () => {
    for (const r of [minimal, full]) {
      const spec = deployment(r).spec.template.spec;
      expect(spec.serviceAccountName).toBe('sentinel');
      expect(spec.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
      expect(spec.securityContext.runAsUser).toBe(1000); // the image's node user
      expect(spec.containers).toHaveLength(1);
      const c = spec.containers[0]!;
      expect(c.args).toEqual(['start']);
      expect(c.securityContext).toMatchObject({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, privileged: false, capabilities: { drop: ['ALL'] } });
      const dataDir = c.env.find((e) => e.name === 'SENTINEL_DATA_DIR')!.value!;
      expect(dataDir).toMatch(/^\//);
      const mount = c.volumeMounts.find((m) => m.mountPath === dataDir);
      expect(mount, 'SENTINEL_DATA_DIR is mounted').toBeDefined();
      const volume = spec.volumes.find((v) => v.name === mount!.name);
      expect(volume?.emptyDir, 'not on an emptyDir: it would be lost with the pod').toBeUndefined();
      expect(volume?.persistentVolumeClaim?.claimName).toBe('sentinel-data');
      for (const e of c.env) expect(Object.keys(SETTINGS), `${e.name} is a sentinel setting`).toContain(e.name);
      expect(c.resources.requests?.cpu).toBeDefined();
      expect(c.resources.requests?.memory).toBeDefined();
      expect(c.resources.limits?.memory).toBeDefined();
      expect(spec.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(30);
    }
  });

  it('probes /healthz and /readyz on SENTINEL_HTTP_PORT, and serves the webhook on SENTINEL_WEBHOOK_PORT when it is enabled', () => {
    for (const r of [minimal, full]) {
      const c = container(r);
      const port = Number(envOf(r, 'SENTINEL_HTTP_PORT')!.value);
      const named = (p: string | number) => (typeof p === 'number' ? p : c.ports.find((x) => x.name === p)?.containerPort);
      expect(c.livenessProbe.httpGet.path).toBe('/healthz');
      expect(named(c.livenessProbe.httpGet.port)).toBe(port);
      expect(c.readinessProbe.httpGet.path).toBe('/readyz');
      expect(named(c.readinessProbe.httpGet.port)).toBe(port);
      for (const [k, v] of Object.entries(deployment(r).spec.selector.matchLabels)) expect(deployment(r).spec.template.metadata.labels[k]).toBe(v);
    }
    expect(container(minimal).ports.map((p) => p.containerPort)).toEqual([8080]);
    expect(container(full).ports).toEqual([
      { name: 'http', containerPort: Number(envOf(full, 'SENTINEL_HTTP_PORT')!.value), protocol: 'TCP' },
      { name: 'webhook', containerPort: Number(envOf(full, 'SENTINEL_WEBHOOK_PORT')!.value), protocol: 'TCP' },
    ]);
  });

  it('keeps approvals, incidents and the audit log across restarts: a ReadWriteOnce claim kept on uninstall, one replica, Recreate', async () => {
    const d = deployment(full);
    const claim = one<K8sObject & { spec: { accessModes: string[]; resources: { requests: { storage: string } }; storageClassName?: string } }>(full, 'PersistentVolumeClaim', 'sentinel-data');
    expect(claim.spec).toEqual({ accessModes: ['ReadWriteOnce'], storageClassName: 'gp3', resources: { requests: { storage: '5Gi' } } });
    expect(one(minimal, 'PersistentVolumeClaim', 'sentinel-data').spec).toEqual({ accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } });
    expect(claim.metadata.annotations?.['helm.sh/resource-policy']).toBe('keep');
    // ReadWriteOnce: one replica, the old pod gone before the new one starts.
    expect(d.spec.replicas).toBe(1);
    expect(d.spec.strategy).toEqual({ type: 'Recreate' });
    // An existing claim is used as it is.
    const existing = await renderChart({ ...MINIMAL, persistence: { existingClaim: 'sentinel-audit' } });
    expect(existing.yaml).not.toMatch(/kind: PersistentVolumeClaim/);
    expect(existing.yaml).toMatch(/claimName: sentinel-audit/);
  });

  it('refuses an ephemeral data dir unless asked for in so many words, and an S3 approval store without its bucket', async () => {
    expect(await refused({ ...MINIMAL, persistence: { enabled: false } })).toMatch(/emptyDir.*audit log.*allowEphemeral=true/s);
    const ephemeral = await renderChart({ ...MINIMAL, persistence: { enabled: false, allowEphemeral: true }, settings: { SENTINEL_APPROVAL_STORE: 's3', SENTINEL_EVIDENCE_BUCKET: 'sentinel-evidence' } });
    expect(ephemeral.ok, ephemeral.error).toBe(true);
    expect(ephemeral.yaml).toMatch(/- name: data\n\s+emptyDir: \{\}/);
    expect(await refused({ ...MINIMAL, settings: { SENTINEL_APPROVAL_STORE: 's3' } })).toMatch(/SENTINEL_EVIDENCE_BUCKET/);
  });

  it('restarts the bot when its settings change (a checksum of the ConfigMap on the pod)', async () => {
    const a = await renderAndValidate({ ...MINIMAL, settings: { SENTINEL_MODE: 'observe' } });
    const b = await renderAndValidate({ ...MINIMAL, settings: { SENTINEL_MODE: 'enforce' } });
    const sum = (r: Rendered) => deployment(r).spec.template.metadata.annotations['checksum/config'];
    expect(sum(a)).toMatch(/^[0-9a-f]{64}$/);
    expect(sum(a)).not.toBe(sum(b));
    expect(sum(a)).toBe(sum(await renderAndValidate({ ...MINIMAL, settings: { SENTINEL_MODE: 'observe' } })));
  });
});

describe('settings and secrets', () => {
  it('takes every other setting from the values, as strings in a ConfigMap the container reads', () => {
    const config = one<K8sObject & { data: Record<string, string> }>(full, 'ConfigMap', 'sentinel-config');
    expect(config.data).toMatchObject({ AWS_REGION: 'ap-northeast-2', SENTINEL_BLOCK_TTL_HOURS: '24', SENTINEL_ISOLATE_STOP_INSTANCE: 'false', SENTINEL_LOG_FORMAT: 'json' });
    for (const [k, v] of Object.entries(config.data)) {
      expect(Object.keys(SETTINGS), `${k} is a sentinel setting`).toContain(k);
      expect(typeof v).toBe('string');
    }
    expect(container(full).envFrom).toEqual([{ configMapRef: { name: 'sentinel-config' } }]);
    // The chart's own env comes after envFrom, so it wins; the settings cannot set those names.
    const fixed = container(full).env.map((e) => e.name);
    for (const k of Object.keys(config.data)) expect(fixed, k).not.toContain(k);
  });

  it('refuses a secret or a chart-managed name among the settings, and a name sentinel would not read', async () => {
    for (const name of ['DISCORD_TOKEN', 'SENTINEL_METRICS_TOKEN', 'SENTINEL_WEBHOOK_TOKEN', 'AWS_SECRET_ACCESS_KEY', 'AWS_ACCESS_KEY_ID', 'SENTINEL_DATA_DIR', 'SENTINEL_HTTP_PORT', 'SENTINEL_WEBHOOK_PORT']) {
      expect(await refused({ ...MINIMAL, settings: { [name]: 'x'.repeat(24) } }), name).toMatch(new RegExp(name));
    }
    expect(await refused({ ...MINIMAL, settings: { sentinel_mode: 'observe' } })).toMatch(/sentinel_mode/);
    // A number from a values file keeps its digits, or is refused when it cannot (a Discord id written unquoted).
    const numbers = await renderChart({ ...MINIMAL, settings: { SENTINEL_EXTRACT_MAX_BYTES: 104857600, SENTINEL_GUARDDUTY_MIN_SEVERITY: 7.5, SENTINEL_ISOLATE_STOP_INSTANCE: true } });
    expect(numbers.yaml).toMatch(/SENTINEL_EXTRACT_MAX_BYTES: "104857600"\n/);
    expect(numbers.yaml).toMatch(/SENTINEL_GUARDDUTY_MIN_SEVERITY: "7.5"\n/);
    expect(numbers.yaml).toMatch(/SENTINEL_ISOLATE_STOP_INSTANCE: "true"\n/);
    expect(await refused({ ...MINIMAL, settings: { DISCORD_GUILD_ID: 1.2345678901234568e17 } })).toMatch(/settings\.DISCORD_GUILD_ID: quote this value/);
    // A value key the chart does not know fails too (values.schema.json: no unknown keys anywhere).
    expect(await refused({ ...MINIMAL, persistance: { enabled: true } })).toMatch(/persistance/);
  });

  it('reads DISCORD_TOKEN, SENTINEL_METRICS_TOKEN and SENTINEL_WEBHOOK_TOKEN from existing Secrets: no token in the manifests', () => {
    expect(envOf(full, 'DISCORD_TOKEN')).toEqual({ name: 'DISCORD_TOKEN', valueFrom: { secretKeyRef: { name: 'sentinel-discord', key: 'DISCORD_TOKEN' } } });
    expect(envOf(full, 'SENTINEL_METRICS_TOKEN')).toEqual({ name: 'SENTINEL_METRICS_TOKEN', valueFrom: { secretKeyRef: { name: 'sentinel-metrics', key: 'token' } } });
    expect(envOf(full, 'SENTINEL_WEBHOOK_TOKEN')).toEqual({ name: 'SENTINEL_WEBHOOK_TOKEN', valueFrom: { secretKeyRef: { name: 'sentinel-webhook', key: 'token' } } });
    expect(byKind(full, 'Secret')).toEqual([]);
    // Without a metrics token /metrics stays loopback-only, and says so.
    expect(envOf(minimal, 'SENTINEL_METRICS_TOKEN')).toBeUndefined();
    expect(one(minimal, 'Service', 'sentinel-metrics').metadata.annotations?.['sentinel.io/metrics-auth']).toMatch(/loopback/);
  });

  it('or makes the Secrets from tokens given as values', async () => {
    const tokens = { discord: 'discord-token-0123456789abcdef', metrics: 'metrics-token-0123456789', webhook: 'webhook-token-0123456789' };
    const r = await renderAndValidate({
      image: { repository: REPO },
      discord: { token: tokens.discord },
      metrics: { token: tokens.metrics },
      webhook: { enabled: true, token: tokens.webhook },
    });
    const secrets = byKind(r, 'Secret') as (K8sObject & { data: Record<string, string> })[];
    const decoded = Object.fromEntries(secrets.map((s) => [s.metadata.name, Object.fromEntries(Object.entries(s.data).map(([k, v]) => [k, Buffer.from(v, 'base64').toString()]))]));
    expect(decoded).toEqual({ 'sentinel-discord': { DISCORD_TOKEN: tokens.discord }, 'sentinel-metrics': { token: tokens.metrics }, 'sentinel-webhook': { token: tokens.webhook } });
    expect(envOf(r, 'DISCORD_TOKEN')?.valueFrom?.secretKeyRef).toEqual({ name: 'sentinel-discord', key: 'DISCORD_TOKEN' });
    expect(envOf(r, 'SENTINEL_WEBHOOK_TOKEN')?.valueFrom?.secretKeyRef).toEqual({ name: 'sentinel-webhook', key: 'token' });
    // Only the Secrets hold them, nothing else.
    const elsewhere = JSON.stringify(r.items.filter((o) => o.kind !== 'Secret'));
    for (const t of Object.values(tokens)) expect(elsewhere).not.toContain(t);
  });

  it('refuses to run without the bot token, with two sources for one token, and a webhook without its token', async () => {
    expect(await refused({ image: { repository: REPO } })).toMatch(/bot token is required/);
    expect(await refused({ ...MINIMAL, discord: { existingSecret: 'a', token: 'discord-token-0123456789abcdef' } })).toMatch(/existingSecret or token, not both/);
    expect(await refused({ ...MINIMAL, webhook: { enabled: true } })).toMatch(/webhook needs its shared token/);
    expect(await refused({ ...MINIMAL, webhook: { enabled: true, token: 'short' } })).toMatch(/token/);
  });
});

describe('network and metrics', () => {
  it('exposes the metrics port through a Service that selects the bot', () => {
    for (const r of [minimal, full]) {
      const svc = one<Service>(r, 'Service', 'sentinel-metrics');
      const labels = deployment(r).spec.template.metadata.labels;
      expect(selects({ matchLabels: svc.spec.selector }, labels)).toBe(true);
      const target = svc.spec.ports[0]!.targetPort;
      expect(typeof target === 'number' ? target : container(r).ports.find((p) => p.name === target)?.containerPort).toBe(8080);
    }
    expect(one(full, 'Service', 'sentinel-metrics').metadata.annotations?.['sentinel.io/metrics-auth']).toMatch(/Authorization: Bearer .*key token of Secret sentinel-metrics/);
  });

  it('fences the bot: ingress only to its HTTP port from labelled namespaces; egress only DNS to kube-dns and HTTPS', () => {
    for (const r of [minimal, full]) {
      const policy = one<NetworkPolicy>(r, 'NetworkPolicy', 'sentinel-bot');
      const d = deployment(r);
      const httpPort = Number(envOf(r, 'SENTINEL_HTTP_PORT')!.value);
      expect(policy.metadata.namespace).toBe(d.metadata.namespace);
      expect(selects(policy.spec.podSelector, d.spec.template.metadata.labels)).toBe(true);
      expect(Object.keys(policy.spec.podSelector.matchLabels ?? {}).length, 'not an empty selector').toBeGreaterThan(0);
      expect([...policy.spec.policyTypes].sort()).toEqual(['Egress', 'Ingress']);
      expect(policy.spec.ingress).toEqual([{ from: [{ namespaceSelector: { matchLabels: { 'sentinel.io/scrape-metrics': 'true' } } }], ports: [{ protocol: 'TCP', port: httpPort }] }]);
      const egress = policy.spec.egress ?? [];
      expect(egress).toHaveLength(2);
      const dns = egress.find((e) => e.ports?.some((p) => p.port === 53));
      expect(dns?.to).toEqual([{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } }, podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } } }]);
      expect(dns?.ports).toEqual([
        { protocol: 'UDP', port: 53 },
        { protocol: 'TCP', port: 53 },
      ]);
      const https = egress.find((e) => e !== dns);
      expect(https?.ports).toEqual([{ protocol: 'TCP', port: 443 }]);
      expect(https?.to).toEqual([{ ipBlock: { cidr: '0.0.0.0/0' } }, { ipBlock: { cidr: '::/0' } }]);
      for (const rule of egress) expect(rule.ports?.length, 'each egress rule names its ports').toBeGreaterThan(0);
      expect(JSON.stringify(policy)).not.toMatch(/endPort/);
    }
  });

  it('admits only Falcosidekick\'s pods to the webhook port, through a Service of its own', () => {
    const svc = one<Service>(full, 'Service', 'sentinel-webhook');
    expect(selects({ matchLabels: svc.spec.selector }, deployment(full).spec.template.metadata.labels)).toBe(true);
    expect(svc.spec.ports).toEqual([{ name: 'webhook', port: 8081, targetPort: 'webhook', protocol: 'TCP' }]);
    const policy = one<NetworkPolicy>(full, 'NetworkPolicy', 'sentinel-webhook');
    expect(selects(policy.spec.podSelector, deployment(full).spec.template.metadata.labels)).toBe(true);
    expect(policy.spec.policyTypes).toEqual(['Ingress']);
    expect(policy.spec.ingress).toHaveLength(1);
    const rule = policy.spec.ingress![0]!;
    expect(rule.ports).toEqual([{ protocol: 'TCP', port: 8081 }]);
    const admitted = (pod: { namespace: string; labels: Record<string, string> }) => rule.from!.some((peer) => peerAdmits(peer, 'sentinel', pod));
    expect(admitted({ namespace: 'falco', labels: CHART_PODS.falcosidekick })).toBe(true);
    for (const pod of [
      { namespace: 'falco', labels: CHART_PODS.falco },
      { namespace: 'falco', labels: CHART_PODS.falcosidekickUi },
      { namespace: 'falco', labels: CHART_PODS.other },
      { namespace: 'dvwa', labels: CHART_PODS.falcosidekick }, // Falcosidekick's labels in another namespace
      { namespace: 'sentinel', labels: {} },
    ]) {
      expect(admitted(pod), JSON.stringify(pod)).toBe(false);
    }
    // Without the webhook there is neither Service nor policy for it.
    expect(byKind(minimal, 'Service').map((s) => s.metadata.name)).toEqual(['sentinel-metrics']);
    expect(byKind(minimal, 'NetworkPolicy').map((s) => s.metadata.name).sort()).toEqual(['sentinel-bot', 'sentinel-falcosidekick-from-falco']);
  });

  it('lets only Falco\'s pods reach Falcosidekick, on 2801, and follows the Falco release\'s name', async () => {
    const policy = one<NetworkPolicy>(minimal, 'NetworkPolicy', 'sentinel-falcosidekick-from-falco');
    expect(policy).toMatchObject({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { namespace: 'falco' } });
    expect(selects(policy.spec.podSelector, CHART_PODS.falcosidekick)).toBe(true);
    expect(selects(policy.spec.podSelector, CHART_PODS.falco)).toBe(false);
    expect(selects(policy.spec.podSelector, CHART_PODS.falcosidekickUi)).toBe(false);
    expect(policy.spec.policyTypes).toEqual(['Ingress']);
    expect(policy.spec.ingress).toHaveLength(1);
    const rule = policy.spec.ingress![0]!;
    expect(rule.ports).toEqual([{ protocol: 'TCP', port: 2801 }]);
    expect(rule.from).toHaveLength(1);
    const peer = rule.from![0]!;
    expect(Object.keys(peer)).toEqual(['podSelector']);
    expect(selects(peer.podSelector!, CHART_PODS.falco)).toBe(true);
    for (const other of [CHART_PODS.falcosidekick, CHART_PODS.falcosidekickUi, CHART_PODS.other, {}]) expect(selects(peer.podSelector!, other), JSON.stringify(other)).toBe(false);

    const renamed = await renderAndValidate({ ...MINIMAL, falco: { namespace: 'security', release: 'falco-prod' }, webhook: { enabled: true, existingSecret: 'w' } });
    const fence = one<NetworkPolicy>(renamed, 'NetworkPolicy', 'sentinel-falcosidekick-from-falco');
    expect(fence.metadata.namespace).toBe('security');
    expect(selects(fence.spec.podSelector, { ...CHART_PODS.falcosidekick, 'app.kubernetes.io/instance': 'falco-prod' })).toBe(true);
    expect(selects(fence.spec.podSelector, CHART_PODS.falcosidekick)).toBe(false);
    const webhookRule = one<NetworkPolicy>(renamed, 'NetworkPolicy', 'sentinel-webhook').spec.ingress![0]!;
    expect(webhookRule.from!.some((p) => peerAdmits(p, 'sentinel', { namespace: 'security', labels: { ...CHART_PODS.falcosidekick, 'app.kubernetes.io/instance': 'falco-prod' } }))).toBe(true);
    // The fence can be left out (Falco managed elsewhere).
    expect((await renderChart({ ...MINIMAL, falco: { fenceFalcosidekick: false } })).yaml).not.toMatch(/falcosidekick-from-falco/);
  });

  it('offers a ServiceMonitor (off by default) that scrapes only the metrics Service with the metrics token', async () => {
    expect(byKind(minimal, 'ServiceMonitor')).toEqual([]);
    const monitor = one<K8sObject & { spec: { namespaceSelector: { matchNames: string[] }; selector: LabelSelector; endpoints: Record<string, unknown>[] } }>(full, 'ServiceMonitor', 'sentinel');
    expect(monitor.apiVersion).toBe('monitoring.coreos.com/v1');
    expect(monitor.metadata.labels?.release).toBe('prometheus');
    expect(monitor.spec.namespaceSelector).toEqual({ matchNames: ['sentinel'] });
    const services = byKind(full, 'Service') as Service[];
    expect(services.filter((s) => selects(monitor.spec.selector, s.metadata.labels ?? {})).map((s) => s.metadata.name)).toEqual(['sentinel-metrics']);
    expect(monitor.spec.endpoints).toEqual([
      { port: 'http-metrics', path: '/metrics', scheme: 'http', interval: '30s', scrapeTimeout: '10s', authorization: { type: 'Bearer', credentials: { name: 'sentinel-metrics', key: 'token' } } },
    ]);
    expect(one<Service>(full, 'Service', 'sentinel-metrics').spec.ports.map((p) => p.name)).toContain('http-metrics');
    expect(await refused({ ...MINIMAL, metrics: { serviceMonitor: { enabled: true } } })).toMatch(/needs the metrics token/);
  });

  it('makes voluntary evictions of the bot wait for a person, never for an unhealthy pod', () => {
    for (const r of [minimal, full]) {
      const pdb = one<K8sObject & { spec: { minAvailable: number; unhealthyPodEvictionPolicy: string; selector: LabelSelector } }>(r, 'PodDisruptionBudget', 'sentinel');
      expect(pdb.apiVersion).toBe('policy/v1');
      expect(selects(pdb.spec.selector, deployment(r).spec.template.metadata.labels)).toBe(true);
      expect(pdb.spec.minAvailable).toBe(deployment(r).spec.replicas);
      expect(pdb.spec.unhealthyPodEvictionPolicy).toBe('AlwaysAllow');
    }
  });

  it('creates the namespace with the restricted Pod Security Standard when asked, and keeps it on uninstall', () => {
    expect(byKind(minimal, 'Namespace')).toEqual([]);
    const ns = one(full, 'Namespace', 'sentinel');
    expect(ns.metadata.labels).toMatchObject({ 'pod-security.kubernetes.io/enforce': 'restricted', 'pod-security.kubernetes.io/audit': 'restricted', 'pod-security.kubernetes.io/warn': 'restricted' });
    expect(ns.metadata.annotations?.['helm.sh/resource-policy']).toBe('keep');
  });
});

describe('docs/deploy.md', () => {
  const guide = readFileSync(new URL('../../docs/deploy.md', import.meta.url), 'utf8');

  it('installs with the chart: its helm commands render and validate as written (its values file, placeholders filled in)', async () => {
    // Each `helm upgrade --install sentinel deploy/helm/sentinel …` with its continuation lines.
    const lines = guide.split('\n');
    const commands: string[] = [];
    lines.forEach((line, i) => {
      if (!line.startsWith('helm upgrade --install sentinel deploy/helm/sentinel')) return;
      const parts = [line];
      for (let j = i; lines[j]!.endsWith('\\'); j++) parts.push(lines[j + 1]!);
      commands.push(parts.map((p) => p.replace(/\\$/, '')).join(' '));
    });
    expect(commands.length, 'the guide installs the chart').toBeGreaterThanOrEqual(1);
    // The values file the guide writes out.
    const valuesBlock = /This is `sentinel-values\.yaml`:\n\n```yaml\n([\s\S]*?)```/.exec(guide);
    expect(valuesBlock, 'the guide shows sentinel-values.yaml').not.toBeNull();
    const dir = mkdtempSync(join(tmpdir(), 'sentinel-guide-'));
    try {
      const valuesFile = join(dir, 'sentinel-values.yaml');
      writeFileSync(valuesFile, valuesBlock![1]!);
      let previous: string[] = [];
      for (const command of commands) {
        const words = command.split(/\s+/).filter(Boolean).slice(5);
        const args: string[] = [];
        let reuse = false;
        for (let i = 0; i < words.length; i++) {
          const w = words[i]!;
          if (w === '--set' || w === '--set-string') {
            args.push(w, words[++i]!.replace(/["']/g, '').replace(/\$\{?BOT_ROLE_ARN\}?/g, ROLE_ARN).replace(/\$\{?IMAGE_REPOSITORY\}?/g, REPO));
          } else if (w === '-f' || w === '--values') {
            expect(words[++i]).toBe('sentinel-values.yaml');
            args.push('--values', valuesFile);
          } else if (w === '-n' || w === '--namespace') {
            expect(words[++i]).toBe('sentinel');
          } else if (w === '--reuse-values') {
            reuse = true;
          } else {
            throw new Error(`the guide's helm command has ${w}, which this test does not know: ${command}`);
          }
        }
        expect(args.join(' '), 'every placeholder is filled in').not.toMatch(/\$/);
        const effective = reuse ? [...previous, ...args] : args;
        const out = await renderChart({}, { args: effective });
        expect(out.ok, `${command}\n${out.error}`).toBe(true);
        const report = await validateManifests(out.yaml, KUBERNETES_VERSIONS);
        expect(report.results.filter((x) => x.status !== 'passed')).toEqual([]);
        previous = effective;
      }
      expect(previous.join(' ')).toMatch(/webhook\.enabled=true/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('creates the Secrets the chart reads, with the keys it reads, and labels the Prometheus namespace', () => {
    expect(guide).toMatch(/kubectl -n sentinel create secret generic sentinel-discord --from-literal=DISCORD_TOKEN=/);
    expect(guide).toMatch(/kubectl -n sentinel create secret generic sentinel-metrics --from-literal=token=/);
    expect(guide).toMatch(/kubectl -n sentinel create secret generic sentinel-webhook --from-literal=token=/);
    expect(guide).toMatch(/kubectl label namespace \S+ sentinel\.io\/scrape-metrics=true/);
    expect(guide).toContain('deploy/helm/sentinel');
    expect(guide).not.toMatch(/deploy\/kubernetes\//);
  });
});
