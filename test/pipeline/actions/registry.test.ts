import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { actionRegistry, createActionRegistry, loadAllActions } from '../../../src/pipeline/actions/registry.js';
import type { AnyActionDefinition } from '../../../src/pipeline/actions/types.js';
import { invokeAction } from '../../../src/pipeline/invokeAction.js';
import { testDeps } from '../../helpers/deps.js';
import { identityStatements, world } from '../../support/cloudformation/template.js';

const ACTIONS = await loadAllActions();

/** The bot's statements in deploy/cloudformation/sentinel.json (parameter defaults, a cluster VPC and name). */
const botStatements = ['BotIntakePolicy', 'BotContainmentPolicy', 'BotForensicsPolicy'].flatMap((p) => identityStatements(world())[p]!);

/** Actions that change what sentinel contains or runs things on: IAM must bound them by condition, not only by resource. */
const CONDITIONED = [
  'ssm:SendCommand',
  'ec2:ModifyNetworkInterfaceAttribute',
  'ec2:CreateNetworkAclEntry',
  'ec2:DeleteNetworkAclEntry',
  'ec2:StopInstances',
  'ec2:StartInstances',
  'autoscaling:EnterStandby',
  'autoscaling:ExitStandby',
];

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

  it('is granted by the CloudFormation template, permission by permission', () => {
    const granted = new Set(botStatements.filter((st) => st.Effect === 'Allow').flatMap((st) => st.Action));
    for (const def of Object.values(ACTIONS)) for (const perm of def.permissions.iam) expect(granted.has(perm), `${def.id} ${perm}`).toBe(true);
  });

  it('gets its containment and command permissions from the template only under conditions', () => {
    const declared = new Set(Object.values(ACTIONS).flatMap((def) => def.permissions.iam));
    for (const action of CONDITIONED) {
      expect(declared.has(action), `${action} is declared by some action`).toBe(true);
      const grants = botStatements.filter((st) => st.Effect === 'Allow' && st.Action.includes(action));
      expect(grants.length, action).toBeGreaterThan(0);
      // Every grant is conditioned, except ssm:SendCommand's grant on sentinel's own documents (a document is not a target).
      for (const st of grants) {
        const onlyDocuments = st.Resource.every((r) => r.includes(':document/'));
        if (!onlyDocuments) expect(st.Condition, `${action} ${st.Sid ?? ''}`).toBeDefined();
      }
    }
  });
});

describe('action registry: each action loaded on its first use', () => {
  /** A loader that counts its calls and resolves when told, so that two first uses overlap. */
  function gatedLoader(definition: AnyActionDefinition) {
    let calls = 0;
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    const loader = async () => {
      calls += 1;
      await gate;
      return definition;
    };
    return { loader, open: () => open(), calls: () => calls };
  }

  it('names every action without loading any', () => {
    const registry = actionRegistry();
    expect(Object.keys(registry).sort()).toEqual(Object.keys(ACTIONS).sort());
    for (const [id, action] of Object.entries(registry)) expect(action.id).toBe(id);
  });

  it('loads an action once when its first two uses overlap, and keeps it', async () => {
    const denyEgress = ACTIONS['deny-egress']!;
    const gated = gatedLoader(denyEgress);
    const registry = createActionRegistry({ 'deny-egress': gated.loader });
    const first = registry['deny-egress']!.load();
    const second = registry['deny-egress']!.load();
    gated.open();
    const [a, b] = await Promise.all([first, second]);
    expect(a).toBe(denyEgress);
    expect(b).toBe(denyEgress);
    expect(await registry['deny-egress']!.load()).toBe(denyEgress);
    expect(gated.calls()).toBe(1);
  });

  it('tries a failed load again at the next use', async () => {
    let calls = 0;
    const registry = createActionRegistry({
      'deny-egress': async () => {
        calls += 1;
        if (calls === 1) throw new Error('disk hiccup');
        return ACTIONS['deny-egress']!;
      },
    });
    await expect(registry['deny-egress']!.load()).rejects.toThrow('disk hiccup');
    expect(await registry['deny-egress']!.load()).toBe(ACTIONS['deny-egress']);
    expect(calls).toBe(2);
  });

  it('refuses a module whose action has another id than the one it is registered under', async () => {
    const registry = createActionRegistry({ 'isolate-node': async () => ACTIONS['deny-egress']! });
    await expect(registry['isolate-node']!.load()).rejects.toThrow('the action registered as isolate-node is defined as deny-egress');
  });

  it('runs a registered action through invokeAction, loading it then; a module that fails to load is a failed, retryable result', async () => {
    const deps = testDeps({ aws: {} });
    const input = { ip: '203.0.113.9', source: 'falco' };
    const registry = actionRegistry();
    const viaRegistry = await invokeAction(registry['add-malicious-ip']!, input, { actor: 'cli', incidentId: 'inc-lazy', dryRun: true }, deps);
    const direct = await invokeAction(ACTIONS['add-malicious-ip']!, input, { actor: 'cli', incidentId: 'inc-lazy', dryRun: true }, deps);
    expect(viaRegistry.summary.length).toBeGreaterThan(0);
    expect(viaRegistry).toEqual(direct);
    const broken = createActionRegistry({ 'add-malicious-ip': async () => Promise.reject(new Error('Cannot find module ./addMaliciousIp.js')) });
    const failed = await invokeAction(broken['add-malicious-ip']!, { ip: '203.0.113.9', source: 'falco' }, { actor: 'cli', incidentId: 'inc-lazy' }, deps);
    expect(failed).toEqual({
      status: 'failed',
      summary: 'the add-malicious-ip action could not be loaded: Cannot find module ./addMaliciousIp.js',
      details: { error: 'InternalError', final: false },
    });
  });
});
