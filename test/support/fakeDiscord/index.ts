/**
 * A faithful fake of Discord's REST API and Gateway for tests that run the real discord.js Client.
 * See README.md in this folder.
 */
export { startFakeDiscord } from './server.js';
export type { FakeDiscord, FakeGatewayControls } from './server.js';
export { FakeDiscordState, Intent, Permission, ChannelType, ALL_PERMISSIONS } from './state.js';
export { LIMITS, MessageFlag, embedSize } from './limits.js';
export { GatewayClose, GatewayOp } from './gateway.js';
export { CallbackType, InteractionType } from './interactions.js';
export { snowflake, snowflakeTime, discordTimestamp } from './snowflake.js';
export type {
  APIApplicationCommand,
  APIGuildMember,
  APIMessage,
  APIRole,
  APIUser,
  CallFilter,
  ChannelSpec,
  ClickButtonInput,
  FakeChannel,
  FakeDiscordOptions,
  FakeGuild,
  GatewayFrame,
  GuildSpec,
  InjectedFault,
  InteractionActor,
  InteractionCallbackRecord,
  InteractionEditRecord,
  InteractionHandle,
  MemberSpec,
  ModalSubmitInput,
  RateLimitInjection,
  RecordedCall,
  RecordedFile,
  RoleSpec,
  SelectMenuInput,
  ServerErrorInjection,
  SlashCommandInput,
  SlashOptionValue,
} from './types.js';
