import type { FalcoRuleConfig } from './playbookConfig.js';

/**
 * The config's Falco rules indexed by what identifies an event's rule (its Falco rule name, its
 * tag, the start of its output), so that triage looks only at the rules that can be the event's
 * instead of testing every rule's lists for every event. Built once per config (the rules array
 * is frozen) and kept while the config lives.
 */
export interface FalcoRuleIndex {
  /**
   * The positions, ascending, of the rules an event can match: those naming its rule or its tag,
   * those with an output prefix it starts with, and those that name none of the three (they are
   * identified by their other conditions alone). Every other rule fails on identity.
   */
  candidates(ruleName: string | undefined, tag: string, body: string): readonly number[];
  /** The rule name of the first rule (in config order) that names one and has an output prefix `body` starts with. */
  ruleNameByPrefix(body: string): string | undefined;
}

interface PrefixEntry {
  prefix: string;
  index: number;
}

const cache = new WeakMap<readonly FalcoRuleConfig[], FalcoRuleIndex>();
const NONE: readonly number[] = Object.freeze([]);

function add<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

/**
 * Prefix entries by their first UTF-16 unit (a body can start only with those of its own first
 * unit); an empty prefix, which every body starts with, under -1.
 */
function addPrefix(buckets: Map<number, PrefixEntry[]>, entry: PrefixEntry): void {
  add(buckets, entry.prefix === '' ? -1 : entry.prefix.charCodeAt(0), entry);
}

function matching(buckets: ReadonlyMap<number, readonly PrefixEntry[]>, body: string): PrefixEntry[] {
  const out: PrefixEntry[] = [];
  const bucket = body === '' ? undefined : buckets.get(body.charCodeAt(0));
  if (bucket) for (const e of bucket) if (body.startsWith(e.prefix)) out.push(e);
  for (const e of buckets.get(-1) ?? []) out.push(e);
  return out;
}

function build(rules: readonly FalcoRuleConfig[]): FalcoRuleIndex {
  const always: number[] = [];
  const byName = new Map<string, number[]>();
  const byTag = new Map<string, number[]>();
  const prefixes = new Map<number, PrefixEntry[]>();
  const named = new Map<number, PrefixEntry[]>();
  rules.forEach((r, index) => {
    const m = r.match;
    if (m.rule === undefined && m.tag === undefined && m.outputPrefix === undefined) always.push(index);
    for (const name of m.rule ?? []) add(byName, name, index);
    for (const tag of m.tag ?? []) add(byTag, tag, index);
    for (const prefix of m.outputPrefix ?? []) {
      addPrefix(prefixes, { prefix, index });
      if (m.rule?.[0] !== undefined) addPrefix(named, { prefix, index });
    }
  });
  return {
    candidates(ruleName, tag, body) {
      const named = ruleName === undefined ? undefined : byName.get(ruleName);
      const tagged = tag === '' ? undefined : byTag.get(tag);
      // The common case: no rule by output prefix, and one list alone (already ascending, no repeats), given as it is.
      if (always.length === 0 && !prefixes.has(-1)) {
        const bucket = body === '' ? undefined : prefixes.get(body.charCodeAt(0));
        let byPrefix = false;
        if (bucket) for (const e of bucket) if (body.startsWith(e.prefix)) byPrefix = true;
        if (!byPrefix) {
          if (named === undefined) return tagged ?? NONE;
          if (tagged === undefined) return named;
        }
      }
      const out: number[] = always.slice();
      if (named !== undefined) for (const i of named) out.push(i);
      if (tagged !== undefined) for (const i of tagged) out.push(i);
      for (const e of matching(prefixes, body)) out.push(e.index);
      if (out.length < 2) return out;
      out.sort((a, b) => a - b);
      let n = 1;
      for (let i = 1; i < out.length; i++) if (out[i] !== out[n - 1]) out[n++] = out[i]!;
      out.length = n;
      return out;
    },
    ruleNameByPrefix(body) {
      const hits = matching(named, body);
      let best: number | undefined;
      for (const e of hits) if (best === undefined || e.index < best) best = e.index;
      return best === undefined ? undefined : rules[best]!.match.rule![0];
    },
  };
}

/** The index of a config's Falco rules (built on first use). */
export function indexFalcoRules(rules: readonly FalcoRuleConfig[]): FalcoRuleIndex {
  // A bot has one config: the last one's index without a WeakMap lookup.
  if (last?.rules === rules) return last.index;
  let index = cache.get(rules);
  if (!index) {
    index = build(rules);
    cache.set(rules, index);
  }
  last = { rules, index };
  return index;
}

let last: { rules: readonly FalcoRuleConfig[]; index: FalcoRuleIndex } | undefined;
