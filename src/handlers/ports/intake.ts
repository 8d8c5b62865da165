/**
 * Which queue a message came from. `intake` carries events only (Falcosidekick, EventBridge);
 * `control` carries the playbooks' own messages (steps, approval requests, reports), and only
 * the state machines may send to it.
 */
export type IntakeSource = 'intake' | 'control';

/** One message from the intake, whatever carried it. */
export interface IntakeMessage {
  id: string;
  body: string | undefined;
  /** How many times this message has been delivered (1 on first delivery). */
  receiveCount: number;
  source: IntakeSource;
  /** Who sent it, as the transport authenticated it (SQS `SenderId`: an IAM user or role id, `<role id>:<session>`). */
  senderId?: string;
  /** When the transport accepted it (SQS `SentTimestamp`). */
  sentAt?: Date;
  /** What carried it: SQS, the webhook, or the embedded engine's in-process queue. */
  transport?: 'sqs' | 'webhook' | 'embedded';
}

/** `done`: delete the message. `retry`: leave it for redelivery (and, after enough tries, the DLQ). */
export type IntakeOutcome = 'done' | 'retry';
export type IntakeHandler = (message: IntakeMessage) => Promise<IntakeOutcome>;

/** Where messages come from: SQS today, an HTTP intake for Falcosidekick's webhook later. */
export interface Intake {
  start(handler: IntakeHandler): void;
  /** Stops receiving, waits for messages in flight, then resolves. */
  stop(): Promise<void>;
  isRunning(): boolean;
}
