import { UserError } from '../../errors.js';
import type { Route } from '../../pipeline/triage/types.js';

/** The task token is no longer usable: the execution moved on, timed out or ended. */
export class TaskGoneError extends UserError {}

/** The codes Step Functions (and the embedded engine) answer for a token that no longer waits. */
export const TASK_GONE_CODES = ['TaskTimedOut', 'TaskDoesNotExist', 'InvalidToken'] as const;
export type TaskGoneCode = (typeof TASK_GONE_CODES)[number];

export interface StartResult {
  executionArn: string;
  /** False when an execution of that name already existed (a redelivery). */
  started: boolean;
}

/** The durable playbook engine: Step Functions, or in-process in embedded mode. */
export interface PlaybookEngine {
  /** Starts the route's playbook under a name derived from the dedupe key; starting twice is harmless. */
  start(route: Route, executionName: string, input: object): Promise<StartResult>;
  /** Resumes a waiting task with its output. */
  taskSucceeded(taskToken: string, output: object): Promise<void>;
  /** Fails a waiting task with an error code and cause. */
  taskFailed(taskToken: string, error: string, cause: string): Promise<void>;
  /**
   * Tells the engine the task is still being worked on; resolves only when the task still waits,
   * so it also proves a token is live before a step acts. Throws TaskGoneError when it does not.
   */
  heartbeat(taskToken: string): Promise<void>;
}
