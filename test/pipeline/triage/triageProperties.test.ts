import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../src/errors.js';
import { loadPlaybookConfig, parsePlaybookConfig } from '../../../src/pipeline/triage/playbookConfig.js';
import { ROUTES, SEVERITIES } from '../../../src/pipeline/triage/types.js';
import { triageEvent } from '../../../src/pipeline/triage/triageEvent.js';
import { falcoJsonSchema, fluentBitSchema, isWellFormedFalcoJson, isWellFormedFluentBit } from '../../../src/pipeline/triage/normalizeFalco.js';
import { fixtureNames, loadFixture } from '../../helpers/events.js';

const config = loadPlaybookConfig();
const samples = fixtureNames().map(loadFixture);

function checkOutcome(value: unknown) {
  const outcome = triageEvent(value, config);
  if (outcome.ok) {
    expect(ROUTES).toContain(outcome.result.route);
    expect(SEVERITIES).toContain(outcome.result.severity);
    expect(outcome.result.dedupeKey).toMatch(/^(falco|guardduty)-[0-9a-f]{40}$/);
    expect(Array.isArray(outcome.result.steps)).toBe(true);
  } else {
    expect(typeof outcome.error).toBe('string');
    expect(outcome.error.length).toBeGreaterThan(0);
  }
}

/** Replaces one value somewhere inside a JSON value. */
function mutate(value: unknown, path: number[], replacement: unknown): unknown {
  if (path.length === 0 || value === null || typeof value !== 'object') return replacement;
  const entries = Object.entries(value as Record<string, unknown>);
  if (entries.length === 0) return replacement;
  const [head, ...rest] = path;
  const idx = head! % entries.length;
  const copy: Record<string, unknown> | unknown[] = Array.isArray(value) ? [...value] : { ...(value as object) };
  const key = entries[idx]![0];
  (copy as Record<string, unknown>)[key] = mutate(entries[idx]![1], rest, replacement);
  return copy;
}

describe('triage properties', () => {
  it('never throws on random JSON values', () => {
    fc.assert(fc.property(fc.jsonValue(), (v) => checkOutcome(v)), { numRuns: 500 });
  });

  it('never throws on mutated samples', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...samples),
        fc.array(fc.nat(), { maxLength: 6 }),
        fc.oneof(fc.jsonValue(), fc.string(), fc.string({ unit: 'binary' }), fc.constant(null), fc.constant(undefined)),
        (sample, path, replacement) => checkOutcome(mutate(sample, path, replacement)),
      ),
      { numRuns: 1500 },
    );
  });

  it('never throws on random text in a Falco log line', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('Critical', 'Warning', 'Notice', 'Debug'),
        fc.constantFrom('ARTIFACT_EXEC ', 'ARTIFACT_Reverse_Shell_Suspected! Attacker_IP: ', 'DVWA_UPLOAD_MOVE src=', 'PRJ_EXEC_RECON proc=', ''),
        fc.string({ unit: 'grapheme', maxLength: 300 }),
        (priority, head, tail) => checkOutcome({ falco: { log: `2026-11-20T03:14:07Z: ${priority} ${head}${tail}` } }),
      ),
      { numRuns: 1500 },
    );
  });

  it('never lets a command line change the route of a sample', () => {
    const recon = loadFixture('fluentbit-exec-recon.json') as { falco: { log: string } };
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), fc.constantFrom('ARTIFACT_WEBSHELL', 'Attacker_IP: 8.8.8.8 Attacker_Port: 53', 'ns=kube-system', ' node=x '), (noise, inject) => {
        const event = { falco: { ...recon.falco, log: recon.falco.log.replace('cmdline=whoami', `cmdline=whoami ${noise} ${inject}`) } };
        const outcome = triageEvent(event, config);
        expect(outcome.ok).toBe(true);
        if (outcome.ok) {
          expect(outcome.result.route).toBe('approval');
          expect(outcome.result.ioc).toBeUndefined();
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe('fast structural checks agree with the zod schemas', () => {
  const field = fc.oneof(fc.string(), fc.constant(null), fc.constant(undefined), fc.integer(), fc.array(fc.string()), fc.dictionary(fc.string(), fc.jsonValue()));
  it('accepts Falco JSON only when the schema does', () => {
    fc.assert(
      fc.property(fc.record({ rule: field, output: field, priority: field, output_fields: field, hostname: field, tags: field, time: field, source: field, uuid: field }, { requiredKeys: [] }), (v) => {
        if (isWellFormedFalcoJson(v)) expect(falcoJsonSchema.safeParse(v).success).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  it('accepts Fluent Bit records only when the schema does', () => {
    fc.assert(
      fc.property(
        fc.record({ falco: fc.oneof(field, fc.record({ log: field, raw_message: field, kubernetes: fc.oneof(field, fc.record({ host: field })) }, { requiredKeys: [] })), kubernetes: fc.oneof(field, fc.record({ host: field })) }, { requiredKeys: [] }),
        (v) => {
          if (isWellFormedFluentBit(v)) expect(fluentBitSchema.safeParse(v).success).toBe(true);
        },
      ),
      { numRuns: 2000 },
    );
  });
});

describe('the playbook rule matcher under fuzzing (random configs × random events)', () => {
  const KEYS = ['k8s.ns.name', 'k8s.pod.name', 'proc.cmdline', 'proc.exepath', 'container.image.repository', 'fd.rport', 'cluster', 'environment', 'proc.aname[2]'];
  const RULES = ['Terminal shell in container', 'Drop and execute new binary in container', 'Test rule', 'x'];
  const key = fc.oneof(fc.constantFrom(...KEYS), fc.string({ minLength: 1, maxLength: 12 }));
  const value = fc.oneof(fc.constantFrom('shop', 'kube-system', 'prod-eks', '', '<NA>'), fc.string({ maxLength: 12 }), fc.integer(), fc.boolean(), fc.double());
  const values = fc.oneof(value, fc.array(value, { maxLength: 3 }));
  const condition = fc.oneof(
    value,
    fc.record({ '=': value }),
    fc.record({ '!=': values }),
    fc.record({ in: fc.array(value, { maxLength: 3 }) }),
    fc.record({ prefix: values }),
    fc.record({ exists: fc.boolean() }),
    fc.dictionary(fc.constantFrom('=', '!=', 'in', 'prefix', 'exists', 'contains'), value, { maxKeys: 2 }),
  );
  const names = fc.array(fc.oneof(fc.constantFrom(...RULES, 'A', 'ARTIFACT_EXEC', 'shell', 'syscall', 'internal'), fc.string({ maxLength: 8 })), { maxLength: 3 });
  const match = fc.record(
    {
      rule: names,
      tag: names,
      outputPrefix: names,
      tags: names,
      minPriority: fc.constantFrom('notice', 'critical', 'debug', 'loud'),
      priority: fc.constantFrom('>=critical', '<warning', 'notice', '!=debug', '>>x'),
      source: names,
      fields: fc.dictionary(key, fc.oneof(condition, fc.array(condition, { maxLength: 3 })), { maxKeys: 3 }),
    },
    { requiredKeys: [] },
  );
  const rule = fc.record(
    {
      name: fc.string({ maxLength: 10 }),
      match,
      route: fc.constantFrom('file-artifact', 'block-egress', 'isolate-node', 'approval', 'record', 'test', 'ignore', 'nuke'),
      artifact: fc.record({ path: fc.array(fc.constantFrom('exepath', 'artifact_path', 'file'), { minLength: 1, maxLength: 2 }) }),
      dryRun: fc.boolean(),
      observe: fc.boolean(),
      continue: fc.boolean(),
    },
    { requiredKeys: ['match'] },
  );
  const configs = fc.record({ falco: fc.record({ rules: fc.array(rule, { maxLength: 6 }), minPriority: fc.constantFrom('notice', 'debug') }), guardduty: fc.constant({}) });
  const fieldValue = fc.oneof(value, fc.constant(null), fc.array(fc.string(), { maxLength: 2 }), fc.dictionary(fc.string(), fc.string(), { maxKeys: 1 }));
  const events = fc.oneof(
    fc.record({
      rule: fc.constantFrom(...RULES),
      output: fc.oneof(fc.string({ maxLength: 80 }), fc.constantFrom('03:14:07.1: Notice A shell was spawned in a container with an attached terminal | command=x k8s.ns.name=kube-system')),
      priority: fc.constantFrom('Critical', 'Notice', 'Debug', 'Warning'),
      source: fc.constantFrom('syscall', 'syscalls', 'internal', 'k8s_audit'),
      tags: fc.array(fc.constantFrom('shell', 'container', 'T1059'), { maxLength: 3 }),
      output_fields: fc.dictionary(key, fieldValue, { maxKeys: 6 }),
    }),
    fc.string({ maxLength: 200 }).map((s) => ({ log: `03:14:07.1: Warning ${s}`, kubernetes: { host: 'n1' } })),
  );

  it('never throws: a config is valid or refused with a ConfigError; every event is triaged or refused with a reason; --explain agrees', () => {
    let valid = 0;
    fc.assert(
      fc.property(configs, fc.array(events, { minLength: 1, maxLength: 4 }), (raw, evs) => {
        let parsed: ReturnType<typeof parsePlaybookConfig>;
        try {
          parsed = parsePlaybookConfig(raw, 'fuzz');
        } catch (err) {
          expect(err).toBeInstanceOf(ConfigError);
          return;
        }
        valid++;
        for (const e of evs) {
          const plain = triageEvent(e, parsed);
          const explained = triageEvent(e, parsed, { explain: true });
          if (!plain.ok) {
            // triageEvent turns an exception into an error result: none may come from the matcher.
            expect(plain.error).not.toMatch(/^internal error/);
            expect(plain.error.length).toBeGreaterThan(0);
            expect(explained.ok).toBe(false);
            continue;
          }
          expect(ROUTES).toContain(plain.result.route);
          expect(explained.ok && explained.result).toEqual(plain.result);
          expect(explained.explanation!.rules).toHaveLength(parsed.falco.rules.length);
          expect(new Set(plain.result.steps).size).toBe(plain.result.steps.length);
        }
      }),
      { numRuns: 1500 },
    );
    // The generator must reach the matcher, not only the validator.
    expect(valid).toBeGreaterThan(100);
  });

  it('never throws on random YAML: only a ConfigError with the reason', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fuzz-yaml-'));
    const path = join(dir, 'p.yaml');
    const yamlish = fc.array(fc.oneof(fc.constantFrom('falco:', '  rules:', '    - match: {', 'tag: [X]', '}', '      route: record', '&a', '*a', '!!str', '"', "'", '- ', ': ', '\t', '{', '[', 'guardduty: {}', '#'), fc.string({ maxLength: 10 })), { maxLength: 20 }).map((parts) => parts.join('\n'));
    fc.assert(
      fc.property(fc.oneof(yamlish, fc.string({ maxLength: 200 })), (text) => {
        writeFileSync(path, text);
        try {
          loadPlaybookConfig(path);
        } catch (err) {
          expect(err).toBeInstanceOf(ConfigError);
          expect((err as Error).message).toContain(path);
        }
      }),
      { numRuns: 500 },
    );
  });
});
