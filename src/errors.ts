/**
 * The one errors module. Everything thrown inside sentinel is a SentinelError;
 * only a boundary (CLI command, SQS handler, button or slash command handler)
 * catches them and turns them into replies and log lines.
 */
export interface SentinelErrorOptions {
  cause?: unknown;
  /** Machine-readable code, e.g. for SendTaskFailure's `error`. */
  code?: string;
  details?: Record<string, unknown>;
}

export class SentinelError extends Error {
  readonly code: string;
  readonly details: Record<string, unknown>;

  constructor(message: string, options: SentinelErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = options.code ?? new.target.name.replace(/Error$/, '');
    this.details = options.details ?? {};
  }
}

/** An expected refusal: the user asked for something sentinel will not do. Shown as is. */
export class UserError extends SentinelError {}

/** A target sentinel must never touch (protected IP, instance, namespace, path). */
export class ProtectedTargetError extends UserError {}

/** Input that failed validation (event, message, option, file). */
export class ValidationError extends UserError {}

/** A required object does not exist (NACL, instance, pod, file). */
export class NotFoundError extends UserError {}

/** The caller is not allowed to do this. */
export class ForbiddenError extends UserError {}

/** A setting is missing or invalid. */
export class ConfigError extends SentinelError {}

/**
 * An action needs an AWS client sentinel does not have: embedded mode without AWS credentials.
 * Code `AwsNotConfigured`. invokeAction turns it into a `skipped` result carrying the action's
 * plan (what it would do, with which input), so a playbook step reports the plan and goes on.
 */
export class AwsNotConfiguredError extends ConfigError {
  /** The AWS services whose clients are missing, e.g. `['EC2']`. */
  readonly services: readonly string[];

  /** `services`: the missing clients (`'EC2'`, or several); `what`: the consequence, e.g. `cannot deny egress`. */
  constructor(services: string | readonly string[], what: string, options: SentinelErrorOptions = {}) {
    const list = typeof services === 'string' ? [services] : [...services];
    const named = list.length === 1 ? `no ${list[0]} client` : `${list.slice(0, -1).join(', ')} and ${list[list.length - 1]} clients are needed`;
    super(`AWS is not configured (${named}): ${what}`, { ...options, details: { ...options.details, services: list } });
    this.services = list;
  }
}

/** A call to AWS failed. */
export class AwsError extends SentinelError {}

/** A call to the Kubernetes API failed. */
export class KubernetesError extends SentinelError {}

/** A call to Discord failed. */
export class DiscordError extends SentinelError {}

/** A limit was reached (NACL rule quota, file size limit). */
export class LimitExceededError extends UserError {}

/** Something was already decided or claimed by someone else. */
export class ConflictError extends UserError {}

export function isUserError(err: unknown): err is UserError {
  return err instanceof UserError;
}

/** A short, safe description of any thrown value. */
export function describeError(err: unknown): string {
  if (err instanceof Error) return err.message;
  if (typeof err === 'string') return err;
  try {
    return JSON.stringify(err);
  } catch {
    return String(err);
  }
}
