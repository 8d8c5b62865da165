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
  return { literals, fields, loose: new Set(fields.filter((f) => f.type !== fieldTypeOf(f.name)).map((f) => f.name)) };
}
