import type { z } from 'zod';
import type { PipelineSettings } from '../../config.js';
import type { Logger } from '../../logger.js';
import type { AwsClients } from '../../aws/clients.js';
import type { KubeClients } from '../../kube/clients.js';
import type { AwsIpRangesSource } from '../net/awsIpRanges.js';

export type ActionStatus = 'succeeded' | 'skipped' | 'failed';

/** The one result shape every action returns. */
export interface ActionResult<D extends object = Record<string, unknown>> {
  status: ActionStatus;
  /** One human sentence: what happened, or why not. */
  summary: string;
  details: D;
}

/** Who asked and why: recorded with every side effect. */
export interface ActionRequest<I> {
  input: I;
  /** Return the preflight plan; change nothing. */
  dryRun?: boolean;
  /**
   * Who or what asked: `discord:<userId>`, `stepfunctions:<execution>`, `cli`. `stepfunctions:…`
   * is a playbook step acting by itself (automatic); a step a responder approved runs as the
   * approvers (`discord:<id>[,discord:<id>]`).
   */
  actor: string;
  incidentId: string;
  reason?: string;
}

/** Clients and settings, created once at start-up and passed in. Actions use only what they need. */
export interface ActionDeps {
  aws: Partial<AwsClients>;
  kube?: KubeClients;
  settings: PipelineSettings;
  logger: Logger;
  now: () => Date;
  /** AWS's published ranges as the bot keeps them fresh; the bundled copy when absent. */
  awsRanges?: AwsIpRangesSource;
}

export interface RbacRule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
}

export interface ActionPermissions {
  /** IAM actions, e.g. `ec2:CreateNetworkAclEntry`. */
  iam: string[];
  /** Kubernetes RBAC rules. */
  rbac: RbacRule[];
}

/** A registry entry: how to validate input and run the action, and what it needs. */
export interface ActionDefinition<S extends z.ZodType = z.ZodType> {
  id: string;
  description: string;
  permissions: ActionPermissions;
  input: S;
  /**
   * Whether this action (with this input) destroys volatile evidence such as
   * memory; such a step needs a successful capture or a person's waiver first.
   */
  destroysMemory?: boolean | ((input: z.output<S>, settings: PipelineSettings) => boolean);
  /**
   * A containment action (a block or an isolation): run by a playbook step on its own, it counts
   * against SENTINEL_AUTO_CONTAINMENT_CAP, and past the cap the step asks a responder instead.
   */
  containment?: boolean;
  run(request: ActionRequest<z.output<S>>, deps: ActionDeps): Promise<ActionResult<object>>;
}

/** Defines an action with its input type inferred from the schema. */
export function defineAction<S extends z.ZodType>(definition: ActionDefinition<S>): ActionDefinition<S> {
  return definition;
}

export function succeeded<D extends object>(summary: string, details: D): ActionResult<D> {
  return { status: 'succeeded', summary, details };
}

export function skipped<D extends object>(summary: string, details: D): ActionResult<D> {
  return { status: 'skipped', summary, details };
}

/** The result of a dry run: the preflight plan, nothing changed. */
export function planned<D extends object>(summary: string, plan: D): ActionResult<D & { dryRun: true }> {
  return { status: 'skipped', summary: `dry run: ${summary}`, details: { ...plan, dryRun: true } };
}

/** Any action definition, whatever its input schema (for registries). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyActionDefinition = ActionDefinition<any>;
