/**
 * The playbook config in YAML or JSON, validated at start-up: a bad file is refused with the
 * file, the line and column, the path of the value and the reason.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../src/errors.js';
import { defaultPlaybookConfigPath, loadPlaybookConfig } from '../../../src/pipeline/triage/playbookConfig.js';
import { triageEvent } from '../../../src/pipeline/triage/triageEvent.js';
import { falcoJson } from '../../helpers/events.js';

const dir = mkdtempSync(join(tmpdir(), 'playbooks-'));
let n = 0;
function file(text: string, ext = 'yaml'): string {
  const path = join(dir, `p${n++}.${ext}`);
  writeFileSync(path, text);
  return path;
}

/** The ConfigError message loading `text` gives. */
function refusal(text: string, ext = 'yaml'): { path: string; message: string } {
  const path = file(text, ext);
  try {
    loadPlaybookConfig(path);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return { path, message: (err as Error).message };
  }
  throw new Error('expected the config to be refused');
}

const YAML_CONFIG = `# the team's playbooks
falco:
  minPriority: notice
  rules:
    - name: miners in production
      match:
        rule: [Detect outbound connections to common miner pool ports]
        priority: ">=critical"
        fields:
          k8s.ns.name: { in: [shop, payments] }
          cluster: prod-eks            # Falcosidekick customfields
      route: block-egress
    - name: shells outside kube-system, observed first
      match:
        rule: [Terminal shell in container]
        fields:
          k8s.ns.name: { "!=": [kube-system, falco] }
      route: approval
      observe: true
guardduty:
  rules:
    - match: { resourceType: [Instance] }
      route: forensics
`;

describe('playbook config files', () => {
  it('reads YAML: comments, flow maps, field conditions, and observe as the alias of dryRun', () => {
    const config = loadPlaybookConfig(file(YAML_CONFIG));
    expect(config.falco.rules).toHaveLength(2);
    expect(config.falco.rules[0]!.match.fields).toEqual({
      'k8s.ns.name': [{ op: 'in', values: ['shop', 'payments'] }],
      cluster: [{ op: '=', value: 'prod-eks' }],
    });
    expect(config.falco.rules[0]!.match.priority).toEqual({ op: '>=', priority: 'critical' });
    expect(config.falco.rules[1]!.dryRun).toBe(true);
    expect(config.falco.rules[1]).not.toHaveProperty('observe');
    const shell = triageEvent(
      falcoJson({ rule: 'Terminal shell in container', output: 'A shell was spawned in a container with an attached terminal', priority: 'Notice', fields: { 'k8s.ns.name': 'shop' } }),
      config,
    );
    expect(shell).toMatchObject({ ok: true, result: { route: 'approval', observe: true } });
  });

  it('reads the same config written as JSON the same way', () => {
    const yaml = loadPlaybookConfig(file(YAML_CONFIG));
    const json = loadPlaybookConfig(
      file(
        JSON.stringify({
          falco: {
            minPriority: 'notice',
            rules: [
              {
                name: 'miners in production',
                match: { rule: ['Detect outbound connections to common miner pool ports'], priority: '>=critical', fields: { 'k8s.ns.name': { in: ['shop', 'payments'] }, cluster: 'prod-eks' } },
                route: 'block-egress',
              },
              { name: 'shells outside kube-system, observed first', match: { rule: ['Terminal shell in container'], fields: { 'k8s.ns.name': { '!=': ['kube-system', 'falco'] } } }, route: 'approval', observe: true },
            ],
          },
          guardduty: { rules: [{ match: { resourceType: ['Instance'] }, route: 'forensics' }] },
        }),
        'json',
      ),
    );
    expect(json).toEqual(yaml);
  });

  it('loads the built-in defaults (JSON)', () => {
    expect(defaultPlaybookConfigPath()).toMatch(/config\/playbooks\.json$/);
    expect(loadPlaybookConfig().falco.rules.length).toBeGreaterThan(5);
  });

  it('takes a .yml file and a file with another extension as YAML', () => {
    expect(loadPlaybookConfig(file(YAML_CONFIG, 'yml')).falco.rules).toHaveLength(2);
    expect(loadPlaybookConfig(file(YAML_CONFIG, 'conf')).falco.rules).toHaveLength(2);
  });

  it('keeps YAML 1.2 meanings: no and on stay strings', () => {
    const config = loadPlaybookConfig(file('falco:\n  rules:\n    - match: { fields: { feature: no, mode: on } }\n      route: record\nguardduty: {}\n'));
    expect(config.falco.rules[0]!.match.fields).toEqual({ feature: [{ op: '=', value: 'no' }], mode: [{ op: '=', value: 'on' }] });
  });
});

describe('a bad config is refused with file, line and reason', () => {
  it('an unknown route: the line of the value', () => {
    const { path, message } = refusal('falco:\n  rules:\n    - match: { tag: [X] }\n      route: nuke\nguardduty: {}\n');
    expect(message).toContain(`${path}:4:14: falco.rules[0].route: Invalid option`);
  });

  it('a condition put beside the rule name instead of under fields: the line of the key, and where it goes', () => {
    const { path, message } = refusal('falco:\n  rules:\n    - match:\n        rule: [Terminal shell in container]\n        namespace: kube-system\n      route: approval\nguardduty: {}\n');
    expect(message).toContain(`${path}:5:9: falco.rules[0].match.namespace: unknown key "namespace"`);
    expect(message).toContain('goes under match.fields');
  });

  it('an unknown operator, and two operators at once', () => {
    const unknown = refusal('falco:\n  rules:\n    - match:\n        fields:\n          k8s.ns.name: { contains: kube }\n      route: record\nguardduty: {}\n');
    expect(unknown.message).toContain(`${unknown.path}:5:26: falco.rules[0].match.fields.k8s.ns.name[0].contains: unknown key "contains" (operators: =, !=, in, prefix, exists)`);
    const two = refusal('falco:\n  rules:\n    - match:\n        fields:\n          k8s.ns.name: { "=": a, in: [b] }\n      route: record\nguardduty: {}\n');
    expect(two.message).toMatch(new RegExp(`${two.path}:5:24: falco\\.rules\\[0\\]\\.match\\.fields\\.k8s\\.ns\\.name\\[0\\]: give exactly one operator .*got =, in`));
  });

  it('a number YAML would change (1.10 is 1.1): asked to quote it', () => {
    const { path, message } = refusal('falco:\n  rules:\n    - match:\n        fields:\n          container.image.tag: 1.10\n      route: record\nguardduty: {}\n');
    expect(message).toContain(`${path}:5:32: falco.rules[0].match.fields.container.image.tag[0].=: 1.1 is not an integer: quote it`);
  });

  it('a bad priority condition', () => {
    const { path, message } = refusal('falco:\n  rules:\n    - match: { priority: ">=loud" }\n      route: record\nguardduty: {}\n');
    expect(message).toContain(`${path}:3:26: falco.rules[0].match.priority: expected an optional operator`);
  });

  it('observe and dryRun that disagree, a rule without a route, and ignore that continues', () => {
    const { path, message } = refusal(
      'falco:\n  rules:\n    - match: { tag: [A] }\n      route: record\n      dryRun: true\n      observe: false\n    - match: { tag: [B] }\n    - match: { tag: [C] }\n      route: ignore\n      continue: true\nguardduty: {}\n',
    );
    expect(message).toContain(`${path}:6:16: falco.rules[0].observe: observe is another name for dryRun and says the opposite`);
    expect(message).toContain(`${path}:7:7: falco.rules[1].route: a rule needs a route (only a rule with continue: true may leave it out`);
    expect(message).toContain(`${path}:10:17: falco.rules[2].continue: route ignore ends the matching: it cannot continue`);
  });

  it('a match without any condition', () => {
    const { path, message } = refusal('falco:\n  rules:\n    - match: {}\n      route: record\nguardduty: {}\n');
    expect(message).toContain(`${path}:3:14: falco.rules[0].match: a match needs at least one condition`);
  });

  it('a bad output template', () => {
    const { path, message } = refusal('falco:\n  templates:\n    MY_TAG:\n      - "proc={proc} ns={ns}"\n      - "proc={proc}{ns}"\nguardduty: {}\n');
    expect(message).toContain(`${path}:5:9: falco.templates.MY_TAG[1]: fields {proc} and {ns} have nothing between them`);
  });

  it('YAML that does not parse, a duplicate key, an unknown tag', () => {
    const syntax = refusal('falco:\n  rules: [\n    { match: { tag: [X] }, route: record }\nguardduty: {}\n');
    expect(syntax.message).toMatch(new RegExp(`${syntax.path}:\\d+:\\d+: `));
    const dup = refusal('falco:\n  minPriority: notice\n  minPriority: critical\nguardduty: {}\n');
    expect(dup.message).toContain(`${dup.path}:3:3: Map keys must be unique`);
    const tag = refusal('falco:\n  minPriority: !!js/function "x"\nguardduty: {}\n');
    expect(tag.message).toContain(`${tag.path}:2:16: Unresolved tag`);
  });

  it('refuses a file that expands too many aliases instead of expanding it', () => {
    const lines = ['a: &a [x, x, x, x, x, x, x, x, x, x]'];
    for (let i = 0; i < 8; i++) lines.push(`${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [${Array(10).fill(`*${String.fromCharCode(97 + i)}`).join(', ')}]`);
    const { message } = refusal(`$comment: bomb\nfalco: {}\nguardduty: {}\nbomb:\n${lines.map((l) => `  ${l}`).join('\n')}\n`);
    expect(message).toMatch(/alias/i);
  });

  it('a JSON file: the line too, and JSON.parse decides what is valid', () => {
    const { path, message } = refusal('{\n  "falco": {\n    "rules": [\n      { "match": { "tag": ["X"] }, "route": "nuke" }\n    ]\n  },\n  "guardduty": {}\n}\n', 'json');
    expect(message).toContain(`${path}:4:45: falco.rules[0].route: Invalid option`);
    const broken = refusal('{ "falco": { } , }', 'json');
    expect(broken.message).toContain(`${broken.path}: not valid JSON`);
  });

  it('names every problem, not only the first', () => {
    const { message } = refusal('falco:\n  minPriority: loud\n  rules:\n    - match: { tag: [X] }\n      route: nuke\nguardduty:\n  severityThreshold: 11\n');
    expect(message.split('\n').filter((l) => l.startsWith('  '))).toHaveLength(3);
  });

  it('says so when the file cannot be read', () => {
    expect(() => loadPlaybookConfig(join(dir, 'missing.yaml'))).toThrow(/Cannot read playbook config .*missing\.yaml/);
  });

  it('the shipped default file is valid JSON with every rule explained by a name', () => {
    const raw = JSON.parse(readFileSync(defaultPlaybookConfigPath(), 'utf8')) as { falco: { rules: { name?: string }[] } };
    expect(raw.falco.rules.every((r) => typeof r.name === 'string' && r.name.length > 0)).toBe(true);
  });
});

describe("the README's example config", () => {
  const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
  const section = readme.slice(readme.indexOf('### Playbook config'));
  const example = /```yaml\n([\s\S]*?)```/.exec(section)![1]!;

  it('loads, and routes as its comments say', () => {
    const config = loadPlaybookConfig(file(example));
    const shell = (ns: string, image = 'ghcr.io/acme/api') =>
      triageEvent(falcoJson({ rule: 'Terminal shell in container', output: 'A shell was spawned in a container with an attached terminal', priority: 'Notice', fields: { 'k8s.ns.name': ns, 'container.image.repository': image } }), config);
    expect(shell('shop')).toMatchObject({ ok: true, result: { route: 'approval' } });
    const shop = shell('shop');
    expect(shop.ok && shop.result.observe).toBeUndefined();
    expect(shell('canary-7')).toMatchObject({ ok: true, result: { route: 'approval', observe: true } });
    expect(shell('kube-system')).toMatchObject({ ok: true, result: { route: 'record' } });
    expect(shell('shop', 'docker.io/library/busybox')).toMatchObject({ ok: true, result: { route: 'record' } });
    const miner = (cluster: string) =>
      triageEvent(falcoJson({ rule: 'Detect outbound connections to common miner pool ports', output: 'Outbound connection', priority: 'Critical', fields: { cluster, 'k8s.ns.name': 'batch', 'fd.rip': '198.51.100.7', 'fd.rport': 4444 } }), config);
    expect(miner('prod-eks')).toMatchObject({ ok: true, result: { route: 'block-egress', ioc: { ip: '198.51.100.7', port: 4444 } } });
    expect(miner('staging-eks')).toMatchObject({ ok: true, result: { route: 'record' } });
  });
});
