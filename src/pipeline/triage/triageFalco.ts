import { canonicalIp } from '../net/ipAddress.js';
import { notRunWarnings, ruleLabel } from './combineMatches.js';
import { dedupeKey } from './dedupeKey.js';
import type { Explanation } from './explanation.js';
import { falcoPriorityRank, severityOfFalcoPriority } from './falcoPriority.js';
import type { FieldReading } from './fieldConditions.js';
import { isValidFieldValue, fieldTypeOf, canonicalFieldName, isPlainIpv4, type FieldType } from './fieldTypes.js';
import { indexFalcoRules } from './indexFalcoRules.js';
import { matchFalcoRules } from './matchFalcoRules.js';
import type { FalcoAlert } from './normalizeFalco.js';
import { parseConnection } from './parseConnection.js';
import type { OutputTemplate } from './outputTemplate.js';
import { findKeys, keyValueField, MAX_READINGS, parseByEveryReading, parseWithTemplate, readTemplateValues, type KeyValueField, type ParsedFields } from './parseOutputText.js';
import { planSteps } from './planSteps.js';
import { templatesFor, type PlaybookConfig, type TemplateSet } from './playbookConfig.js';
import type { Artifact, Ioc, Route, Target, TriageResult } from './types.js';

const CONTEXT_MAX = 4096;
/** Custom fields kept per event, and their sizes: enough for cluster, environment, team. */
const CUSTOM_MAX = 32;
const CUSTOM_KEY = /^[A-Za-z_][A-Za-z0-9_-]{0,63}$/;
const CUSTOM_VALUE_MAX = 256;

/** Output-field keys (Falco JSON) for each canonical field, most specific first. */
const OUTPUT_FIELD_KEYS: Record<string, string[]> = {
  ns: ['k8s.ns.name'],
  pod: ['k8s.pod.name'],
  container: ['container.name'],
  container_id: ['container.id'],
  user: ['user.name'],
  proc: ['proc.name'],
  parent: ['proc.pname'],
  cmdline: ['proc.cmdline'],
  exepath: ['proc.exepath'],
  node: [],
  // File paths as Falco's stock and the project's rules write them: the resolved forms first
  // (fd.name, fs.path.*), the syscall's own arguments (evt.arg.*) after; only absolute paths count.
  artifact_path: ['fd.name', 'fs.path.name', 'fs.path.target', 'evt.arg.path', 'evt.arg.name', 'evt.arg.pathname', 'evt.arg.newpath'],
  dst: ['fs.path.target', 'evt.arg.newpath', 'evt.arg.path'],
  src: ['fs.path.source', 'evt.arg.oldpath'],
};

function scalar(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  if (typeof v === 'bigint') return v.toString();
  return undefined;
}

/** A single value of output_fields as text (strings, finite numbers, booleans); undefined for anything else. */
function scalarOrBool(v: unknown): string | undefined {
  return typeof v === 'boolean' ? String(v) : scalar(v);
}

/**
 * Fields the sender added beside Falco's: output_fields keys without a dot (every Falco field is
 * `class.field`), such as Falcosidekick's customfields (`cluster`). Single values only, bounded.
 */
function customFields(of: Record<string, unknown>): Record<string, string> | undefined {
  let out: Record<string, string> | undefined;
  let n = 0;
  // for-in over own keys: Object.entries' keys in its order, without building the entries.
  for (const key in of) {
    if (!Object.hasOwn(of, key) || key.includes('.') || !CUSTOM_KEY.test(key)) continue;
    const value = scalarOrBool(of[key]);
    if (value === undefined || value === '' || value === '<NA>') continue;
    out ??= {};
    out[key] = value.length > CUSTOM_VALUE_MAX ? `${value.slice(0, CUSTOM_VALUE_MAX)}…` : value;
    if (++n >= CUSTOM_MAX) break;
  }
  return out;
}

/**
 * How a field is read: its canonical name and type, the output_fields keys that hold it, and its
 * slot in an event's cache of values read.
 */
interface FieldPlan {
  /** The name asked for. */
  name: string;
  canonical: string;
  type: FieldType;
  /** The output_fields keys to look in: the field's own, or the name itself for a name with none. */
  keys: readonly string[];
  slot: number;
}

/** Field plans by the name triage asks for (names from this file and from the config's artifact fields). */
const FIELD_PLANS = new Map<string, FieldPlan>();

function planOf(name: string): FieldPlan {
  let plan = FIELD_PLANS.get(name);
  if (!plan) {
    const canonical = canonicalFieldName(name);
    plan = { name, canonical, type: fieldTypeOf(canonical), keys: OUTPUT_FIELD_KEYS[name] ?? [name], slot: FIELD_PLANS.size };
    FIELD_PLANS.set(name, plan);
  }
  return plan;
}

/** The plans of the fields every event reads (the target, the identity), and of its context fields in order. */
const PLAN = {
  node: planOf('node'),
  ns: planOf('ns'),
  pod: planOf('pod'),
  container: planOf('container'),
  user: planOf('user'),
  proc: planOf('proc'),
  exepath: planOf('exepath'),
  cmdline: planOf('cmdline'),
};
const CONTEXT_PLANS: readonly FieldPlan[] = ['user', 'proc', 'parent', 'cmdline', 'exepath', 'container_id', 'reason'].map(planOf);

/** A field read and found absent, in an event's cache (where a hole means: not read yet). */
const ABSENT = Symbol('absent');

/**
 * The Falco rule an alert is from: the JSON output's `rule`, or for a text line, the rule named by
 * the first config entry whose outputPrefix the output starts with (a stock rule's fixed text).
 */
function identifyRule(alert: FalcoAlert, config: PlaybookConfig): { name: string; from: 'json' | 'prefix' } | undefined {
  if (alert.ruleName !== undefined) return { name: alert.ruleName, from: 'json' };
  const named = indexFalcoRules(config.falco.rules).ruleNameByPrefix(alert.body);
  return named === undefined ? undefined : { name: named, from: 'prefix' };
}

/**
 * What the output text says of its fields: a template's one reading, kept as its values by
 * position (`values`, looked up through the template's fieldIndex); a ParsedFields (a template's
 * search of every reading); or generic key=value text, each field read when it is asked for
 * (`keyValues`: the text's keys, found once, and the fields read so far), as parseKeyValues reads it.
 */
interface TextReading {
  values: readonly string[] | undefined;
  template: OutputTemplate | undefined;
  parsed: ParsedFields | undefined;
  keyValues: { text: string; keys: readonly number[]; read: Map<string, KeyValueField> } | undefined;
}

/** A plain object's lookup of a name it does not own (what ParsedFields.fields answers for such a name). */
const NOT_READ: Record<string, string> = {};

function keyValueOf(kv: NonNullable<TextReading['keyValues']>, name: string): KeyValueField {
  let f = kv.read.get(name);
  if (f === undefined) {
    f = keyValueField(kv.text, kv.keys, name);
    kv.read.set(name, f);
  }
  return f;
}

function textValue(r: TextReading, name: string): string | undefined {
  if (r.values !== undefined) {
    const i = r.template!.fieldIndex.get(name);
    return i === undefined ? NOT_READ[name] : r.values[i];
  }
  if (r.keyValues !== undefined) {
    const f = keyValueOf(r.keyValues, name);
    return f.kind === 'value' ? f.value : NOT_READ[name];
  }
  return r.parsed!.fields[name];
}

function isAmbiguous(r: TextReading, name: string): boolean {
  if (r.keyValues !== undefined) return keyValueOf(r.keyValues, name).kind === 'ambiguous';
  return r.parsed !== undefined && r.parsed.ambiguous.length !== 0 && r.parsed.ambiguous.includes(name);
}

function isInvalid(r: TextReading, name: string): boolean {
  if (r.keyValues !== undefined) return keyValueOf(r.keyValues, name).kind === 'invalid';
  return r.parsed !== undefined && r.parsed.invalid.length !== 0 && r.parsed.invalid.includes(name);
}

/** The readings of an ambiguous field (undefined for any other). */
function readingsOf(r: TextReading, name: string): string[] | undefined {
  if (r.keyValues !== undefined) {
    const f = keyValueOf(r.keyValues, name);
    return f.kind === 'ambiguous' ? f.readings : undefined;
  }
  return r.parsed?.readings[name];
}

/** Reads the text by the first template of the set that fits it; null when none does. */
function readByTemplates(alert: FalcoAlert, set: TemplateSet): TextReading | null {
  const text = set.wholeOutput ? alert.body : alert.afterTag;
  for (const template of set.templates) {
    if (!template.plainNames) {
      const parsed = parseWithTemplate(text, template);
      if (parsed) return { values: undefined, template, parsed, keyValues: undefined };
      continue;
    }
    const values = readTemplateValues(text, template);
    if (values === null) continue;
    if (values !== undefined) return { values, template, parsed: undefined, keyValues: undefined };
    const parsed = parseByEveryReading(text, template);
    if (parsed) return { values: undefined, template, parsed, keyValues: undefined };
  }
  return null;
}

function clip(s: string): string {
  return s.length > CONTEXT_MAX ? `${s.slice(0, CONTEXT_MAX)}…` : s;
}

/**
 * Classifies one normalized Falco alert. Routing reads only what Falco says in structure (the rule
 * name, the leading tag or a stock rule's fixed prefix, tags, priority, source, output_fields and
 * custom fields; a text line's fields only where its template reads them one way).
 */
export function triageFalco(alert: FalcoAlert, config: PlaybookConfig, options: { explain?: boolean } = {}): { result: TriageResult; explanation?: Explanation } {
  const warnings: string[] = [];
  const known = identifyRule(alert, config);
  const of = alert.outputFields;

  // Text fields: by the template of the tag or the rule when one fits, otherwise generic key=value.
  const templates = templatesFor(config, alert.tag, known?.name);
  const read = templates ? readByTemplates(alert, templates) : null;
  if (templates && !read && !alert.hasOutputFields) warnings.push(`output does not fit the ${templates.key} template; read as key=value`);
  const templated = read;
  // The text's fields: read as key=value only when a field is looked for there (output_fields often has them all).
  let textFields: TextReading | undefined = templated ?? undefined;
  const textOf = (): TextReading =>
    (textFields ??= { values: undefined, template: undefined, parsed: undefined, keyValues: { text: alert.afterTag, keys: findKeys(alert.afterTag), read: new Map() } });

  /**
   * A field for matching. output_fields (and custom fields) are Falco's record: a key it did not
   * send is absent. Without output_fields (a text line), only a template reading counts, and only
   * when every reading of the line agrees; generic key=value reading is never used for matching.
   */
  const matchField = (key: string): FieldReading => {
    if (Object.hasOwn(of, key)) {
      const v = of[key];
      if (v === null || v === undefined) return { kind: 'absent' };
      const s = scalarOrBool(v);
      if (s === undefined) return { kind: 'unknown', why: 'not a single value' };
      return s === '' || s === '<NA>' ? { kind: 'absent' } : { kind: 'value', value: s };
    }
    if (alert.hasOutputFields) return { kind: 'absent' };
    if (!templated) return { kind: 'unknown', why: 'not in output_fields, and the text has no template that fits (fields read as generic key=value are never matched)' };
    const canonical = canonicalFieldName(key);
    if (isAmbiguous(templated, canonical)) return { kind: 'unknown', why: 'the output text reads more than one way there' };
    const v = textValue(templated, canonical);
    return v === undefined || v === '' || v === '<NA>' ? { kind: 'absent' } : { kind: 'value', value: v };
  };

  const match = matchFalcoRules(
    config,
    { ruleName: alert.ruleName, tag: alert.tag, body: alert.body, priority: alert.priority, source: alert.source, tags: alert.tags, field: matchField },
    options,
  );
  const { combined } = match;
  const routeRule = combined.routeFrom?.rule;
  const belowMinimum = falcoPriorityRank(alert.priority) < falcoPriorityRank(config.falco.minPriority);
  const chosen: Route = routeRule?.route ?? config.falco.defaultRoute;
  // Falcosidekick's test event is Debug: the minimum priority does not hide it.
  const route: Route = belowMinimum && chosen !== 'test' ? 'ignore' : chosen;
  const artifactRule = routeRule?.artifact ? routeRule : combined.taken.find((m) => m.rule.artifact)?.rule;
  if (route !== 'ignore' && combined.notRun.length) warnings.push(...notRunWarnings(combined));

  const notes = new Set<string>();
  const cache: (string | typeof ABSENT)[] = [];
  /** A field from output_fields (trusted structure) first, then from the text. */
  const fieldOf = (plan: FieldPlan): string | undefined => {
    const cached = cache[plan.slot];
    if (cached !== undefined) return cached === ABSENT ? undefined : cached;
    const value = readField(plan);
    cache[plan.slot] = value ?? ABSENT;
    return value;
  };
  const field = (name: string): string | undefined => fieldOf(planOf(name));
  const readField = ({ canonical, type, keys }: FieldPlan): string | undefined => {
    // Without output_fields there is nothing to look up: the loop would find every key absent.
    if (alert.hasOutputFields) {
      for (const key of keys) {
        const v = scalar(of[key]);
        if (v === undefined || v === '' || v === '<NA>') continue;
        if (isValidFieldValue(type, v)) return v;
        notes.add(`output_fields.${key} is not a valid ${type}`);
      }
    }
    const text = textOf();
    if (text.values !== undefined) {
      // A template's one reading: nothing in it is ambiguous or invalid.
      const i = text.template!.fieldIndex.get(canonical);
      const v = i === undefined ? NOT_READ[canonical] : text.values[i];
      if (v === undefined || v === '<NA>') return undefined;
      if (text.template!.loose.size !== 0 && text.template!.loose.has(canonical) && !isValidFieldValue(type, v)) {
        notes.add(`${canonical} in the output text is not a valid ${type}`);
        return undefined;
      }
      return v;
    }
    if (isAmbiguous(text, canonical)) {
      notes.add(`${canonical} is ambiguous in the output text and was not used`);
      return undefined;
    }
    if (isInvalid(text, canonical)) notes.add(`${canonical} in the output text is not a valid ${type}`);
    const v = textValue(text, canonical);
    // Falco writes <NA> for a field the event lacks (a pod name on the host); a template may type a field loosely.
    if (v === undefined || v === '<NA>') return undefined;
    if (read?.template?.loose.has(canonical) && !isValidFieldValue(type, v)) {
      notes.add(`${canonical} in the output text is not a valid ${type}`);
      return undefined;
    }
    return v;
  };

  const target: Target = {};
  const host = alert.host && isValidFieldValue('hostname', alert.host) ? alert.host : undefined;
  const node = host ?? fieldOf(PLAN.node);
  if (node) target.node = node;
  const ns = fieldOf(PLAN.ns);
  if (ns) target.namespace = ns;
  const pod = fieldOf(PLAN.pod);
  if (pod) target.pod = pod;
  const container = fieldOf(PLAN.container);
  if (container) target.container = container;

  /**
   * A file path field: the first of `names` the event has. Falco's structured fields (or an
   * unambiguous text reading) give the path; a text that allows several readings gives them all
   * as candidates, never nothing.
   */
  const filePath = (names: readonly string[]): { path: string } | { candidates: string[]; name: string; total: number } | undefined => {
    for (const name of names) {
      const v = field(name);
      if (v !== undefined && v.trim() !== '') {
        if (isValidFieldValue('path', v)) return { path: v };
        notes.add(`${canonicalFieldName(name)} is not an absolute path and was not used as the file`);
        continue;
      }
      const canonical = canonicalFieldName(name);
      const text = textOf();
      const readings = readingsOf(text, canonical);
      if (isAmbiguous(text, canonical) && readings) {
        const usable = [...new Set(readings.filter((r) => isValidFieldValue('path', r) && r.trim() !== ''))];
        if (usable.length > 1) return { candidates: usable.slice(0, MAX_READINGS), name: canonical, total: usable.length };
        if (usable.length === 1) return { path: usable[0]! };
      }
    }
    return undefined;
  };

  let artifact: Artifact | undefined;
  if (route === 'file-artifact' || (artifactRule?.artifact && route !== 'ignore' && route !== 'test')) {
    const pathFields = artifactRule?.artifact?.path ?? ['artifact_path', 'dst'];
    const found = filePath(pathFields);
    const srcFound = filePath(artifactRule?.artifact?.src ?? ['src']);
    const src = srcFound && 'path' in srcFound ? srcFound.path : undefined;
    if (found && 'path' in found) {
      artifact = { path: found.path, ...(src ? { src } : {}) };
    } else if (found) {
      artifact = { candidates: found.candidates, ...(src ? { src } : {}) };
      notes.delete(`${found.name} is ambiguous in the output text and was not used`);
      const more = found.total > MAX_READINGS ? ` (the first ${MAX_READINGS} of more than ${MAX_READINGS} are listed)` : '';
      warnings.push(
        `the file path (${found.name}) has ${found.candidates.length} possible readings in the output text${more}: containment asks a person, listing every reading`,
      );
    } else if (route === 'file-artifact') {
      warnings.push(`no file path (looked for ${pathFields.join(', ')})`);
    }
  }

  let ioc: Ioc | undefined;
  if (route === 'block-egress') {
    ioc = extractIoc(alert, field);
    if (!ioc) warnings.push('no attacker IP found in output_fields or the rule-written Attacker_IP/Attacker_Port text');
  }

  const context: Record<string, string> = {};
  for (const plan of CONTEXT_PLANS) {
    const v = fieldOf(plan);
    if (v !== undefined) context[plan.name] = clip(v);
  }
  if (alert.uuid) context.uuid = alert.uuid;
  context.priority = alert.priority;
  if (alert.tag && alert.tag !== alert.ruleName) context.tag = clip(alert.tag);
  if (notes.size !== 0) for (const note of notes) warnings.push(note);

  // Text lines carry no rule name: a stock rule known by its output prefix is named by its configured rule name.
  const rule = known?.name ?? alert.tag;
  const custom = customFields(of);
  const identity: Record<string, string | number | undefined> = {
    rule,
    node: target.node,
    ns: target.namespace,
    pod: target.pod,
    container: target.container,
    ip: ioc?.ip,
    port: ioc?.port,
    path: artifact?.path,
    user: fieldOf(PLAN.user),
    proc: fieldOf(PLAN.proc),
    exepath: fieldOf(PLAN.exepath),
    cmdline: fieldOf(PLAN.cmdline),
  };
  // A file's source is part of its identity: another upload moved to the same path is another incident.
  if (artifact?.src !== undefined) identity.src = artifact.src;
  if (artifact?.candidates) identity.candidates = artifact.candidates.join('\n');
  // The cluster (and any other custom field) is part of the identity: the same pod name in two clusters is two incidents.
  if (custom) identity.custom = JSON.stringify(Object.entries(custom).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  const key = dedupeKey('falco', identity);

  // Built in key order without spreads (this runs for every event).
  const result = { source: 'falco', rule: clip(rule), severity: severityOfFalcoPriority(alert.priority), route, target } as TriageResult;
  if (artifact) result.artifact = artifact;
  if (ioc) result.ioc = ioc;
  result.dedupeKey = key;
  result.steps = planSteps(route, { hasIoc: Boolean(ioc), hasArtifact: Boolean(artifact?.path), ambiguousArtifact: Boolean(artifact?.candidates) });
  if (alert.time) result.time = alert.time;
  result.context = context;
  result.warnings = warnings;
  if (combined.dryRun && route !== 'ignore' && route !== 'test') result.observe = true;
  if (custom) result.custom = custom;
  if (!options.explain) return { result };

  const event = [
    known ? `rule ${JSON.stringify(known.name)} (${known.from === 'json' ? "the JSON output's rule field" : 'known by its output prefix'})` : 'rule: none (a text line whose output no configured prefix names)',
    `tag ${JSON.stringify(alert.tag)}`,
    `priority ${alert.priority}`,
    `source ${alert.source === undefined ? 'none' : JSON.stringify(alert.source)}`,
    `tags ${alert.tags.length ? `[${alert.tags.map((t) => JSON.stringify(t)).join(', ')}]` : 'none'}`,
    alert.hasOutputFields ? `output_fields: ${Object.keys(of).length} keys${custom ? `, custom: ${Object.keys(custom).join(', ')}` : ''}` : 'output_fields: none (fields come from the text)',
    templates ? `template ${JSON.stringify(templates.key)}: ${templated ? 'fits' : 'does not fit (read as key=value, not used for matching)'}` : 'template: none (text read as key=value, not used for matching)',
  ];
  const decision: string[] = [];
  if (combined.routeFrom) decision.push(`route ${chosen} from ${ruleLabel(combined.routeFrom)}`);
  else decision.push(`route ${chosen}: falco.defaultRoute (${combined.taken.length ? 'the matched rules name no route' : 'no rule matched'})`);
  for (const m of combined.taken) if (m !== combined.routeFrom && !combined.notRun.includes(m)) decision.push(`${ruleLabel(m)} joins the plan${m.rule.route ? ` (same route ${m.rule.route})` : ''}`);
  decision.push(...notRunWarnings(combined));
  if (combined.dryRun) decision.push('dry run: a matched rule has dryRun (or observe): every action of the playbook shows its plan and changes nothing');
  if (belowMinimum) decision.push(chosen === 'test' ? `priority ${alert.priority} is below falco.minPriority (${config.falco.minPriority}), which does not apply to the test route` : `priority ${alert.priority} is below falco.minPriority (${config.falco.minPriority}): ignore`);
  return { result, explanation: { event, rules: match.explained ?? [], decision } };
}

const ATTACKER_AT_START = /^Attacker_IP: (\S+) Attacker_Port: (\d{1,5})(?=\s|$)/;

function ioc(raw: string | undefined, port: string | undefined): Ioc | undefined {
  // One canonical form (sentinel's IP module): the dedupe key, the block and the list agree on it.
  // Plain dotted IPv4 is its own canonical form.
  const ip = raw ? (isPlainIpv4(raw) ? raw : canonicalIp(raw)) : undefined;
  if (!ip) return undefined;
  const p = port !== undefined && /^\d{1,5}$/.test(port) && Number(port) >= 1 && Number(port) <= 65535 ? Number(port) : undefined;
  return p === undefined ? { ip } : { ip, port: p };
}

/**
 * The attacker endpoint: output_fields first (fd.rip or fd.sip with fd.rport,
 * then the fd.name connection), then fields the rule wrote in a fixed place
 * (template fields, or `Attacker_IP: … Attacker_Port: …` right after the tag).
 * Never from free text such as a command line.
 */
function extractIoc(alert: FalcoAlert, field: (name: string) => string | undefined): Ioc | undefined {
  const of = alert.outputFields;
  const fromFields = ioc(scalar(of['fd.rip']) ?? scalar(of['fd.sip']), scalar(of['fd.rport']));
  if (fromFields) return fromFields;
  const conn = scalar(of['fd.name']);
  const parsedConn = conn ? parseConnection(conn) : undefined;
  if (parsedConn) return { ip: parsedConn.remote.ip, port: parsedConn.remote.port };
  const fromTemplate = ioc(field('attacker_ip'), field('attacker_port'));
  if (fromTemplate) return fromTemplate;
  const anchored = ATTACKER_AT_START.exec(alert.afterTag);
  if (anchored) {
    const v = ioc(anchored[1], anchored[2]);
    if (v) return v;
  }
  const fromText = ioc(field('rip') ?? field('sip'), field('rport'));
  if (fromText) return fromText;
  const textConn = field('connection');
  const tc = textConn ? parseConnection(textConn) : undefined;
  return tc ? { ip: tc.remote.ip, port: tc.remote.port } : undefined;
}
