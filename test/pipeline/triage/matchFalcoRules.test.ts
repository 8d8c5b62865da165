/**
 * Playbook rules as expressive as Falco Talon's: conditions on any output_fields key and on
 * Falcosidekick's custom fields (=, !=, in, prefix, exists), rule, tags, priority and source;
 * per-rule dryRun; continue. Rules match only what Falco says in structure, never free text.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { defaultPlaybookConfigPath, loadPlaybookConfig, parsePlaybookConfig, type PlaybookConfig } from '../../../src/pipeline/triage/playbookConfig.js';
import { triageEvent, triageLine } from '../../../src/pipeline/triage/triageEvent.js';
import type { TriageResult } from '../../../src/pipeline/triage/types.js';
import { falcoJson, fluentBitLine, kv } from '../../helpers/events.js';

function config(rules: unknown[], falco: Record<string, unknown> = {}): PlaybookConfig {
  return parsePlaybookConfig({ falco: { rules, ...falco }, guardduty: {} }, 'inline');
}

function ok(outcome: ReturnType<typeof triageEvent>): TriageResult {
  if (!outcome.ok) throw new Error(outcome.error);
  return outcome.result;
}

const SHELL = 'Terminal shell in container';
const shell = (fields: Record<string, unknown> = {}, over: Partial<Parameters<typeof falcoJson>[0]> = {}) =>
  falcoJson({
    rule: SHELL,
    output: 'A shell was spawned in a container with an attached terminal | user=root process=bash command=bash',
    priority: 'Notice',
    fields: { 'k8s.ns.name': 'shop', 'k8s.pod.name': 'api-1', 'container.image.repository': 'ghcr.io/acme/api', 'proc.cmdline': 'bash', ...fields },
    tags: ['container', 'shell', 'mitre_execution'],
    ...over,
  });

const routeOf = (c: PlaybookConfig, event: unknown) => ok(triageEvent(event, c)).route;

describe('field conditions', () => {
  const on = (fields: Record<string, unknown>) => config([{ match: { rule: [SHELL], fields }, route: 'isolate-node' }]);

  it('= and a bare value', () => {
    expect(routeOf(on({ 'k8s.ns.name': 'shop' }), shell())).toBe('isolate-node');
    expect(routeOf(on({ 'k8s.ns.name': { '=': 'shop' } }), shell())).toBe('isolate-node');
    expect(routeOf(on({ 'k8s.ns.name': 'Shop' }), shell())).toBe('record');
  });

  it('!= (one value or none of a list): a field the event lacks satisfies it', () => {
    expect(routeOf(on({ 'k8s.ns.name': { '!=': 'kube-system' } }), shell())).toBe('isolate-node');
    expect(routeOf(on({ 'k8s.ns.name': { '!=': ['kube-system', 'shop'] } }), shell())).toBe('record');
    expect(routeOf(on({ 'k8s.ns.name': { '!=': 'kube-system' } }), shell({ 'k8s.ns.name': null }))).toBe('isolate-node');
  });

  it('in', () => {
    expect(routeOf(on({ 'k8s.ns.name': { in: ['payments', 'shop'] } }), shell())).toBe('isolate-node');
    expect(routeOf(on({ 'k8s.ns.name': { in: ['payments'] } }), shell())).toBe('record');
  });

  it('prefix (one or any of a list)', () => {
    expect(routeOf(on({ 'container.image.repository': { prefix: 'ghcr.io/acme/' } }), shell())).toBe('isolate-node');
    expect(routeOf(on({ 'container.image.repository': { prefix: ['docker.io/', 'ghcr.io/'] } }), shell())).toBe('isolate-node');
    expect(routeOf(on({ 'container.image.repository': { prefix: 'docker.io/' } }), shell())).toBe('record');
  });

  it('exists and does not exist: null, "" and <NA> count as absent', () => {
    expect(routeOf(on({ 'k8s.pod.name': { exists: true } }), shell())).toBe('isolate-node');
    for (const none of [null, '', '<NA>']) {
      expect(routeOf(on({ 'k8s.pod.name': { exists: true } }), shell({ 'k8s.pod.name': none }))).toBe('record');
      expect(routeOf(on({ 'k8s.pod.name': { exists: false } }), shell({ 'k8s.pod.name': none }))).toBe('isolate-node');
    }
  });

  it('numbers and booleans in output_fields compare as their text', () => {
    expect(routeOf(on({ 'proc.tty': 34816, 'fd.rport': { in: [4444, 9001] }, 'evt.is_open_write': true }), shell({ 'proc.tty': 34816, 'fd.rport': 4444, 'evt.is_open_write': true }))).toBe('isolate-node');
  });

  it('several conditions on one field must all hold, and so must all fields', () => {
    const both = on({ 'k8s.ns.name': [{ '!=': 'kube-system' }, { prefix: 'sh' }], 'k8s.pod.name': { prefix: 'api-' } });
    expect(routeOf(both, shell())).toBe('isolate-node');
    expect(routeOf(both, shell({ 'k8s.pod.name': 'web-1' }))).toBe('record');
  });

  it("Falcosidekick's custom fields (merged into output_fields) are matched, and kept on the result", () => {
    const c = on({ cluster: 'prod-eks', environment: { in: ['prod'] } });
    const r = ok(triageEvent(shell({ cluster: 'prod-eks', environment: 'prod' }), c));
    expect(r.route).toBe('isolate-node');
    expect(r.custom).toEqual({ cluster: 'prod-eks', environment: 'prod' });
    expect(routeOf(c, shell({ cluster: 'staging-eks', environment: 'prod' }))).toBe('record');
  });

  it('a value that is a list or an object satisfies no condition', () => {
    expect(routeOf(on({ 'k8s.ns.name': { '!=': 'x' } }), shell({ 'k8s.ns.name': ['a'] }))).toBe('record');
  });
});

describe('rule, tags, priority and source', () => {
  it('priority with an operator, and minPriority', () => {
    const c = config([
      { name: 'critical', match: { priority: '>=critical' }, route: 'isolate-node' },
      { name: 'exactly notice', match: { priority: 'notice', tags: ['shell'] }, route: 'approval' },
      { name: 'not warning', match: { priority: '!=warning', minPriority: 'error' }, route: 'block-egress' },
    ]);
    expect(routeOf(c, shell({}, { priority: 'Critical' }))).toBe('isolate-node');
    expect(routeOf(c, shell({}, { priority: 'Notice' }))).toBe('approval');
    expect(routeOf(c, shell({}, { priority: 'Error' }))).toBe('block-egress');
    expect(routeOf(c, shell({}, { priority: 'Warning' }))).toBe('record');
  });

  it('source, with Falcosidekick\'s "syscalls" read as Falco\'s "syscall"', () => {
    const c = config([{ match: { source: ['k8s_audit'] }, route: 'approval' }, { match: { source: ['syscall'] }, route: 'isolate-node' }]);
    expect(routeOf(c, { ...shell(), source: 'k8s_audit' })).toBe('approval');
    expect(routeOf(c, { ...shell(), source: 'syscalls' })).toBe('isolate-node');
    expect(routeOf(c, { ...shell(), source: undefined })).toBe('record');
  });

  it('a rule naming the event goes before one matched by the output\'s first word, whatever their order', () => {
    const c = config([
      { name: 'by tag', match: { tag: ['ARTIFACT_WEBSHELL'] }, route: 'isolate-node' },
      { name: 'by fields only', match: { fields: { 'k8s.ns.name': 'shop' } }, route: 'block-egress' },
      { name: 'by name', match: { rule: ['x'] }, route: 'approval' },
    ]);
    // The rule named "x" writes attacker text first: its first word must not pick the route.
    expect(routeOf(c, falcoJson({ rule: 'x', output: 'ARTIFACT_WEBSHELL whatever', priority: 'Notice', fields: { 'k8s.ns.name': 'dev' } }))).toBe('approval');
    // Rules that match on fields keep their place in the config.
    expect(routeOf(c, falcoJson({ rule: 'x', output: 'ARTIFACT_WEBSHELL whatever', priority: 'Notice', fields: { 'k8s.ns.name': 'shop' } }))).toBe('block-egress');
    // Without a rule naming it, the tag decides.
    expect(routeOf(c, falcoJson({ rule: 'y', output: 'ARTIFACT_WEBSHELL whatever', priority: 'Notice' }))).toBe('isolate-node');
  });
});

describe('dryRun and continue', () => {
  it('a rule with dryRun (or observe) makes its plan a dry run', () => {
    for (const flag of [{ dryRun: true }, { observe: true }]) {
      expect(ok(triageEvent(shell(), config([{ match: { rule: [SHELL] }, route: 'approval', ...flag }]))).observe).toBe(true);
    }
    expect(ok(triageEvent(shell(), config([{ match: { rule: [SHELL] }, route: 'approval', dryRun: false }]))).observe).toBeUndefined();
  });

  it('a modifier rule that continues: it adds dryRun, the next match decides the route', () => {
    const c = config([
      { name: 'canary is observed', match: { fields: { 'k8s.ns.name': 'canary' } }, dryRun: true, continue: true },
      { name: 'shells', match: { rule: [SHELL] }, route: 'approval' },
    ]);
    expect(ok(triageEvent(shell({ 'k8s.ns.name': 'canary' }), c))).toMatchObject({ route: 'approval', observe: true });
    expect(ok(triageEvent(shell(), c)).observe).toBeUndefined();
  });

  it('continue stops at the first rule that does not continue; later matches are not reached', () => {
    const c = config([
      { name: 'a', match: { rule: [SHELL] }, route: 'approval', continue: true },
      { name: 'b', match: { tags: ['shell'] }, route: 'approval' },
      { name: 'c', match: { tags: ['container'] }, route: 'isolate-node', dryRun: true },
    ]);
    const out = triageEvent(shell(), c, { explain: true });
    expect(out).toMatchObject({ ok: true, result: { route: 'approval', warnings: [] } });
    expect(out.ok && out.result.observe).toBeUndefined();
    expect(out.explanation!.rules.map((r) => r.outcome)).toEqual(['decides the route', 'joins the plan', 'matched, not reached']);
  });

  it('two matched rules with one route run it once; another route is not run and says so', () => {
    const c = config([
      { name: 'label it', match: { rule: [SHELL] }, route: 'approval', continue: true },
      { name: 'same again', match: { tags: ['shell'] }, route: 'approval', continue: true },
      { name: 'isolate too', match: { tags: ['container'] }, route: 'isolate-node' },
    ]);
    const r = ok(triageEvent(shell(), c));
    expect(r.route).toBe('approval');
    expect(r.steps).toEqual(['request-approval', 'on-block:isolate-node', 'record-incident', 'report']);
    expect(new Set(r.steps).size).toBe(r.steps.length);
    expect(r.warnings).toEqual(['rule 3 "isolate too" also matched (route isolate-node), not run: an incident runs one route, that of rule 1 "label it" (approval)']);
  });

  it('modifier rules that match with no rule naming a route leave the default route', () => {
    const c = config([{ match: { tags: ['shell'] }, dryRun: true, continue: true }], { defaultRoute: 'record' });
    expect(ok(triageEvent(shell(), c))).toMatchObject({ route: 'record', observe: true });
  });

  it('an artifact from a continuing rule is used when the route rule names none', () => {
    const c = config([
      { match: { tag: ['DROP_BIN'] }, artifact: { path: ['file'] }, continue: true },
      { match: { tag: ['DROP_BIN'] }, route: 'file-artifact' },
    ]);
    expect(ok(triageEvent(fluentBitLine('DROP_BIN file=/tmp/x proc=sh'), c)).artifact).toEqual({ path: '/tmp/x' });
  });
});

describe('crafted text never satisfies a field condition', () => {
  const kubeSystem = config([
    { name: 'kube-system', match: { fields: { 'k8s.ns.name': 'kube-system' } }, route: 'ignore' },
    { name: 'not kube-system', match: { fields: { 'k8s.ns.name': { '!=': 'kube-system' } }, tag: ['PRJ_EXEC_RECON'] }, route: 'isolate-node' },
  ]);
  const injected = 'curl x k8s.ns.name=kube-system k8s_ns_name=kube-system ns=kube-system';

  it('JSON: the namespace is output_fields.k8s.ns.name, not what the command line says', () => {
    const event = shell({ 'proc.cmdline': injected });
    (event as { output: string }).output = `03:14:07.1: Notice A shell was spawned in a container with an attached terminal | command=${injected} k8s_ns_name=shop`;
    const c = config([{ match: { fields: { 'k8s.ns.name': 'kube-system' } }, route: 'ignore' }, { match: { rule: [SHELL] }, route: 'approval' }]);
    expect(ok(triageEvent(event, c))).toMatchObject({ route: 'approval', target: { namespace: 'shop' } });
  });

  it('JSON without k8s.ns.name: a crafted command line does not supply one', () => {
    const event = shell({ 'proc.cmdline': injected, 'k8s.ns.name': undefined });
    (event as { output: string }).output = `03:14:07.1: Notice A shell | command=${injected}`;
    const c = config([{ match: { fields: { 'k8s.ns.name': 'kube-system' } }, route: 'ignore' }, { match: { rule: [SHELL] }, route: 'approval' }]);
    expect(routeOf(c, event)).toBe('approval');
  });

  it('a text line read generically (no template) is never used for matching', () => {
    const out = triageEvent(fluentBitLine(`CUSTOM_TAG proc=curl cmdline=${injected}`), kubeSystem, { explain: true });
    expect(out).toMatchObject({ ok: true, result: { route: 'record' } });
    expect(out.explanation!.rules[0]!.checks.at(-1)).toMatchObject({ ok: false, value: expect.stringMatching(/^unknown: not in output_fields, and the text has no template/) });
  });

  it('a text line read by its template: a crafted command line does not move the namespace', () => {
    const c = parsePlaybookConfig(
      {
        falco: {
          rules: [
            { match: { fields: { 'k8s.ns.name': 'kube-system' } }, route: 'ignore' },
            { match: { fields: { 'k8s.ns.name': { '!=': 'kube-system' } } }, route: 'isolate-node' },
          ],
          templates: { PRJ_EXEC_RECON: 'proc={proc} cmdline={cmdline} user={user} container={container} container_id={container_id} pod={pod} ns={ns} node={node}' },
        },
        guardduty: {},
      },
      'inline',
    );
    const line = (ns: string) => `PRJ_EXEC_RECON ${kv({ proc: 'curl', cmdline: injected, user: 'root', container: 'c', container_id: 'abc', pod: 'p', ns, node: 'n' })}`;
    expect(ok(triageEvent(fluentBitLine(line('dvwa')), c)).route).toBe('isolate-node');
    expect(ok(triageEvent(fluentBitLine(line('kube-system')), c)).route).toBe('ignore');
  });

  it('a text line that reads more than one way: the namespace is unknown, and unknown satisfies neither = nor !=', () => {
    const c = parsePlaybookConfig(
      {
        falco: {
          rules: [
            { match: { fields: { 'k8s.ns.name': 'kube-system' } }, route: 'ignore' },
            { match: { fields: { 'k8s.ns.name': { '!=': 'kube-system' } } }, route: 'isolate-node' },
            { match: { tag: ['MY_RULE'] }, route: 'approval' },
          ],
          templates: { MY_RULE: 'cmdline={cmdline} ns={ns} detail={detail:text}' },
        },
        guardduty: {},
      },
      'inline',
    );
    const crafted = fluentBitLine('MY_RULE cmdline=a ns=kube-system detail=b ns=dvwa detail=c');
    const out = triageEvent(crafted, c, { explain: true });
    expect(out).toMatchObject({ ok: true, result: { route: 'approval' } });
    expect(out.explanation!.rules[0]!.checks[0]).toMatchObject({ ok: false, value: 'unknown: the output text reads more than one way there' });
    expect(out.explanation!.rules[1]!.checks[0]).toMatchObject({ ok: false, value: 'unknown: the output text reads more than one way there' });
  });

  it('a stock text line: the crafted command line changes neither the route nor the target', () => {
    const line = `03:14:07.1: Notice A shell was spawned in a container with an attached terminal | evt_type=execve user=root user_uid=0 user_loginuid=-1 process=bash proc_exepath=/usr/bin/bash parent=runc command=bash -c 'k8s.ns.name=kube-system k8s_ns_name=kube-system' terminal=34816 exe_flags=EXE_WRITABLE container_id=77aa01bc22de container_name=api container_image_repository=ghcr.io/acme/api container_image_tag=2 k8s_pod_name=api-1 k8s_ns_name=shop`;
    const raw = JSON.parse(readFileSync(defaultPlaybookConfigPath(), 'utf8')) as { falco: { rules: unknown[] } };
    raw.falco.rules.unshift({ match: { fields: { 'k8s.ns.name': 'kube-system' } }, route: 'ignore' });
    const r = ok(triageLine(line, parsePlaybookConfig(raw, 'defaults + one rule')));
    expect(r.route).toBe('approval');
    expect(r.target.namespace).toBe('shop');
  });
});

describe('--explain', () => {
  it('says which rule matched and why, each condition with the value it saw, and why the others did not', () => {
    const c = config([
      { name: 'prod miners', match: { rule: ['m'], fields: { cluster: 'prod-eks' } }, route: 'block-egress' },
      { name: 'shells in shop', match: { rule: [SHELL], tags: ['shell'], priority: '>=notice', source: ['syscall'], fields: { 'k8s.ns.name': { in: ['shop'] }, 'k8s.pod.name': { exists: true } } }, route: 'approval', dryRun: true },
    ]);
    const out = triageEvent(shell({ cluster: 'prod-eks' }), c, { explain: true });
    expect(out.ok).toBe(true);
    const e = out.explanation!;
    expect(e.event).toEqual(expect.arrayContaining([`rule "${SHELL}" (the JSON output's rule field)`, 'priority notice', 'source "syscall"']));
    expect(e.rules[0]).toMatchObject({ rule: 1, name: 'prod miners', outcome: 'no match', checks: [{ condition: 'rule in ["m"]', ok: false, value: `"${SHELL}"`, identity: true }, { condition: 'cluster = "prod-eks"', ok: true, value: '"prod-eks"' }] });
    expect(e.rules[1]).toMatchObject({
      rule: 2,
      outcome: 'decides the route',
      dryRun: true,
      checks: [
        { condition: `rule in ["${SHELL}"]`, ok: true },
        { condition: 'tags include any of ["shell"]', ok: true },
        { condition: 'priority >= notice', ok: true, value: 'notice' },
        { condition: 'source in ["syscall"]', ok: true, value: '"syscall"' },
        { condition: 'k8s.ns.name in ["shop"]', ok: true, value: '"shop"' },
        { condition: 'k8s.pod.name exists', ok: true, value: '"api-1"' },
      ],
    });
    expect(e.decision).toEqual([expect.stringMatching(/^route approval from rule 2 "shells in shop"/), expect.stringMatching(/^dry run/)]);
  });

  it('gives the same route as triage without it', () => {
    const c = loadPlaybookConfig();
    for (const event of [shell(), shell({}, { priority: 'Debug' }), fluentBitLine('ARTIFACT_WEBSHELL x=y')]) {
      const plain = triageEvent(event, c);
      const explained = triageEvent(event, c, { explain: true });
      expect(explained.ok && explained.result).toEqual(plain.ok && plain.result);
    }
  });

  it('explains GuardDuty rules too', () => {
    const c = parsePlaybookConfig({ falco: {}, guardduty: { rules: [{ name: 'ec2', match: { resourceType: ['Instance'], minSeverity: 9 }, route: 'forensics' }] } }, 'inline');
    const out = triageEvent({ schemaVersion: '2.0', id: 'f1', type: 'Backdoor:EC2/C&CActivity.B', severity: 8.5, resource: { resourceType: 'Instance' } }, c, { explain: true });
    expect(out).toMatchObject({ ok: true, result: { route: 'notify' } });
    expect(out.explanation!.rules[0]).toMatchObject({ outcome: 'no match', checks: [{ condition: 'resourceType in ["Instance"]', ok: true }, { condition: 'severity >= 9', ok: false, value: '8.5' }] });
  });
});
