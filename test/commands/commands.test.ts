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

  it('/isolate has terminate (with force and grace); /evidence has logs and capture beside collect and show', () => {
    const byName = Object.fromEntries(commandDefinitions().map((d) => [d.name, d]));
    expect(byName.isolate!.options!.map((o) => o.name)).toEqual(['reason', 'node', 'pod', 'release', 'terminate', 'force', 'grace']);
    expect(byName.isolate!.options!.find((o) => o.name === 'grace')).toMatchObject({ min_value: 1, max_value: 3600 });
    const subs = (byName.evidence!.options ?? []) as { name: string; options?: { name: string; required?: boolean }[] }[];
    expect(subs.map((s) => s.name)).toEqual(['collect', 'logs', 'capture', 'show']);
    const logs = subs.find((s) => s.name === 'logs')!.options!;
    expect(logs.map((o) => o.name)).toEqual(['namespace', 'pod', 'container', 'previous', 'tail']);
    expect(logs.filter((o) => o.required).map((o) => o.name)).toEqual(['namespace', 'pod']);
    const capture = subs.find((s) => s.name === 'capture')!.options!;
    expect(capture.map((o) => o.name)).toEqual(['namespace', 'pod', 'seconds', 'packets', 'host', 'port']);
    for (const s of subs) expect((s as { description?: string }).description?.length ?? 0).toBeLessThanOrEqual(100);
  });
});
