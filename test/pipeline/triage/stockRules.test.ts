/**
 * Falco's stock rules (falcosecurity/rules falco-rules-5.1.0, stable; the miner-pool rule from the
 * sandbox ruleset) get their defaults out of the box. Each sample in test/fixtures/falco-stock is
 * written from the rule's real output format, as Falco (with the container plugin's suggested
 * output fields) and Falcosidekick send it; its `output` is also the text line `kubectl logs
 * ds/falco` prints, which must triage the same way.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadPlaybookConfig } from '../../../src/pipeline/triage/playbookConfig.js';
import { triageEvent, triageLine } from '../../../src/pipeline/triage/triageEvent.js';
import type { TriageOutcome, TriageResult } from '../../../src/pipeline/triage/types.js';

const DIR = fileURLToPath(new URL('../../fixtures/falco-stock/', import.meta.url));
const config = loadPlaybookConfig();
const load = (name: string) => JSON.parse(readFileSync(join(DIR, name), 'utf8')) as Record<string, unknown> & { rule: string; output: string };

function ok(outcome: TriageOutcome): TriageResult {
  if (!outcome.ok) throw new Error(`expected a result, got: ${outcome.error}`);
  return outcome.result;
}

interface Expected {
  rule: string;
  route: string;
  steps: string[];
  target?: { namespace: string; pod: string; container: string };
  ioc?: { ip: string; port: number };
  file?: string;
}

const SHOP_API = { namespace: 'shop', pod: 'api-5f7d9c8b7-qq2lm', container: 'api' };
const SHOP_WEB = { namespace: 'shop', pod: 'web-7c9d8f6b5-x2x9k', container: 'web' };

const EXPECTED: Record<string, Expected> = {
  'drop-and-execute.json': {
    rule: 'Drop and execute new binary in container',
    route: 'file-artifact',
    steps: ['extract-file', 'quarantine-file', 'record-incident', 'report'],
    target: SHOP_WEB,
    file: '/tmp/.cache/xmrig',
  },
  'redirect-stdout-to-network.json': {
    rule: 'Redirect STDOUT/STDIN to Network Connection in Container',
    route: 'block-egress',
    steps: ['deny-egress', 'record-incident', 'report'],
    target: SHOP_WEB,
    ioc: { ip: '203.0.113.45', port: 4444 },
  },
  'miner-pool-connection.json': {
    rule: 'Detect outbound connections to common miner pool ports',
    route: 'block-egress',
    steps: ['deny-egress', 'record-incident', 'report'],
    target: { namespace: 'batch', pod: 'worker-5d6f7b8c9-qwert', container: 'worker' },
    ioc: { ip: '198.51.100.77', port: 4444 },
  },
  'terminal-shell.json': {
    rule: 'Terminal shell in container',
    route: 'approval',
    steps: ['request-approval', 'on-block:isolate-node', 'record-incident', 'report'],
    target: SHOP_API,
  },
  'read-sensitive-file.json': { rule: 'Read sensitive file untrusted', route: 'record', steps: ['record-incident', 'report'], target: SHOP_API },
  'contact-k8s-api.json': { rule: 'Contact K8S API Server From Container', route: 'record', steps: ['record-incident', 'report'], target: SHOP_API },
  'falcosidekick-test.json': { rule: 'Test rule', route: 'test', steps: [] },
};

describe("defaults for Falco's stock rules", () => {
  it('has a sample for every stock rule the default config routes, and no other', () => {
    const stockRules = config.falco.rules.filter((r) => r.name?.startsWith('Falco stock:') || r.route === 'test').flatMap((r) => r.match.rule ?? []);
    const samples = readdirSync(DIR).filter((f) => f.endsWith('.json'));
    expect(samples.sort()).toEqual(Object.keys(EXPECTED).sort());
    expect(samples.map((f) => load(f).rule).sort()).toEqual([...stockRules].sort());
  });

  for (const [name, want] of Object.entries(EXPECTED)) {
    describe(want.rule, () => {
      it(`routes the JSON output to ${want.route}`, () => {
        const r = ok(triageEvent(load(name), config));
        expect(r).toMatchObject({ rule: want.rule, route: want.route, steps: want.steps, warnings: [] });
        if (want.target) expect(r.target).toMatchObject(want.target);
        expect(r.ioc).toEqual(want.ioc);
        expect(r.artifact).toEqual(want.file ? { path: want.file } : undefined);
      });

      if (want.route !== 'test') {
        it('routes the same output as a text line, read by its template (not generically)', () => {
          const r = ok(triageLine(load(name).output, config));
          expect(r).toMatchObject({ rule: want.rule, route: want.route, steps: want.steps, warnings: [] });
          if (want.target) expect(r.target).toEqual(want.target);
          expect(r.ioc).toEqual(want.ioc);
          expect(r.artifact).toEqual(want.file ? { path: want.file } : undefined);
        });

        it('routes the same line forwarded by Fluent Bit, plain or wrapped, with the node from kubernetes.host', () => {
          const kubernetes = { pod_name: 'falco-x7k2p', namespace_name: 'falco', host: 'ip-10-0-12-34.ap-northeast-2.compute.internal' };
          const plain = ok(triageEvent({ log: `${load(name).output}\n`, stream: 'stdout', kubernetes }, config));
          const wrapped = ok(triageEvent({ falco: { log: load(name).output, kubernetes } }, config));
          for (const r of [plain, wrapped]) {
            expect(r).toMatchObject({ rule: want.rule, route: want.route });
            expect(r.target.node).toBe(kubernetes.host);
          }
          expect(plain.dedupeKey).toBe(wrapped.dedupeKey);
        });
      }
    });
  }

  it('reads the stock templates without the container fields too (Falco without the container plugin)', () => {
    const line = load('terminal-shell.json').output.replace(/ container_id=.*$/, '');
    const r = ok(triageLine(line, config));
    expect(r).toMatchObject({ route: 'approval', rule: 'Terminal shell in container', warnings: [] });
    expect(r.context).toMatchObject({ user: 'root', proc: 'bash', exepath: '/usr/bin/bash', cmdline: 'bash' });
  });

  it('treats <NA> in a text line as no value: a host shell has no pod', () => {
    const line = load('terminal-shell.json').output.replace('k8s_pod_name=api-5f7d9c8b7-qq2lm k8s_ns_name=shop', 'k8s_pod_name=<NA> k8s_ns_name=<NA>');
    const r = ok(triageLine(line, config));
    expect(r.route).toBe('approval');
    expect(r.target).toEqual({ container: 'api' });
  });

  it("takes the dropped binary from proc.exepath, never from the command's argv[0]", () => {
    const event = load('drop-and-execute.json');
    const fields = event.output_fields as Record<string, unknown>;
    const r = ok(triageEvent({ ...event, output_fields: { ...fields, 'proc.exe': '/usr/bin/innocent', 'proc.cmdline': '/usr/bin/innocent proc_exepath=/etc/passwd' } }, config));
    expect(r.artifact).toEqual({ path: '/tmp/.cache/xmrig' });
  });

  it('a dropped binary whose path crafts fields is asked about, every reading listed', () => {
    const crafted = '/tmp/x parent=sh command=y';
    const line = load('drop-and-execute.json').output.replace('proc_exepath=/tmp/.cache/xmrig', `proc_exepath=${crafted}`);
    const r = ok(triageLine(line, config));
    expect(r.route).toBe('file-artifact');
    expect(r.artifact?.candidates).toEqual(expect.arrayContaining([crafted]));
    expect(r.steps[0]).toBe('request-approval');
  });

  it('a drop-and-execute event without an absolute exepath has no file and says so', () => {
    const event = load('drop-and-execute.json');
    const r = ok(triageEvent({ ...event, output_fields: { ...(event.output_fields as object), 'proc.exepath': 'xmrig' } }, config));
    expect(r.artifact).toBeUndefined();
    expect(r.steps).toEqual(['record-incident', 'report']);
    expect(r.warnings.join('\n')).toMatch(/exepath is not an absolute path/);
  });

  it("routes Falcosidekick's Debug test event to test although it is below the minimum priority, with no steps", () => {
    const r = ok(triageEvent(load('falcosidekick-test.json'), config));
    expect(r).toMatchObject({ route: 'test', severity: 'info', steps: [], custom: { cluster: 'prod-eks' } });
    expect(r.observe).toBeUndefined();
  });

  it('does not take a real Falco rule that happens to be called "Test rule" for the test event', () => {
    const event = { ...load('terminal-shell.json'), rule: 'Test rule', priority: 'Critical' };
    expect(ok(triageEvent(event, config)).route).not.toBe('test');
  });
});
