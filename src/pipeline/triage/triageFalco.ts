import { canonicalIp } from '../net/ipAddress.js';
import { dedupeKey } from './dedupeKey.js';
import { falcoPriorityRank, severityOfFalcoPriority } from './falcoPriority.js';
import { isValidFieldValue, fieldTypeOf, canonicalFieldName } from './fieldTypes.js';
import type { FalcoAlert } from './normalizeFalco.js';
import { parseConnection } from './parseConnection.js';
import { MAX_READINGS, parseKeyValues, parseWithTemplate, type ParsedFields } from './parseOutputText.js';
import { planSteps } from './planSteps.js';
import type { FalcoRuleConfig, PlaybookConfig } from './playbookConfig.js';
import type { Artifact, Ioc, Route, Target, TriageResult } from './types.js';

const CONTEXT_MAX = 4096;

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

function passesFilters(rule: FalcoRuleConfig, alert: FalcoAlert): boolean {
  const m = rule.match;
  if (m.tags && !m.tags.some((t) => alert.tags.includes(t))) return false;
  if (m.minPriority && falcoPriorityRank(alert.priority) < falcoPriorityRank(m.minPriority)) return false;
  return true;
}

/**
 * The config rule for an alert. What Falco says the rule is decides: the rule
 * name first (JSON output), then the tag that opens the output or a stock
 * rule's output prefix, then rules that match on tags alone. Within each pass
 * the first rule in config order wins.
 */
function findRule(config: PlaybookConfig, alert: FalcoAlert): FalcoRuleConfig | undefined {
  const { rules, index } = config.falco;
  const first = (positions: readonly number[] | undefined, extra?: (r: FalcoRuleConfig) => boolean) => {
    if (!positions) return undefined;
    for (const i of positions) {
      const r = rules[i]!;
      if ((!extra || extra(r)) && passesFilters(r, alert)) return i;
    }
    return undefined;
  };
  const byName = alert.ruleName === undefined ? undefined : first(index.byName.get(alert.ruleName));
  if (byName !== undefined) return rules[byName];
  const byTag = first(index.byTag.get(alert.tag));
  const byPrefix = first(index.byPrefix, (r) => r.match.outputPrefix!.some((p) => alert.body.startsWith(p)));
  const byText = byTag === undefined ? byPrefix : byPrefix === undefined ? byTag : Math.min(byTag, byPrefix);
  if (byText !== undefined) return rules[byText];
  const byTags = first(index.byTagsOnly);
  return byTags === undefined ? undefined : rules[byTags];
}

function clip(s: string): string {
  return s.length > CONTEXT_MAX ? `${s.slice(0, CONTEXT_MAX)}…` : s;
}

/** Classifies one normalized Falco alert. Routing reads only the rule name, the leading tag, tags and priority. */
export function triageFalco(alert: FalcoAlert, config: PlaybookConfig): TriageResult {
  const warnings: string[] = [];
  const matched = findRule(config, alert);
  const belowMinimum = falcoPriorityRank(alert.priority) < falcoPriorityRank(config.falco.minPriority);
  const route: Route = belowMinimum ? 'ignore' : (matched?.route ?? config.falco.defaultRoute);

  // Text fields: by the tag's template when it fits, otherwise generic key=value.
  const template = config.falco.templates.get(alert.tag);
  let text: ParsedFields | null = template ? parseWithTemplate(alert.afterTag, template) : null;
  if (template && !text) warnings.push(`output does not fit the ${alert.tag} template; read as key=value`);
  text ??= parseKeyValues(alert.afterTag);
  const of = alert.outputFields;

  const notes = new Set<string>();
  const cache = new Map<string, string | undefined>();
  /** A field from output_fields (trusted structure) first, then from the text. */
  const field = (name: string): string | undefined => {
    if (cache.has(name)) return cache.get(name);
    const value = readField(name);
    cache.set(name, value);
    return value;
  };
  const readField = (name: string): string | undefined => {
    const canonical = canonicalFieldName(name);
    const rawKeys = OUTPUT_FIELD_KEYS[name];
    for (const key of rawKeys ?? [name]) {
      const v = scalar(of[key]);
      if (v === undefined || v === '' || v === '<NA>') continue;
      if (isValidFieldValue(fieldTypeOf(canonical), v)) return v;
      notes.add(`output_fields.${key} is not a valid ${fieldTypeOf(canonical)}`);
    }
    if (text!.ambiguous.includes(canonical)) {
      notes.add(`${canonical} is ambiguous in the output text and was not used`);
      return undefined;
    }
    if (text!.invalid.includes(canonical)) notes.add(`${canonical} in the output text is not a valid ${fieldTypeOf(canonical)}`);
    return text!.fields[canonical];
  };

  const target: Target = {};
  const host = alert.host && isValidFieldValue('hostname', alert.host) ? alert.host : undefined;
  const node = host ?? field('node');
  if (node) target.node = node;
  const ns = field('ns');
  if (ns) target.namespace = ns;
  const pod = field('pod');
  if (pod) target.pod = pod;
  const container = field('container');
  if (container) target.container = container;

  /**
   * A file path field: the first of `names` the event has. Falco's structured fields (or an
   * unambiguous text reading) give the path; a text that allows several readings gives them all
   * as candidates, never nothing.
   */
  const filePath = (names: readonly string[]): { path: string } | { candidates: string[]; name: string; total: number } | undefined => {
    for (const name of names) {
      const v = field(name);
      if (v !== undefined && v.trim() !== '') return { path: v };
      const canonical = canonicalFieldName(name);
      const readings = text!.readings[canonical];
      if (text!.ambiguous.includes(canonical) && readings) {
        const usable = [...new Set(readings.filter((r) => isValidFieldValue('path', r) && r.trim() !== ''))];
        if (usable.length > 1) return { candidates: usable.slice(0, MAX_READINGS), name: canonical, total: usable.length };
        if (usable.length === 1) return { path: usable[0]! };
      }
    }
    return undefined;
  };

  let artifact: Artifact | undefined;
  if (route === 'file-artifact' || matched?.artifact) {
    const pathFields = matched?.artifact?.path ?? ['artifact_path', 'dst'];
    const found = filePath(pathFields);
    const srcFound = filePath(matched?.artifact?.src ?? ['src']);
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
  for (const name of ['user', 'proc', 'parent', 'cmdline', 'exepath', 'container_id', 'reason']) {
    const v = field(name);
    if (v !== undefined) context[name] = clip(v);
  }
  if (alert.uuid) context.uuid = alert.uuid;
  context.priority = alert.priority;
  if (alert.tag && alert.tag !== alert.ruleName) context.tag = clip(alert.tag);
  warnings.push(...notes);

  // Text lines carry no rule name: a stock rule matched by its output prefix is named by its configured rule name.
  const byPrefix = matched?.match.outputPrefix?.some((p) => alert.body.startsWith(p));
  const rule = alert.ruleName ?? (byPrefix ? (matched?.match.rule?.[0] ?? matched?.name ?? alert.tag) : alert.tag);
  const identity: Record<string, string | number | undefined> = {
    rule,
    node: target.node,
    ns: target.namespace,
    pod: target.pod,
    container: target.container,
    ip: ioc?.ip,
    port: ioc?.port,
    path: artifact?.path,
    user: field('user'),
    proc: field('proc'),
    exepath: field('exepath'),
    cmdline: field('cmdline'),
  };
  // A file's source is part of its identity: another upload moved to the same path is another incident.
  if (artifact?.src !== undefined) identity.src = artifact.src;
  if (artifact?.candidates) identity.candidates = artifact.candidates.join('\n');
  const key = dedupeKey('falco', identity);

  return {
    source: 'falco',
    rule: clip(rule),
    severity: severityOfFalcoPriority(alert.priority),
    route,
    target,
    ...(artifact ? { artifact } : {}),
    ...(ioc ? { ioc } : {}),
    dedupeKey: key,
    steps: planSteps(route, { hasIoc: Boolean(ioc), hasArtifact: Boolean(artifact?.path), ambiguousArtifact: Boolean(artifact?.candidates) }),
    ...(alert.time ? { time: alert.time } : {}),
    context,
    warnings,
    ...(matched?.observe && route !== 'ignore' ? { observe: true as const } : {}),
  };
}

const ATTACKER_AT_START = /^Attacker_IP: (\S+) Attacker_Port: (\d{1,5})(?=\s|$)/;

function ioc(raw: string | undefined, port: string | undefined): Ioc | undefined {
  // One canonical form (sentinel's IP module): the dedupe key, the block and the list agree on it.
  const ip = raw ? canonicalIp(raw) : undefined;
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
