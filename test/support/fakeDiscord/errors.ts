/** Error bodies exactly as Discord's API returns them. */

export interface FieldError {
  code: string;
  message: string;
}

/** Nested error tree: `{ embeds: { 0: { title: { _errors: [...] } } } }`. */
export interface ErrorTree {
  _errors?: FieldError[];
  [key: string]: ErrorTree | FieldError[] | undefined;
}

export interface DiscordErrorBody {
  code: number;
  message: string;
  errors?: ErrorTree;
}

/** Thrown by route handlers; turned into an HTTP response by the server. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly body: DiscordErrorBody,
    readonly headers: Record<string, string> = {},
  ) {
    super(`${status} ${body.code}: ${body.message}`);
    this.name = 'ApiError';
  }
}

/** Collects field errors at paths and renders Discord's nested error tree. */
export class ErrorCollector {
  private readonly root: ErrorTree = {};
  private count = 0;

  add(path: ReadonlyArray<string | number>, code: string, message: string): void {
    let node = this.root;
    for (const segment of path) {
      const key = String(segment);
      const child = node[key];
      if (child === undefined || Array.isArray(child)) {
        const created: ErrorTree = {};
        node[key] = created;
        node = created;
      } else {
        node = child;
      }
    }
    (node._errors ??= []).push({ code, message });
    this.count += 1;
  }

  maxLength(path: ReadonlyArray<string | number>, max: number): void {
    this.add(path, 'BASE_TYPE_MAX_LENGTH', `Must be ${max} or fewer in length.`);
  }

  badLength(path: ReadonlyArray<string | number>, min: number, max: number): void {
    this.add(path, 'BASE_TYPE_BAD_LENGTH', `Must be between ${min} and ${max} in length.`);
  }

  required(path: ReadonlyArray<string | number>): void {
    this.add(path, 'BASE_TYPE_REQUIRED', 'This field is required');
  }

  get size(): number {
    return this.count;
  }

  get tree(): ErrorTree {
    return this.root;
  }

  /** Throws the 50035 Invalid Form Body error if anything was collected. */
  throwIfAny(): void {
    if (this.count > 0) throw invalidFormBody(this.root);
  }
}

export function invalidFormBody(errors: ErrorTree): ApiError {
  return new ApiError(400, { code: 50035, message: 'Invalid Form Body', errors });
}

export const errors = {
  unauthorized: () => new ApiError(401, { message: '401: Unauthorized', code: 0 }),
  notFound: () => new ApiError(404, { message: '404: Not Found', code: 0 }),
  methodNotAllowed: () => new ApiError(405, { message: '405: Method Not Allowed', code: 0 }),
  emptyMessage: () => new ApiError(400, { message: 'Cannot send an empty message', code: 50006 }),
  unknownChannel: () => new ApiError(404, { message: 'Unknown Channel', code: 10003 }),
  unknownGuild: () => new ApiError(404, { message: 'Unknown Guild', code: 10004 }),
  unknownMember: () => new ApiError(404, { message: 'Unknown Member', code: 10007 }),
  unknownMessage: () => new ApiError(404, { message: 'Unknown Message', code: 10008 }),
  unknownRole: () => new ApiError(404, { message: 'Unknown Role', code: 10011 }),
  unknownUser: () => new ApiError(404, { message: 'Unknown User', code: 10013 }),
  unknownWebhook: () => new ApiError(404, { message: 'Unknown Webhook', code: 10015 }),
  unknownApplication: () => new ApiError(404, { message: 'Unknown Application', code: 10002 }),
  unknownInteraction: () => new ApiError(404, { message: 'Unknown interaction', code: 10062 }),
  unknownCommand: () => new ApiError(404, { message: 'Unknown application command', code: 10063 }),
  alreadyAcknowledged: () =>
    new ApiError(400, { message: 'Interaction has already been acknowledged.', code: 40060 }),
  invalidWebhookToken: () => new ApiError(401, { message: 'Invalid Webhook Token', code: 50027 }),
  cannotEditOthers: () =>
    new ApiError(403, { message: 'Cannot edit a message authored by another user', code: 50005 }),
  nonTextChannel: () =>
    new ApiError(400, { message: 'Cannot send messages in a non-text channel', code: 50008 }),
  threadAlreadyCreated: () =>
    new ApiError(400, { message: 'A thread has already been created for this message', code: 160004 }),
  threadArchived: () => new ApiError(400, { message: 'Thread is archived', code: 50083 }),
  unknownEmoji: () => new ApiError(400, { message: 'Unknown Emoji', code: 10014 }),
  badRequestJson: () => new ApiError(400, { message: '400: Bad Request', code: 0 }),
};
