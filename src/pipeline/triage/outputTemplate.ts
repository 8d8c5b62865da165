import { canonicalFieldName, fieldTypeOf, FIELD_TYPES, type FieldType } from './fieldTypes.js';

/**
 * An output template describes how a Falco rule writes its output after the
 * tag, e.g. `reason={reason} artifact_path={artifact_path} proc={proc}`.
 * `{name}` takes the canonical field's type; `{name:type}` sets it.
 */
export interface OutputTemplate {
  /** literals[i] precedes fields[i]; literals has one more entry than fields (the tail). */
  literals: string[];
  fields: { name: string; type: FieldType }[];
  /** Fields typed other than their canonical type (`{pod:token}`): their values are checked again when used. */
  loose: ReadonlySet<string>;
  /** How to find the separators in one pass, when that can be done (see Separators); null otherwise. */
  separators: Separators | null;
}

/**
 * For a template whose separators (literals 1 to n-1) are distinct and none inside another: a
 * regular expression matching any of them, so that one split of a text finds their occurrences in
 * order. A split cannot see an occurrence that starts inside the one before it (the end of
 * ` Port: ` is the start of ` User: `); `overlaps` lists, for each separator, where such an
 * occurrence could start and which separator it would be, so that the reader can look there.
 */
export interface Separators {
  pattern: RegExp;
  overlaps: ReadonlyMap<string, readonly SeparatorOverlap[]>;
}

export interface SeparatorOverlap {
  /** Where in the separator the other one would start. */
  at: number;
  literal: string;
  /** The character the text must have right after the separator for it to be there. */
  next: number;
}

const REGEX_SPECIAL = /[.*+?^${}()|[\]\\]/g;

function separatorsOf(literals: readonly string[]): Separators | null {
  const inner = literals.slice(1, -1);
  if (inner.length === 0 || inner.some((l) => l === '') || new Set(inner).size !== inner.length) return null;
  if (inner.some((a) => inner.some((b) => a !== b && b.includes(a)))) return null;
  const overlaps = new Map<string, SeparatorOverlap[]>();
  for (const s of inner) {
    const list: SeparatorOverlap[] = [];
    for (let at = 1; at < s.length; at++) {
      const rest = s.slice(at);
      for (const literal of inner) if (literal.length > rest.length && literal.startsWith(rest)) list.push({ at, literal, next: literal.charCodeAt(rest.length) });
    }
    if (list.length) overlaps.set(s, list);
  }
  return { pattern: new RegExp(`(${inner.map((l) => l.replace(REGEX_SPECIAL, '\\$&')).join('|')})`), overlaps };
}

const PLACEHOLDER = /\{([A-Za-z_][A-Za-z0-9_.]*)(?::([A-Za-z0-9]+))?\}/g;

/** Compiles a template string; throws with the reason when it is malformed. */
export function compileOutputTemplate(template: string): OutputTemplate {
  const literals: string[] = [];
  const fields: OutputTemplate['fields'] = [];
  let last = 0;
  for (const m of template.matchAll(PLACEHOLDER)) {
    const literal = template.slice(last, m.index);
    if (fields.length > 0 && literal.length === 0) {
      throw new Error(`fields {${fields[fields.length - 1]!.name}} and {${m[1]}} have nothing between them`);
    }
    literals.push(literal);
    const name = canonicalFieldName(m[1]!);
    const type = (m[2] ?? fieldTypeOf(name)) as FieldType;
    if (!FIELD_TYPES.includes(type)) throw new Error(`unknown field type "${m[2]}" (expected one of ${FIELD_TYPES.join(', ')})`);
    if (fields.some((f) => f.name === name)) throw new Error(`field {${name}} appears twice`);
    fields.push({ name, type });
    last = m.index + m[0].length;
  }
  if (fields.length === 0) throw new Error('a template needs at least one {field}');
  if (/[{}]/.test(template.replace(PLACEHOLDER, ''))) throw new Error('unbalanced or malformed { } in template');
  literals.push(template.slice(last));
  return { literals, fields, loose: new Set(fields.filter((f) => f.type !== fieldTypeOf(f.name)).map((f) => f.name)), separators: separatorsOf(literals) };
}
