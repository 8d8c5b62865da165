/**
 * GuardDuty for EKS: Runtime Monitoring and EKS audit log findings (samples written from AWS's
 * documented finding format: kubernetesDetails, eksClusterDetails, runtimeDetails.process,
 * service.action) are triaged to the pod playbook with the cluster, namespace, pod, container,
 * process and remote address read faithfully; the severity threshold stays numeric.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadPlaybookConfig, parsePlaybookConfig } from '../../../src/pipeline/triage/playbookConfig.js';
import { triageEvent } from '../../../src/pipeline/triage/triageEvent.js';
import type { TriageResult } from '../../../src/pipeline/triage/types.js';

const config = loadPlaybookConfig();
const EKS = new URL('../../fixtures/guardduty-eks/', import.meta.url);
const sample = (name: string) => JSON.parse(readFileSync(new URL(name, EKS), 'utf8')) as { detail: Record<string, unknown> } & Record<string, unknown>;

function ok(event: unknown, cfg = config): TriageResult {
  const outcome = triageEvent(event, cfg);
  if (!outcome.ok) throw new Error(`expected a result, got error: ${outcome.error}`);
  return outcome.result;
}

/** GetFindings' form of a finding: every key's first letter upper-cased. */
function pascalCase(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(pascalCase);
  if (!v || typeof v !== 'object') return v;
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [k.charAt(0).toUpperCase() + k.slice(1), pascalCase(x)]));
}

describe('GuardDuty EKS Runtime Monitoring findings', () => {
  it('a reverse shell in a pod takes the pod playbook: isolate the pod, the executable to evidence and quarantine, block the remote end, ask before the node', () => {
    const r = ok(sample('runtime-reverse-shell.json'));
    expect(r.route).toBe('contain-pod');
    expect(r.rule).toBe('Execution:Runtime/ReverseShell');
    expect(r.severity).toBe('high');
    expect(r.target).toEqual({
      namespace: 'shop',
      pod: 'web-7d9f8c6b5-k2x8p',
      container: 'web',
      instanceId: 'i-0a1b2c3d4e5f60718',
      node: 'ip-10-0-12-34.ap-northeast-2.compute.internal',
    });
    expect(r.ioc).toEqual({ ip: '198.51.100.77', port: 4444 });
    expect(r.artifact).toEqual({ path: '/tmp/.font-unix/kthreadd' });
    expect(r.custom).toEqual({ cluster: 'prod-eks' });
    expect(r.context).toMatchObject({
      cluster: 'prod-eks',
      proc: '/tmp/.font-unix/kthreadd',
      parent: '/usr/bin/dash',
      pid: '31207',
      user: 'www-data',
      exeSha256: '7d8e9f0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6',
      image: '111122223333.dkr.ecr.ap-northeast-2.amazonaws.com/shop/web:2026.11.3',
      feature: 'RuntimeMonitoring',
    });
    expect(r.steps).toEqual(['isolate-pod', 'extract-file', 'quarantine-file', 'deny-egress', 'request-approval', 'on-block:isolate-node', 'record-incident', 'report']);
    expect(r.warnings).toEqual([]);
  });

  it('reads the same finding from GetFindings output (PascalCase) to the same result', () => {
    const event = sample('runtime-reverse-shell.json');
    const viaApi = ok(pascalCase(event.detail));
    const viaEventBridge = ok(event);
    expect({ ...viaApi, time: undefined }).toEqual({ ...viaEventBridge, time: undefined });
  });

  it('a workload that is not a pod (a Deployment) names no pod: nothing of the pod is acted on, and triage says why', () => {
    const event = sample('runtime-reverse-shell.json');
    const workload = (event.detail.resource as { kubernetesDetails: { kubernetesWorkloadDetails: Record<string, unknown> } }).kubernetesDetails.kubernetesWorkloadDetails;
    Object.assign(workload, { type: 'deployments', name: 'web' });
    const r = ok(event);
    // The default config routes only findings in a pod to contain-pod; this one is the EC2 node's.
    expect(r.route).not.toBe('contain-pod');
    expect(r.target.pod).toBeUndefined();
    expect(r.artifact).toBeUndefined();
    expect(r.warnings).toContain('the finding names a workload of type deployments, not a pod: pod actions need the pod');
  });

  it('an executable path that is not absolute, and a container name that is not a Kubernetes name, are not used', () => {
    const event = sample('runtime-reverse-shell.json');
    const detail = event.detail as { service: { runtimeDetails: { process: Record<string, unknown> } }; resource: { kubernetesDetails: { kubernetesWorkloadDetails: { containers: Record<string, unknown>[] } } } };
    detail.service.runtimeDetails.process.executablePath = 'kthreadd';
    detail.resource.kubernetesDetails.kubernetesWorkloadDetails.containers[0]!.name = 'Web Server';
    const r = ok(event);
    expect(r.route).toBe('contain-pod');
    expect(r.artifact).toBeUndefined();
    expect(r.target.container).toBeUndefined();
    expect(r.steps).toEqual(['isolate-pod', 'deny-egress', 'request-approval', 'on-block:isolate-node', 'record-incident', 'report']);
  });
});

describe('GuardDuty EKS audit log findings', () => {
  it('a privileged container launched in a pod takes the pod playbook; the API caller is context, not an address to block', () => {
    const r = ok(sample('audit-privileged-container.json'));
    expect(r.route).toBe('contain-pod');
    expect(r.target).toEqual({ namespace: 'shop', pod: 'node-debugger-9xk2m', container: 'debug' });
    expect(r.ioc).toBeUndefined();
    expect(r.artifact).toBeUndefined();
    expect(r.context).toMatchObject({
      cluster: 'prod-eks',
      user: 'arn:aws:iam::111122223333:role/ci-deployer',
      callerIp: '198.51.100.90',
      apiCall: 'create /api/v1/namespaces/shop/pods',
      image: 'docker.io/library/alpine:3.20',
      feature: 'EksAuditLogMonitoring',
    });
    // No node in an audit finding: the playbook asks about the pod's node once isolate-pod has read it.
    expect(r.steps).toEqual(['isolate-pod', 'request-approval', 'on-block:isolate-node', 'record-incident', 'report']);
  });

  it('the severity threshold stays numeric: a medium finding (5) is ignored by default and takes the pod playbook once the threshold is 5', () => {
    const event = sample('audit-exec-in-kube-system.json');
    const byDefault = ok(event);
    expect(byDefault.route).toBe('ignore');
    expect(byDefault.steps).toEqual([]);
    const five = parsePlaybookConfig({ falco: {}, guardduty: { severityThreshold: 5, rules: [{ match: { pod: true }, route: 'contain-pod' }] } }, 'test');
    const r = ok(event, five);
    expect(r.route).toBe('contain-pod');
    expect(r.severity).toBe('medium');
    // Two containers and none named by the finding: no container is guessed.
    expect(r.target).toEqual({ namespace: 'kube-system', pod: 'aws-node-8x2lq' });
    expect(r.context).toMatchObject({ callerIp: '10.0.40.17', user: 'arn:aws:iam::111122223333:user/jdoe' });
    expect(r.context.apiCall).toContain('/pods/aws-node-8x2lq/exec');
  });

  it('a rule can route on the pod condition either way, and --explain says what it checked', () => {
    const cfg = parsePlaybookConfig(
      { falco: {}, guardduty: { rules: [{ name: 'no pod', match: { pod: false }, route: 'notify' }, { name: 'in a pod', match: { typePrefix: ['PrivilegeEscalation:Kubernetes/'], pod: true }, route: 'contain-pod' }] } },
      'test',
    );
    const outcome = triageEvent(sample('audit-privileged-container.json'), cfg, { explain: true });
    expect(outcome.ok && outcome.result.route).toBe('contain-pod');
    const rules = outcome.explanation!.rules;
    expect(rules[0]!.checks).toEqual([{ condition: 'names no pod', ok: false, value: '"shop/node-debugger-9xk2m"' }]);
    expect(rules[1]!.checks).toContainEqual({ condition: 'names a pod', ok: true, value: '"shop/node-debugger-9xk2m"' });
    expect(() => parsePlaybookConfig({ falco: {}, guardduty: { rules: [{ match: { pod: 'yes' }, route: 'contain-pod' }] } }, 'test')).toThrow(/pod/);
  });

  it('any one field of the samples replaced by another type is triaged or refused with a reason, never an internal error', () => {
    const paths = (v: unknown, at: (string | number)[] = []): (string | number)[][] =>
      v && typeof v === 'object' ? [at, ...Object.entries(v).flatMap(([k, x]) => paths(x, [...at, Array.isArray(v) ? Number(k) : k]))] : [at];
    let tried = 0;
    for (const name of ['runtime-reverse-shell.json', 'audit-privileged-container.json', 'audit-exec-in-kube-system.json']) {
      for (const path of paths(sample(name)).filter((p) => p.length > 0)) {
        for (const replacement of [null, 7, 'x', [], {}, '/', '../../etc/passwd']) {
          const event = sample(name) as Record<string | number, unknown>;
          let parent: Record<string | number, unknown> = event;
          for (const k of path.slice(0, -1)) parent = parent[k] as Record<string | number, unknown>;
          parent[path.at(-1)!] = replacement;
          const outcome = triageEvent(event, config);
          tried++;
          if (!outcome.ok) expect(outcome.error, `${name} ${path.join('.')}`).not.toMatch(/internal error/);
          else expect(outcome.result.artifact?.path ?? '/', `${name} ${path.join('.')}`).toMatch(/^\//);
        }
      }
    }
    expect(tried).toBeGreaterThan(500);
  });

  it('findings without a Kubernetes workload keep their EC2 route and their IoC as before', () => {
    const ec2 = ok(JSON.parse(readFileSync(new URL('../../fixtures/events/guardduty-ec2-reverse-shell.json', import.meta.url), 'utf8')));
    expect(ec2.route).toBe('forensics');
    expect(ec2.ioc).toEqual({ ip: '203.0.113.45', port: 4444 });
    expect(ec2.custom).toBeUndefined();
  });
});
