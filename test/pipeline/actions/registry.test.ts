import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ACTIONS } from '../../../src/pipeline/actions/registry.js';

describe('action registry', () => {
  it('keys every action by its own id', () => {
    for (const [id, def] of Object.entries(ACTIONS)) expect(def.id).toBe(id);
  });

  it('gives every action a description, an input schema and its permissions', () => {
    for (const def of Object.values(ACTIONS)) {
      expect(def.description.length).toBeGreaterThan(10);
      expect(typeof def.input.safeParse).toBe('function');
      expect(def.permissions.iam.length + def.permissions.rbac.length).toBeGreaterThan(0);
      for (const perm of def.permissions.iam) expect(perm).toMatch(/^[a-z0-9-]+:[A-Za-z*]+$/);
    }
  });

  it('is documented in docs/permissions.md, permission by permission', () => {
    const doc = readFileSync(new URL('../../../docs/permissions.md', import.meta.url), 'utf8');
    for (const def of Object.values(ACTIONS)) {
      expect(doc, def.id).toContain(`\`${def.id}\``);
      for (const perm of def.permissions.iam) expect(doc, `${def.id} ${perm}`).toContain(perm);
      for (const rule of def.permissions.rbac) for (const r of rule.resources) expect(doc, `${def.id} ${r}`).toContain(r);
    }
  });
});
