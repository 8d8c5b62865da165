/**
 * deploy/kubernetes/sentinel.json (a kubectl List): well-formed objects, RBAC exactly as
 * docs/permissions/*.md asks, and a Deployment that matches what the bot serves and reads.
 */
import { readdirSync, readFileSync } from 'node:fs';
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

const list = JSON.parse(readFileSync(new URL('../../deploy/kubernetes/sentinel.json', import.meta.url), 'utf8')) as { apiVersion: string; kind: string; items: K8sObject[] };
const items = list.items;
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
};

const deployment = () => one('Deployment', 'sentinel') as K8sObject & { spec: DeploymentSpec };
interface Container {
  name: string;
  image: string;
  args?: string[];
  ports: { name: string; containerPort: number }[];
  env: { name: string; value: string }[];
  envFrom: ({ configMapRef: { name: string } } | { secretRef: { name: string } })[];
  volumeMounts: { name: string; mountPath: string }[];
  resources: { requests?: Record<string, string>; limits?: Record<string, string> };
  livenessProbe: { httpGet: { path: string; port: string | number } };
  readinessProbe: { httpGet: { path: string; port: string | number } };
  securityContext: { allowPrivilegeEscalation: boolean; readOnlyRootFilesystem: boolean; capabilities: { drop: string[] } };
}
interface DeploymentSpec {
  replicas: number;
  selector: { matchLabels: Record<string, string> };
  template: {
    metadata: { labels: Record<string, string> };
    spec: {
      serviceAccountName: string;
      terminationGracePeriodSeconds: number;
      securityContext: { runAsNonRoot: boolean; runAsUser: number };
      containers: Container[];
      volumes: { name: string; emptyDir?: object }[];
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
        'core/pods/exec/create',
        'core/pods/exec/get',
        'networking.k8s.io/networkpolicies/create',
        'networking.k8s.io/networkpolicies/delete',
        'networking.k8s.io/networkpolicies/get',
        'networking.k8s.io/networkpolicies/patch',
        'core/nodes/get',
        'core/nodes/patch',
      ].sort(),
    );
    // Namespaced powers (exec, patch, network policies) are only ever bound per namespace;
    // a ClusterRoleBinding only carries nodes (cluster-scoped).
    for (const b of byKind('ClusterRoleBinding') as (K8sObject & { roleRef: { name: string } })[]) {
      const role = roles.find((r) => r.metadata.name === b.roleRef.name)!;
      expect(permissions(role.rules as Rule[]).every((p) => p.startsWith('core/nodes/')), b.metadata.name).toBe(true);
    }
  });

  it('runs the bot non-root on a read-only root file system, with its data dir on an emptyDir', () => {
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
    expect(spec.volumes.find((v) => v.name === mount!.name)?.emptyDir).toBeDefined();
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

  it('exposes the metrics port through a Service that selects the bot', () => {
    const svc = one('Service', 'sentinel-metrics') as K8sObject & { spec: { selector: Record<string, string>; ports: { port: number; targetPort: string | number }[] } };
    const d = deployment();
    const labels = d.spec.template.metadata.labels;
    for (const [k, v] of Object.entries(svc.spec.selector)) expect(labels[k], k).toBe(v);
    const c = d.spec.template.spec.containers[0]!;
    const target = svc.spec.ports[0]!.targetPort;
    expect(typeof target === 'number' ? target : c.ports.find((p) => p.name === target)?.containerPort).toBe(8080);
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
  });
});
