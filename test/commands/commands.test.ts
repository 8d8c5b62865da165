import { describe, expect, it } from 'vitest';
import { commandDefinitions } from '../../commands/index.js';
import { COMMAND_HANDLERS } from '../../src/handlers/routeInteraction.js';

describe('slash command definitions', () => {
  it('build within Discord limits and have a handler each', () => {
    const defs = commandDefinitions();
    expect(defs.map((d) => d.name).sort()).toEqual(['evidence', 'isolate', 'unblock']);
    for (const d of defs) {
      expect(d.description.length).toBeLessThanOrEqual(100);
      expect(Object.keys(COMMAND_HANDLERS)).toContain(d.name);
      expect(JSON.stringify(d).length).toBeLessThan(8000);
    }
  });

  it('require a reason for /isolate; /unblock takes an ip (and port) or one block by id', () => {
    const byName = Object.fromEntries(commandDefinitions().map((d) => [d.name, d]));
    expect(byName.isolate!.options!.find((o) => o.name === 'reason')).toMatchObject({ required: true });
    expect(byName.unblock!.options!.map((o) => o.name)).toEqual(['ip', 'port', 'block']);
    expect(byName.unblock!.options!.filter((o) => 'required' in o && o.required)).toEqual([]);
  });
});
