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
  /** How to find every occurrence of every separator in one pass over a text (see SeparatorScan). */
  scan: SeparatorScan;
  /** Each field's position in `fields`, by name. */
  fieldIndex: ReadonlyMap<string, number>;
  /**
   * Whether a reading can be kept as values by position (fieldIndex) and looked up by name: false
   * when a field's name is also a property every object has (`constructor`, `__proto__`…), which
   * a reading kept as an object (ParsedFields.fields) answers differently.
   */
  plainNames: boolean;
}

/**
 * The separators (literals 1 to n-1, never empty) grouped by their first character, for finding
 * every occurrence of every separator, overlapping ones included, in one pass over a text: the
 * reader jumps from one occurrence of a group's first character to the next (indexOf) and compares
 * there only the group's separators whose second character is the text's next one.
 */
export interface SeparatorScan {
  groups: readonly ScanGroup[];
  /** Scratch space of the reader (one reading at a time): where separator i was found, and how many times. */
  at: Int32Array;
  count: Uint8Array;
}

export interface ScanGroup {
  /** The first character, as a one-character string for indexOf. */
  first: string;
  /** The group's one-character separators (their literal index). */
  single: readonly number[];
  /** The longer ones, by their second character (`bySecond.get(code)`): literal index and text. */
  bySecond: ReadonlyMap<number, readonly ScanEntry[]>;
  /** The same for a second character in ASCII, by its code (an array lookup). */
  asciiSecond: readonly (readonly ScanEntry[] | undefined)[];
}

export interface ScanEntry {
  literal: number;
  text: string;
  /** Its last character's code (compared first: separators that share a start differ there soonest). */
  last: number;
}

function scanOf(literals: readonly string[]): SeparatorScan {
  const groups = new Map<string, { first: string; single: number[]; bySecond: Map<number, ScanEntry[]>; asciiSecond: (ScanEntry[] | undefined)[] }>();
  for (let i = 1; i < literals.length - 1; i++) {
    const literal = literals[i]!;
    const first = literal[0]!;
    let group = groups.get(first);
    if (!group) groups.set(first, (group = { first, single: [], bySecond: new Map(), asciiSecond: new Array<ScanEntry[] | undefined>(128).fill(undefined) }));
    if (literal.length === 1) {
      group.single.push(i);
    } else {
      const second = literal.charCodeAt(1);
      const list = group.bySecond.get(second) ?? [];
      list.push({ literal: i, text: literal, last: literal.charCodeAt(literal.length - 1) });
      group.bySecond.set(second, list);
      if (second < 128) group.asciiSecond[second] = list;
    }
  }
  return { groups: [...groups.values()], at: new Int32Array(literals.length), count: new Uint8Array(literals.length) };
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
  return {
    literals,
    fields,
    loose: new Set(fields.filter((f) => f.type !== fieldTypeOf(f.name)).map((f) => f.name)),
    scan: scanOf(literals),
    fieldIndex: new Map(fields.map((f, i) => [f.name, i])),
    plainNames: fields.every((f) => !(f.name in Object.prototype)),
  };
}
