/** Users, applications and the gateway URL. */
import { type FakeContext, asObject, param } from '../context.js';
import { errors } from '../errors.js';
import { snowflake } from '../snowflake.js';
import { ChannelType, publicUser } from '../state.js';
import type { FakeChannel } from '../types.js';

export function registerUserRoutes(ctx: FakeContext): void {
  const { router, state, gateway } = ctx;

  router.add('GET', '/users/@me', () => ({ status: 200, body: state.botUser }));

  router.add('GET', '/users/:user_id', ({ params }) => ({
    status: 200,
    body: publicUser(state.requireUser(param(params, 'user_id'))),
  }));

  // Open (or reuse) a DM channel with a user.
  router.add('POST', '/users/@me/channels', ({ body }) => {
    const recipientId = asObject(body).recipient_id;
    if (typeof recipientId !== 'string') throw errors.badRequestJson();
    const user = state.requireUser(recipientId);
    for (const channel of state.channels.values()) {
      if (channel.type === ChannelType.DM && channel.recipients?.[0]?.id === user.id) return { status: 200, body: channel };
    }
    const channel: FakeChannel = {
      id: snowflake(),
      type: ChannelType.DM,
      last_message_id: null,
      flags: 0,
      recipients: [publicUser(user)],
    };
    state.channels.set(channel.id, channel);
    return { status: 200, body: channel };
  });

  const application = () => ({ status: 200, body: state.application });
  router.add('GET', '/applications/@me', application);
  router.add('GET', '/oauth2/applications/@me', application);

  router.add('GET', '/gateway', () => ({ status: 200, body: { url: gateway.url } }), 'none');
  router.add('GET', '/gateway/bot', () => ({
    status: 200,
    body: {
      url: gateway.url,
      shards: 1,
      session_start_limit: {
        total: 1000,
        remaining: Math.max(0, 1000 - gateway.sessionStartsUsed),
        reset_after: 14_400_000,
        max_concurrency: 1,
      },
    },
  }));
}
