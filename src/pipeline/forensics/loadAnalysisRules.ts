/**
 * The forensic analysis rules as data: YAML files, read and validated with zod at load. The stock
 * rules are config/analysis-rules/*.yaml (shipped with the image, found from the package root);
 * a team's own rules are the *.yaml / *.yml files of SENTINEL_ANALYSIS_RULES_DIR, merged after the
 * stock ones. Files load in name order, rules in file order (the report order within a severity).
 * Every problem is reported with its file, line and column, and the reason; one bad file refuses
 * the whole set (a half-loaded rule set would silently miss findings).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';
import { z } from 'zod';
import { ConfigError } from '../../errors.js';
import { packageRoot } from '../../util/packageRoot.js';
import { readConfigDocument, type ConfigDocument } from '../triage/readConfigDocument.js';
import { ARTIFACT_FORMATS, ARTIFACT_KINDS, canonicalKind, conditionFields, FORMAT_FIELDS, SEVERITIES, type AnalysisRule, type ArtifactKind, type Condition, type SetName } from './artifactKinds.js';

/** The directory of sentinel's own rules. */
export function stockAnalysisRulesDir(): string {
  return join(packageRoot(), 'config', 'analysis-rules');
}

/** Longest rule file read, in bytes. */
const MAX_FILE_BYTES = 1024 * 1024;
/** Deepest nesting of not/all/any. */
const MAX_DEPTH = 16;

const SET_NAMES = ['knownBadIps', 'findingRemoteIp', 'instanceAddresses'] as const satisfies readonly SetName[];
const LEAF_OPERATORS = ['matches', 'equals', 'oneOf', 'inSet', 'withinWindow', 'atLeast', 'publicIp'] as const;
const GROUP_OPERATORS = ['not', 'all', 'any'] as const;
const OPERATORS = [...LEAF_OPERATORS, ...GROUP_OPERATORS] as const;

const scalar = z.union([z.string(), z.number()]);

/** A condition: exactly one operator; a field for every operator but not/all/any; flags only with matches. */
const conditionSchema: z.ZodType<Condition> = z.lazy(() =>
  z
    .strictObject({
      field: z.string().min(1).max(64).optional(),
      matches: z.string().min(1).max(4096).optional(),
      flags: z.string().regex(/^[imsu]*$/, 'regular expression flags among i, m, s, u').optional(),
      equals: scalar.optional(),
      oneOf: z.array(scalar).min(1).optional(),
      inSet: z.enum(SET_NAMES).optional(),
      withinWindow: z.enum(['exact', 'day']).optional(),
      atLeast: z.number().optional(),
      publicIp: z.literal(true).optional(),
      not: conditionSchema.optional(),
      all: z.array(conditionSchema).min(1).optional(),
      any: z.array(conditionSchema).min(1).optional(),
    })
    .superRefine((c, ctx) => {
      const ops = OPERATORS.filter((op) => c[op] !== undefined);
      if (ops.length !== 1) {
        ctx.addIssue({ code: 'custom', message: ops.length ? `one operator per condition, not ${ops.join(' and ')} (combine them with all or any)` : `a condition needs one of ${OPERATORS.join(', ')}` });
        return;
      }
      const op = ops[0]!;
      const leaf = (LEAF_OPERATORS as readonly string[]).includes(op);
      if (leaf && c.field === undefined) ctx.addIssue({ code: 'custom', message: `${op} needs a field` });
      if (!leaf && c.field !== undefined) ctx.addIssue({ code: 'custom', path: ['field'], message: `${op} takes conditions, not a field` });
      if (c.flags !== undefined && op !== 'matches') ctx.addIssue({ code: 'custom', path: ['flags'], message: 'flags go with matches only' });
      if (c.matches !== undefined) {
        try {
          new RegExp(c.matches, c.flags ?? '');
        } catch (err) {
          ctx.addIssue({ code: 'custom', path: ['matches'], message: `not a regular expression (JavaScript syntax): ${(err as Error).message}` });
        }
      }
    })
    .transform((c) => c as Condition),
);

const kindSchema = z.string().transform((k, ctx): ArtifactKind => {
  const kind = canonicalKind(k);
  if (!kind) {
    ctx.addIssue({ code: 'custom', message: `unknown artifact kind "${k}" (expected one of ${ARTIFACT_KINDS.join(', ')})` });
    return z.NEVER;
  }
  if (kind === 'disk:bundle') {
    ctx.addIssue({ code: 'custom', message: 'disk:bundle is a container: its members are analysed by their own kinds' });
    return z.NEVER;
  }
  return kind;
});

const ruleSchema = z
  .strictObject({
    id: z.string().regex(/^[a-z0-9][a-z0-9-]{0,79}$/, 'an id of lower-case letters, digits and dashes (at most 80)'),
    title: z.string().min(1).max(200),
    severity: z.enum(SEVERITIES as readonly ['critical', 'high', 'medium', 'low']),
    sources: z.array(kindSchema).min(1),
    match: conditionSchema,
    when: z.enum(['present', 'absent']).optional(),
    description: z.string().min(1).max(2000),
  })
  .superRefine((rule, ctx) => {
    // Every field is one the sources' parsers produce, and every source provides something read.
    const fields = conditionFields(rule.match);
    for (const f of new Set(fields)) {
      if (!rule.sources.some((k) => FORMAT_FIELDS[ARTIFACT_FORMATS[k]].includes(f))) {
        ctx.addIssue({ code: 'custom', path: ['match'], message: `no source of this rule provides the field "${f}" (${rule.sources.map((k) => `${k}: ${FORMAT_FIELDS[ARTIFACT_FORMATS[k]].join(', ')}`).join('; ')})` });
      }
    }
    rule.sources.forEach((k, i) => {
      if (!fields.some((f) => FORMAT_FIELDS[ARTIFACT_FORMATS[k]].includes(f))) {
        ctx.addIssue({ code: 'custom', path: ['sources', i], message: `the rule reads nothing ${k} provides (${FORMAT_FIELDS[ARTIFACT_FORMATS[k]].join(', ')})` });
      }
    });
  });

const fileSchema = z.strictObject({ rules: z.array(ruleSchema) });

function formatPath(path: readonly PropertyKey[]): string {
  return path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('').replace(/^\./, '');
}

function where(location: string, doc: ConfigDocument, path: readonly PropertyKey[], key?: string): string {
  const pos = doc.locate(path, key);
  return pos ? `${location}:${pos.line}:${pos.col}` : location;
}

function describeIssue(issue: z.core.$ZodIssue, location: string, doc: ConfigDocument): string[] {
  const path = issue.path as PropertyKey[];
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((key) => `${where(location, doc, path, key)}: ${formatPath([...path, key])}: unknown key`);
  }
  return [`${where(location, doc, path)}: ${formatPath(path) || '(root)'}: ${issue.message}`];
}

function refuse(problems: readonly string[]): never {
  throw new ConfigError(`Invalid analysis rules:\n  ${problems.join('\n  ')}`, { details: { problems } });
}

/** A rule and where it is written (file:line:col). */
export interface LocatedRule {
  rule: AnalysisRule;
  location: string;
}

/** Parses and validates one rule file's text. `location` names it in errors. */
export function parseAnalysisRulesFile(text: string, location: string): LocatedRule[] {
  let doc: ConfigDocument;
  try {
    doc = readConfigDocument(text.replace(/^\uFEFF/, ''), location, 'yaml');
  } catch (err) {
    // The YAML reader's own problems (syntax, duplicate keys, aliases), each with file:line:col.
    const problems = err instanceof ConfigError && Array.isArray(err.details.problems) ? (err.details.problems as string[]) : [(err as Error).message.replace(/^Invalid playbook config: /, '')];
    refuse(problems);
  }
  const parsed = fileSchema.safeParse(doc.value);
  if (!parsed.success) refuse(parsed.error.issues.flatMap((i) => describeIssue(i, location, doc)));
  const problems: string[] = [];
  const out = parsed.data.rules.map((rule, i) => {
    const depth = nesting(rule.match);
    if (depth > MAX_DEPTH) problems.push(`${where(location, doc, ['rules', i, 'match'])}: rules[${i}].match: nested ${depth} deep (at most ${MAX_DEPTH})`);
    const r: AnalysisRule = { id: rule.id, title: rule.title, severity: rule.severity, sources: rule.sources, match: rule.match, description: rule.description, ...(rule.when ? { when: rule.when } : {}) };
    return { rule: r, location: where(location, doc, ['rules', i]) };
  });
  if (problems.length) refuse(problems);
  return out;
}

function nesting(c: Condition): number {
  if ('not' in c) return 1 + nesting(c.not);
  if ('all' in c) return 1 + Math.max(...c.all.map(nesting));
  if ('any' in c) return 1 + Math.max(...c.any.map(nesting));
  return 1;
}

/** The rule files of a directory (*.yaml, *.yml), in name order. */
function ruleFiles(dir: string): string[] {
  let names: string[];
  try {
    if (!statSync(dir).isDirectory()) refuse([`${dir}: not a directory`]);
    names = readdirSync(dir);
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    refuse([`${dir}: cannot read the directory: ${(err as Error).message}`]);
  }
  return names
    .filter((n) => ['.yaml', '.yml'].includes(extname(n).toLowerCase()) && !n.startsWith('.'))
    .sort()
    .map((n) => join(dir, n));
}

/** Every rule of a directory's files, validated (all files' problems reported together). */
export function readAnalysisRulesDir(dir: string): LocatedRule[] {
  const out: LocatedRule[] = [];
  const problems: string[] = [];
  for (const file of ruleFiles(dir)) {
    try {
      const size = statSync(file).size;
      if (size > MAX_FILE_BYTES) {
        problems.push(`${file}: ${size} bytes (at most ${MAX_FILE_BYTES})`);
        continue;
      }
      out.push(...parseAnalysisRulesFile(readFileSync(file, 'utf8'), file));
    } catch (err) {
      if (err instanceof ConfigError && Array.isArray(err.details.problems)) problems.push(...(err.details.problems as string[]));
      else problems.push(`${file}: cannot read: ${(err as Error).message}`);
    }
  }
  if (problems.length) refuse(problems);
  return out;
}

export interface LoadAnalysisRulesOptions {
  /** A team's own rules, merged after the stock ones (SENTINEL_ANALYSIS_RULES_DIR). */
  extraDir?: string | undefined;
  /** The stock rules' directory; config/analysis-rules by default. */
  stockDir?: string;
}

/** The stock rules, then the extra directory's. An id defined twice is refused, naming both places. */
export function loadAnalysisRules(options: LoadAnalysisRulesOptions = {}): readonly AnalysisRule[] {
  const stock = readAnalysisRulesDir(options.stockDir ?? stockAnalysisRulesDir());
  if (stock.length === 0) refuse([`${options.stockDir ?? stockAnalysisRulesDir()}: no stock analysis rules`]);
  const all = [...stock, ...(options.extraDir ? readAnalysisRulesDir(options.extraDir) : [])];
  const seen = new Map<string, string>();
  const problems: string[] = [];
  for (const { rule, location } of all) {
    const first = seen.get(rule.id);
    if (first) problems.push(`${location}: rule id "${rule.id}" is already defined at ${first} (ids are unique: stored findings name them)`);
    else seen.set(rule.id, location);
  }
  if (problems.length) refuse(problems);
  return Object.freeze(all.map((r) => r.rule));
}

const loaded = new Map<string, readonly AnalysisRule[]>();

/**
 * The rules an analysis applies with these settings: loaded once per extra directory and kept
 * (a bad file is refused each time it is asked for, so fixing it needs no restart).
 */
export function analysisRulesFor(settings: { readonly analysisRulesDir?: string | undefined }): readonly AnalysisRule[] {
  const key = settings.analysisRulesDir ?? '';
  let rules = loaded.get(key);
  if (!rules) {
    rules = loadAnalysisRules({ extraDir: settings.analysisRulesDir });
    loaded.set(key, rules);
  }
  return rules;
}
