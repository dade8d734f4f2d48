import type { RequestIdVariables } from 'hono/request-id';
import type { TokenScope } from '../db/schema.js';

export interface Actor {
  tokenId: string;
  name: string;
  scope: TokenScope;
}

export type AppEnv = { Variables: RequestIdVariables & { actor: Actor } };
