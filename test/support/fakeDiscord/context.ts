/** What route handlers share. */
import type { FakeEvents } from './events.js';
import type { FakeGateway } from './gateway.js';
import type { Router } from './http.js';
import type { InteractionRegistry } from './interactions.js';
import type { FakeDiscordState } from './state.js';

export interface FakeContext {
  state: FakeDiscordState;
  gateway: FakeGateway;
  events: FakeEvents;
  interactions: InteractionRegistry;
  router: Router;
}

export type Json = Record<string, unknown>;

export function asObject(value: unknown): Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Json) : {};
}

/** Route params are always present for a matched template; this keeps strict indexing happy. */
export function param(params: Record<string, string>, name: string): string {
  const value = params[name];
  if (value === undefined) throw new Error(`fakeDiscord: route has no :${name}`);
  return value;
}
