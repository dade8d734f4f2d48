import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import type { Client } from '@temporalio/client';
import type { Logger } from 'pino';
import type { Env } from '../config/env.js';
import type { Db } from '../db/connection.js';
import type { SecretBox } from '../security/secret-box.js';
import { createApp } from './app.js';
import { OutboxRelay, type OutboxRelayOptions } from './outbox-relay.js';
import { temporalGateway } from './workflow-gateway.js';

export interface RunningApi {
  url: string;
  port: number;
  stop(): Promise<void>;
}

export interface StartApiOptions {
  env: Env;
  db: Db;
  box: SecretBox;
  sandbox?: boolean;
  temporal: Client;
  log: Logger;
  relay?: OutboxRelayOptions;
}

/** Serves the API and runs the outbox relay; `stop()` drains both (graceful shutdown). */
export async function startApi({ env, db, box, sandbox = false, temporal, log, relay: relayOptions }: StartApiOptions): Promise<RunningApi> {
  const gateway = temporalGateway(temporal, env.TEMPORAL_TASK_QUEUE);
  const relay = new OutboxRelay(db, gateway, log, relayOptions);
  // Listen first, then build the app: its public URL defaults to the port actually bound.
  let app: ReturnType<typeof createApp> | undefined;
  let server: ServerType | undefined;
  const address = await new Promise<AddressInfo>((resolve) => {
    server = serve({ fetch: (req, bindings) => app!.fetch(req, bindings), port: env.PORT, hostname: env.HOST }, resolve);
  });
  const url = env.PUBLIC_URL?.replace(/\/$/, '') ?? `http://localhost:${address.port}`;
  app = createApp({ env, db, box, sandbox, gateway, relay, log, publicUrl: url });
  relay.start();
  log.info({ url }, 'api listening');
  return {
    url,
    port: address.port,
    async stop() {
      await new Promise<void>((resolve) => {
        server!.close(() => resolve());
        // Idle keep-alive sockets would hold close() open until they time out.
        (server as unknown as { closeIdleConnections?: () => void }).closeIdleConnections?.();
      });
      await relay.stop();
    },
  };
}
