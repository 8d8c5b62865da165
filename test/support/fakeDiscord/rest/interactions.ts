/**
 * Interaction callbacks (`POST /interactions/:id/:token/callback`) and the interaction webhook
 * (follow-ups, @original and follow-up edits/fetches/deletes).
 */
import { type FakeContext, type Json, asObject, param } from '../context.js';
import { ApiError, ErrorCollector, errors } from '../errors.js';
import { CallbackType, InteractionType, type InteractionRecord } from '../interactions.js';
import { LIMITS, MessageFlag, charLength, validateMessageBody } from '../limits.js';
import { type InteractionOrigin, createMessage, editMessage } from '../messages.js';
import type { APIMessage, InteractionCallbackRecord, RecordedFile } from '../types.js';

const ALL_CALLBACK_TYPES = [1, 4, 5, 6, 7, 8, 9, 10, 12];

function allowedCallbackTypes(record: InteractionRecord): number[] {
  switch (record.type) {
    case InteractionType.ApplicationCommand:
      return [4, 5, 9, 12];
    case InteractionType.MessageComponent:
      return [4, 5, 6, 7, 9, 12];
    case InteractionType.ApplicationCommandAutocomplete:
      return [8];
    case InteractionType.ModalSubmit:
      return record.origin.messageId ? [4, 5, 6, 7] : [4, 5];
    default:
      return [1];
  }
}

function choicesError(path: Array<string | number>, allowed: number[]): ApiError {
  const c = new ErrorCollector();
  c.add(path, 'BASE_TYPE_CHOICES', `Value must be one of {${allowed.join(', ')}}.`);
  return new ApiError(400, { code: 50035, message: 'Invalid Form Body', errors: c.tree });
}

function validateModal(data: Json): void {
  const c = new ErrorCollector();
  if (typeof data.custom_id !== 'string' || data.custom_id.length === 0) c.required(['data', 'custom_id']);
  else if (charLength(data.custom_id) > LIMITS.customId) c.maxLength(['data', 'custom_id'], LIMITS.customId);
  if (typeof data.title !== 'string' || data.title.length === 0) c.required(['data', 'title']);
  else if (charLength(data.title) > LIMITS.modalTitle) c.maxLength(['data', 'title'], LIMITS.modalTitle);
  if (!Array.isArray(data.components) || data.components.length < 1 || data.components.length > 5) {
    c.badLength(['data', 'components'], 1, 5);
  }
  c.throwIfAny();
}

export function registerInteractionRoutes(ctx: FakeContext): void {
  const { router, state, events, interactions } = ctx;

  const origin = (record: InteractionRecord): InteractionOrigin => ({
    id: record.id,
    type: record.type,
    name: record.origin.commandName,
    commandType: record.origin.commandType,
    user: record.user,
    messageId: record.origin.messageId,
  });

  const channelOf = (record: InteractionRecord) => state.requireChannel(record.channelId);

  const componentMessage = (record: InteractionRecord): APIMessage => {
    const id = record.origin.messageId;
    const message = id ? state.messages.get(id) : undefined;
    if (!message) throw errors.unknownMessage();
    return message;
  };

  const respond = (record: InteractionRecord, body: Json, files: RecordedFile[]): InteractionCallbackRecord => {
    const type = body.type as number;
    const data = body.data === undefined || body.data === null ? undefined : asObject(body.data);
    const requestedFlags = typeof data?.flags === 'number' ? data.flags : 0;
    let ephemeral = (requestedFlags & MessageFlag.Ephemeral) !== 0;
    switch (type) {
      case CallbackType.ChannelMessageWithSource: {
        const message = createMessage(state, {
          channel: channelOf(record),
          author: state.botUser,
          body: data ?? {},
          files,
          forcedFlags: requestedFlags & MessageFlag.Ephemeral,
          webhookId: state.applicationId,
          applicationId: state.applicationId,
          interaction: origin(record),
          errorBase: ['data'],
        });
        record.originalMessageId = message.id;
        record.messageIds.add(message.id);
        events.messageCreate(message);
        break;
      }
      case CallbackType.DeferredChannelMessageWithSource: {
        const message = createMessage(state, {
          channel: channelOf(record),
          author: state.botUser,
          body: {},
          forcedFlags: (requestedFlags & MessageFlag.Ephemeral) | MessageFlag.Loading,
          webhookId: state.applicationId,
          applicationId: state.applicationId,
          interaction: origin(record),
          allowEmpty: true,
        });
        record.originalMessageId = message.id;
        record.messageIds.add(message.id);
        record.loading = true;
        events.messageCreate(message);
        break;
      }
      case CallbackType.DeferredMessageUpdate: {
        const message = componentMessage(record);
        ephemeral = ((message.flags ?? 0) & MessageFlag.Ephemeral) !== 0;
        record.originalMessageId = message.id;
        record.messageIds.add(message.id);
        break;
      }
      case CallbackType.UpdateMessage: {
        const message = componentMessage(record);
        const edited = editMessage(state, message, data ?? {}, { files, errorBase: ['data'] });
        ephemeral = ((edited.flags ?? 0) & MessageFlag.Ephemeral) !== 0;
        record.originalMessageId = edited.id;
        record.messageIds.add(edited.id);
        events.messageUpdate(edited);
        break;
      }
      case CallbackType.ApplicationCommandAutocompleteResult: {
        const choices = data?.choices;
        if (!Array.isArray(choices)) {
          const c = new ErrorCollector();
          c.required(['data', 'choices']);
          c.throwIfAny();
        } else if (choices.length > LIMITS.autocompleteChoices) {
          const c = new ErrorCollector();
          c.maxLength(['data', 'choices'], LIMITS.autocompleteChoices);
          c.throwIfAny();
        }
        break;
      }
      case CallbackType.Modal:
        validateModal(data ?? {});
        ephemeral = false;
        break;
      default:
        break;
    }
    return { type, data, status: 204, ephemeral, at: Date.now() };
  };

  router.add(
    'POST',
    '/interactions/:interaction_id/:interaction_token/callback',
    ({ params, body, files, query }) => {
      const record = interactions.byId.get(param(params, 'interaction_id'));
      if (!record || record.token !== param(params, 'interaction_token')) throw errors.unknownInteraction();
      const payload = asObject(body);
      const at = Date.now();
      const type = typeof payload.type === 'number' ? payload.type : -1;
      const data = payload.data === undefined || payload.data === null ? undefined : asObject(payload.data);
      const reject = (error: unknown): never => {
        if (error instanceof ApiError) {
          record.attempts.push({ type, data, status: error.status, errorCode: error.body.code, ephemeral: false, at });
          record.notify();
        }
        throw error;
      };
      try {
        if (!ALL_CALLBACK_TYPES.includes(type)) throw choicesError(['type'], ALL_CALLBACK_TYPES);
        const allowed = allowedCallbackTypes(record);
        if (!allowed.includes(type)) throw choicesError(['type'], allowed);
        if (record.acknowledged) throw errors.alreadyAcknowledged();
        if (at > record.deadline) throw errors.unknownInteraction();
        const accepted = respond(record, payload, files);
        const withResponse = query.with_response === 'true';
        accepted.status = withResponse ? 200 : 204;
        record.response = accepted;
        record.attempts.push(accepted);
        record.notify();
        if (!withResponse) return { status: 204 };
        const original = record.originalMessageId ? state.messages.get(record.originalMessageId) : undefined;
        const interaction: Json = { id: record.id, type: record.type };
        const resource: Json = { type };
        if (original && (type === 4 || type === 5 || type === 7)) {
          interaction.response_message_id = original.id;
          interaction.response_message_loading = type === 5;
          interaction.response_message_ephemeral = accepted.ephemeral;
          resource.message = original;
        }
        return { status: 200, body: { interaction, resource } };
      } catch (error) {
        return reject(error);
      }
    },
    'none',
  );

  // ---- the interaction webhook ----

  const webhookRecord = (params: Record<string, string>): InteractionRecord => {
    const record = interactions.byToken.get(param(params, 'webhook_token'));
    if (!record) throw errors.invalidWebhookToken();
    if (param(params, 'application_id') !== state.applicationId) throw errors.unknownWebhook();
    if (Date.now() > record.expiresAt) throw errors.invalidWebhookToken();
    return record;
  };

  const targetMessage = (record: InteractionRecord, target: string): APIMessage => {
    const id = target === '@original' ? record.originalMessageId : target;
    if (!id || !record.messageIds.has(id)) throw errors.unknownMessage();
    const message = state.messages.get(id);
    if (!message) throw errors.unknownMessage();
    return message;
  };

  router.add(
    'POST',
    '/webhooks/:application_id/:webhook_token',
    ({ params, body, files }) => {
      const record = webhookRecord(params);
      if (!record.acknowledged) throw errors.unknownWebhook();
      const payload = asObject(body);
      // Deprecated but real: the first follow-up after a deferred reply completes the placeholder.
      if (record.loading && record.originalMessageId) {
        const original = targetMessage(record, '@original');
        validateMessageBody(payload);
        const { flags: _ignored, ...rest } = payload;
        const edited = editMessage(state, original, rest, { files, clearLoading: true });
        record.loading = false;
        record.followUps.push(edited);
        record.notify();
        events.messageUpdate(edited);
        return { status: 200, body: edited };
      }
      const flags = typeof payload.flags === 'number' ? payload.flags : 0;
      const message = createMessage(state, {
        channel: channelOf(record),
        author: state.botUser,
        body: payload,
        files,
        forcedFlags: flags & MessageFlag.Ephemeral,
        webhookId: state.applicationId,
        applicationId: state.applicationId,
        interaction: origin(record),
      });
      record.messageIds.add(message.id);
      record.followUps.push(message);
      record.notify();
      events.messageCreate(message);
      // Follow-ups behave as if ?wait=true were always set.
      return { status: 200, body: message };
    },
    'none',
  );

  router.add(
    'GET',
    '/webhooks/:application_id/:webhook_token/messages/:message_id',
    ({ params }) => ({ status: 200, body: targetMessage(webhookRecord(params), param(params, 'message_id')) }),
    'none',
  );

  router.add(
    'PATCH',
    '/webhooks/:application_id/:webhook_token/messages/:message_id',
    ({ params, body, files }) => {
      const record = webhookRecord(params);
      const target = param(params, 'message_id');
      const message = targetMessage(record, target);
      const isOriginal = message.id === record.originalMessageId;
      const payload = asObject(body);
      const edited = editMessage(state, message, payload, { files, clearLoading: isOriginal && record.loading });
      if (isOriginal) record.loading = false;
      record.edits.push({ target, messageId: edited.id, body: payload, at: Date.now() });
      const i = record.followUps.findIndex((m) => m.id === edited.id);
      if (i >= 0) record.followUps[i] = edited;
      record.notify();
      events.messageUpdate(edited);
      return { status: 200, body: edited };
    },
    'none',
  );

  router.add(
    'DELETE',
    '/webhooks/:application_id/:webhook_token/messages/:message_id',
    ({ params }) => {
      const record = webhookRecord(params);
      const message = targetMessage(record, param(params, 'message_id'));
      state.messages.delete(message.id);
      record.notify();
      events.messageDelete(message);
      return { status: 204 };
    },
    'none',
  );
}
