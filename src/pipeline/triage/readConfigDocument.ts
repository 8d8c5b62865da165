import { LineCounter, isMap, isNode, isPair, isScalar, isSeq, parseDocument, type Document } from 'yaml';
import { ConfigError } from '../../errors.js';

/** A line and column, both counted from 1. */
export interface Position {
  line: number;
  col: number;
}

/** A parsed config file, and where each of its values is. */
export interface ConfigDocument {
  value: unknown;
  /**
   * Where the value at `path` is, or the nearest value above it that exists. With `key`, where
   * that key of the map at `path` is written (for an unknown key).
   */
  locate(path: readonly PropertyKey[], key?: string): Position | undefined;
}

/** Most aliases a YAML file may expand (a "billion laughs" file is refused, not expanded). */
const MAX_ALIASES = 100;

function firstLine(message: string): string {
  return message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
}

/** The value of `key` in a YAML map node, as a node. */
function child(node: unknown, key: PropertyKey): unknown {
  if (isMap(node)) return node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(key))?.value;
  if (isSeq(node) && typeof key === 'number') return node.items[key];
  return undefined;
}

function locator(doc: Document | undefined, lines: LineCounter): ConfigDocument['locate'] {
  return (path, key) => {
    if (!doc) return undefined;
    const at = (offset: number | undefined): Position | undefined => (offset === undefined ? undefined : lines.linePos(offset));
    // Walk down as far as the file goes. An index into something that is not a list is a single
    // value the schema reads as a list of one (a field's conditions): it stays on that value.
    let node: unknown = doc.contents;
    let whole = true;
    for (const p of path) {
      if (typeof p === 'number' && !isSeq(node)) continue;
      const next = child(node, p);
      if (!isNode(next)) {
        whole = false;
        break;
      }
      node = next;
    }
    if (!isNode(node)) return undefined;
    if (key !== undefined && whole && isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === key);
      if (pair && isNode(pair.key)) return at(pair.key.range?.[0]);
    }
    return at(node.range?.[0]);
  };
}

/**
 * Parses a playbook config as JSON or YAML. JSON is parsed by JSON.parse (its meaning does not
 * change) and read again as YAML only to know where each value is. YAML is YAML 1.2 (`no` and
 * `on` stay strings); duplicate keys, unknown tags and too many aliases are refused. Errors name
 * the file, line and column.
 */
export function readConfigDocument(text: string, location: string, format: 'json' | 'yaml'): ConfigDocument {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: true, uniqueKeys: true, strict: true });
  if (format === 'json') {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      throw new ConfigError(`Invalid playbook config: ${location}: not valid JSON: ${(err as Error).message}`, { cause: err });
    }
    return { value, locate: locator(doc.errors.length ? undefined : doc, lines) };
  }
  const problems = [...doc.errors, ...doc.warnings].map((e) => {
    const pos = e.linePos?.[0];
    return `${location}${pos ? `:${pos.line}:${pos.col}` : ''}: ${firstLine(e.message)}`;
  });
  if (problems.length) throw new ConfigError(`Invalid playbook config:\n  ${problems.join('\n  ')}`, { details: { problems } });
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: MAX_ALIASES });
  } catch (err) {
    throw new ConfigError(`Invalid playbook config: ${location}: ${(err as Error).message}`, { cause: err });
  }
  return { value, locate: locator(doc, lines) };
}
