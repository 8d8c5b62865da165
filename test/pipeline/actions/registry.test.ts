import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ACTIONS } from '../../../src/pipeline/actions/registry.js';
import { identityStatements, world } from '../../support/cloudformation/template.js';

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
