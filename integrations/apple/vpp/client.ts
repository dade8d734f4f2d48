/**
 * Apps and Books for Organizations API v2 ("VPP") client, spoken over plain fetch so the same code
 * reaches https://vpp.itunes.apple.com/mdm/v2 in production and the loopback fake
 * (scripts/sandbox/vpp-server.ts) in tests. Reference: Apple's "Apps and Books for Organizations"
 * (developer.apple.com/documentation/devicemanagement/apps-and-books-for-organizations), summarised
 * in docs/apple-protocol-notes.md §7.
 *
 * - Every endpoint but `GET /service/config` sends `Authorization: Bearer <sToken>`.
 * - Mutations (users/create, assets/associate, assets/disassociate) only return an `eventId`; the
 *   outcome comes from `GET /status?eventId=` (`waitForEvent`). Install an app only once its
 *   associate event is COMPLETE.
 * - Every non-2xx answer, and any JSON carrying an `errorNumber`, becomes a VppError (errors.ts);
 *   429 and 5xx carry `retryAfterMs` from Retry-After.
 *
 * The sToken lives only in this closure: never in an error message, a log line or a return value.
 */
import { z } from 'zod';
import { VppError, vppErrorFromEvent, vppErrorFromResponse, type VppFailure } from './errors.js';
import { isDict } from '../../../mdm/dict.js';

export type PricingParam = 'STDQ' | 'PLUS';
export type VppEventStatusValue = 'PENDING' | 'COMPLETE' | 'FAILED';
export type VppEventType = 'ASSOCIATE' | 'DISASSOCIATE' | 'REVOKE' | 'CREATE' | 'UPDATE' | 'RETIRE';
export type VppNotificationType =
  | 'ASSET_MANAGEMENT'
  | 'USER_MANAGEMENT'
  | 'USER_ASSOCIATED'
  | 'ASSET_COUNT'
  | 'SUBSCRIPTION_MANAGEMENT'
  | 'SUBSCRIPTION_COUNT';
export type VppUserStatus = 'Registered' | 'Associated' | 'Retired' | 'Deleted';

/** Identifies this MDM to Apple; whoever last wrote it "owns" the location (§8.1). */
export interface MdmInfo {
  id: string;
  name: string;
  metadata?: string;
}

export interface ServiceConfig {
  /** maxAssets, maxUsers, maxClientUserIds, maxSerialNumbers, … (dynamic: re-read every few minutes) */
  limits: Record<string, number>;
  urls: Record<string, string>;
  notificationTypes: string[];
  errorCodes?: unknown[];
  [key: string]: unknown;
}

export interface ClientConfig {
  mdmInfo?: MdmInfo;
  notificationUrl?: string;
  notificationAuthToken?: string;
  subscribedNotificationTypes?: string[];
  locationName?: string;
  countryISO2ACode?: string;
  defaultPlatform?: string;
  websiteURL?: string;
  uId?: string;
  tokenExpirationDate?: string;
  [key: string]: unknown;
}

export interface ClientConfigUpdate {
  mdmInfo?: MdmInfo;
  /**
   * https; during this very call Apple POSTs a TEST_NOTIFICATION there, with `notificationAuthToken`
   * as the bearer token, and rejects the config (9728) unless it gets a 2xx ("Subscribing to
   * notifications", developer.apple.com/documentation/devicemanagement/subscribing-to-notifications):
   * the receiver must accept the new token before the call returns.
   */
  notificationUrl?: string;
  notificationAuthToken?: string;
  notificationTypes?: VppNotificationType[];
}

export interface EventResponse {
  eventId: string;
  uId?: string;
  tokenExpirationDate?: string;
}

export interface VppUserInput {
  /** our opaque, stable id for the person (never an email) */
  clientUserId: string;
  /** the Managed Apple Account: the user is Associated at once, no invitation (the UE path) */
  managedAppleId?: string;
  email?: string;
}

export interface VppUser {
  clientUserId: string;
  status: VppUserStatus | (string & {});
  email?: string;
  managedAppleId?: string;
  /** Registered users only */
  inviteCode?: string;
  /** Associated users only */
  idHash?: string;
  [key: string]: unknown;
}

export interface VppPage {
  currentPageIndex: number;
  nextPageIndex?: number;
  totalPages: number;
  size: number;
  versionId?: string;
  uId?: string;
  tokenExpirationDate?: string;
}

export interface VppUsersPage extends VppPage {
  users: VppUser[];
}

export interface VppAsset {
  adamId: string;
  pricingParam: PricingParam | (string & {});
  productType?: string;
  deviceAssignable?: boolean;
  revocable?: boolean;
  supportedPlatforms?: string[];
  assignedCount: number;
  availableCount: number;
  retiredCount?: number;
  /** 2147483647 for free unlimited assets */
  totalCount: number;
  [key: string]: unknown;
}

export interface VppAssetsPage extends VppPage {
  assets: VppAsset[];
}

export interface AssetAssignmentRequest {
  assets: { adamId: string; pricingParam: PricingParam }[];
  clientUserIds?: string[];
  serialNumbers?: string[];
}

export interface AssignmentOptions {
  /**
   * The assignment is for a User Enrollment: a user-enrolled device never reports its serial
   * number, and licences must follow the Managed Apple Account, so serialNumbers are refused
   * before anything is sent.
   */
  forUserEnrollment?: boolean;
}

export interface VppEventStatus {
  eventId: string;
  eventStatus: VppEventStatusValue;
  eventType?: VppEventType | (string & {});
  numRequested?: number;
  numCompleted?: number;
  failures?: VppFailure[];
  mdmInfo?: MdmInfo;
  uId?: string;
  tokenExpirationDate?: string;
  [key: string]: unknown;
}

export interface WaitForEventOptions {
  /** pause between polls while PENDING; Apple asks for ≥ 30 s ("Subscribing to notifications"), the default */
  pollMs?: number;
  /** give up after this long (default 10 min, after which Apple says to resend the request) */
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface VppClient {
  getServiceConfig(): Promise<ServiceConfig>;
  getClientConfig(): Promise<ClientConfig>;
  updateClientConfig(update: ClientConfigUpdate): Promise<ClientConfig>;
  createUsers(users: VppUserInput[]): Promise<EventResponse>;
  getUsers(query?: { clientUserId?: string; pageIndex?: number }): Promise<VppUsersPage>;
  getAssets(query?: { adamId?: string; pricingParam?: PricingParam; pageIndex?: number }): Promise<VppAssetsPage>;
  associateAssets(request: AssetAssignmentRequest, opts?: AssignmentOptions): Promise<EventResponse>;
  disassociateAssets(request: AssetAssignmentRequest, opts?: AssignmentOptions): Promise<EventResponse>;
  getEventStatus(eventId: string, signal?: AbortSignal): Promise<VppEventStatus>;
  /**
   * Polls until the event leaves PENDING. Resolves with the status when COMPLETE without failures;
   * throws a VppError (with `eventId` and `failures`) when it ends FAILED or with failures, e.g.
   * kind `no_licenses` for 9709. Transient errors while polling (429, 5xx, network) are waited out,
   * for at least their Retry-After; a dead token or an unknown event ends the wait at once.
   */
  waitForEvent(eventId: string, opts?: WaitForEventOptions): Promise<VppEventStatus>;
}

export interface VppClientOptions {
  /** https://vpp.itunes.apple.com/mdm/v2 in production */
  baseUrl: string;
  sToken: string;
  requestTimeoutMs?: number;
  userAgent?: string;
}

const DEFAULT_USER_AGENT = 'Tandem-VPP/0.1 (+node)';

// ---------------------------------------------------------------------------------------------
// Answer shapes: only the fields we rely on are checked; Apple's other fields pass through.

const adamId = z.union([z.string().min(1), z.number()]).transform(String);
const optionalString = z.string().optional();
const page = {
  currentPageIndex: z.number().int().default(0),
  nextPageIndex: z.number().int().optional(),
  totalPages: z.number().int().default(1),
  size: z.number().int().default(0),
  versionId: z.union([z.string(), z.number()]).transform(String).optional(),
  uId: z.union([z.string(), z.number()]).transform(String).optional(),
  tokenExpirationDate: optionalString,
};
const mdmInfoSchema = z.looseObject({ id: z.string(), name: z.string(), metadata: optionalString });
const failureSchema = z.looseObject({
  errorNumber: z.number().int(),
  errorMessage: z.string().default(''),
  errorInfo: z.looseObject({}).optional(),
});

const serviceConfigSchema = z.looseObject({
  limits: z.record(z.string(), z.number()).default({}),
  urls: z.record(z.string(), z.string()).default({}),
  notificationTypes: z.array(z.string()).default([]),
  errorCodes: z.array(z.unknown()).optional(),
});
const clientConfigSchema = z.looseObject({
  mdmInfo: mdmInfoSchema.optional(),
  notificationUrl: optionalString,
  notificationAuthToken: optionalString,
  subscribedNotificationTypes: z.array(z.string()).optional(),
  uId: z.union([z.string(), z.number()]).transform(String).optional(),
  tokenExpirationDate: optionalString,
});
const eventResponseSchema = z.looseObject({
  eventId: z.union([z.string().min(1), z.number()]).transform(String),
  uId: z.union([z.string(), z.number()]).transform(String).optional(),
  tokenExpirationDate: optionalString,
});
const usersPageSchema = z.looseObject({
  ...page,
  users: z.array(z.looseObject({ clientUserId: z.string(), status: z.string() })).default([]),
});
const assetsPageSchema = z.looseObject({
  ...page,
  assets: z
    .array(
      z.looseObject({
        adamId,
        pricingParam: z.string(),
        assignedCount: z.number(),
        availableCount: z.number(),
        totalCount: z.number(),
      }),
    )
    .default([]),
});
const eventStatusSchema = z.looseObject({
  eventStatus: z.string(),
  eventType: optionalString,
  numRequested: z.number().optional(),
  numCompleted: z.number().optional(),
  failures: z.array(failureSchema).optional(),
  mdmInfo: mdmInfoSchema.optional(),
  uId: z.union([z.string(), z.number()]).transform(String).optional(),
  tokenExpirationDate: optionalString,
});

// ---------------------------------------------------------------------------------------------

export function createVppClient(opts: VppClientOptions): VppClient {
  const base = new URL(opts.baseUrl.endsWith('/') ? opts.baseUrl : `${opts.baseUrl}/`);
  // Pasted tokens carry line breaks; a header value must not.
  const sToken = opts.sToken.replace(/\s+/g, '');
  if (!sToken) throw new TypeError('createVppClient: sToken is empty');
  const authorization = `Bearer ${sToken}`;
  const timeoutMs = opts.requestTimeoutMs ?? 30_000;
  const userAgent = opts.userAgent ?? DEFAULT_USER_AGENT;

  interface CallOptions<S extends z.ZodType> {
    method: 'GET' | 'POST';
    query?: Record<string, string | number | boolean | undefined>;
    body?: unknown;
    auth?: boolean;
    schema: S;
    signal?: AbortSignal | undefined;
  }

  async function call<S extends z.ZodType>(path: string, o: CallOptions<S>): Promise<z.output<S>> {
    const what = `${o.method} /${path}`;
    const url = new URL(path, base);
    for (const [key, value] of Object.entries(o.query ?? {})) {
      if (value !== undefined) url.searchParams.set(key, String(value));
    }
    const headers: Record<string, string> = { accept: 'application/json', 'user-agent': userAgent };
    if (o.auth !== false) headers.authorization = authorization;
    if (o.body !== undefined) headers['content-type'] = 'application/json';
    const timeout = AbortSignal.timeout(timeoutMs);

    let response: Response;
    let text: string;
    try {
      response = await fetch(url, {
        method: o.method,
        headers,
        ...(o.body === undefined ? {} : { body: JSON.stringify(o.body) }),
        signal: o.signal ? AbortSignal.any([o.signal, timeout]) : timeout,
        redirect: 'error',
      });
      text = await response.text();
    } catch (err) {
      if (o.signal?.aborted) throw o.signal.reason;
      throw new VppError(`VPP ${what} unreachable: ${describeNetworkError(err)}`, { kind: 'retryable', status: 0, cause: err });
    }

    const payload = parseJsonObject(text);
    if (!response.ok || typeof payload?.errorNumber === 'number') {
      throw vppErrorFromResponse(what, response.status, payload, response.headers.get('retry-after'));
    }
    const parsed = o.schema.safeParse(payload);
    if (!parsed.success) {
      // A 2xx we cannot read (a proxy page, a truncated body): nothing says the call took effect
      // or not, and every call here is safe to repeat.
      throw new VppError(`VPP ${what} answered ${response.status} with an unreadable body`, { kind: 'retryable', status: response.status });
    }
    return parsed.data;
  }

  function assignmentBody(kind: 'associate' | 'disassociate', req: AssetAssignmentRequest, o: AssignmentOptions | undefined) {
    if (o?.forUserEnrollment && req.serialNumbers !== undefined && req.serialNumbers.length > 0) {
      throw new VppError(
        `VPP ${kind}: serial numbers cannot be used for a User Enrollment (the device never reports one; assign to the user's clientUserId)`,
        { kind: 'rejected', status: 0 },
      );
    }
    return {
      assets: req.assets.map((a) => ({ adamId: a.adamId, pricingParam: a.pricingParam })),
      ...(req.clientUserIds === undefined ? {} : { clientUserIds: req.clientUserIds }),
      ...(req.serialNumbers === undefined ? {} : { serialNumbers: req.serialNumbers }),
    };
  }

  async function getEventStatus(eventId: string, signal?: AbortSignal): Promise<VppEventStatus> {
    const status = await call('status', { method: 'GET', query: { eventId }, schema: eventStatusSchema, signal });
    return { ...status, eventId, eventStatus: status.eventStatus as VppEventStatusValue } as VppEventStatus;
  }

  return {
    async getServiceConfig() {
      return (await call('service/config', { method: 'GET', auth: false, schema: serviceConfigSchema })) as ServiceConfig;
    },

    async getClientConfig() {
      return (await call('client/config', { method: 'GET', schema: clientConfigSchema })) as ClientConfig;
    },

    async updateClientConfig(update) {
      const body: Record<string, unknown> = {};
      if (update.mdmInfo !== undefined) body.mdmInfo = update.mdmInfo;
      if (update.notificationUrl !== undefined) body.notificationUrl = update.notificationUrl;
      if (update.notificationAuthToken !== undefined) body.notificationAuthToken = update.notificationAuthToken;
      if (update.notificationTypes !== undefined) body.notificationTypes = update.notificationTypes;
      return (await call('client/config', { method: 'POST', body, schema: clientConfigSchema })) as ClientConfig;
    },

    async createUsers(users) {
      const body = {
        users: users.map((u) => ({
          clientUserId: u.clientUserId,
          ...(u.managedAppleId === undefined ? {} : { managedAppleId: u.managedAppleId }),
          ...(u.email === undefined ? {} : { email: u.email }),
        })),
      };
      return call('users/create', { method: 'POST', body, schema: eventResponseSchema });
    },

    async getUsers(query = {}) {
      return (await call('users', { method: 'GET', query, schema: usersPageSchema })) as VppUsersPage;
    },

    async getAssets(query = {}) {
      return (await call('assets', { method: 'GET', query, schema: assetsPageSchema })) as VppAssetsPage;
    },

    async associateAssets(request, o) {
      return call('assets/associate', { method: 'POST', body: assignmentBody('associate', request, o), schema: eventResponseSchema });
    },

    async disassociateAssets(request, o) {
      return call('assets/disassociate', { method: 'POST', body: assignmentBody('disassociate', request, o), schema: eventResponseSchema });
    },

    getEventStatus,

    async waitForEvent(eventId, { pollMs = 30_000, timeoutMs = 10 * 60_000, signal } = {}) {
      const deadline = Date.now() + timeoutMs;
      let transient = 0;
      for (;;) {
        signal?.throwIfAborted();
        let delayMs: number;
        let lastError: VppError | undefined;
        try {
          const status = await getEventStatus(eventId, signal);
          if (status.eventStatus === 'COMPLETE' && !status.failures?.length) return status;
          if (status.eventStatus !== 'PENDING') throw vppErrorFromEvent(eventId, status);
          transient = 0;
          delayMs = pollMs;
        } catch (err) {
          // Only a transient fault of the status call itself is waited out.
          if (!(err instanceof VppError) || !err.retryable || err.eventId !== undefined) throw err;
          transient += 1;
          lastError = err;
          delayMs = Math.max(pollMs, err.retryAfterMs ?? backoffMs(transient, 1000, 60_000));
        }
        if (Date.now() + delayMs > deadline) {
          if (lastError) throw lastError;
          throw new VppError(`VPP event ${eventId} still PENDING after ${timeoutMs} ms (Apple suggests resending the request)`, {
            kind: 'retryable',
            status: 0,
            eventId,
          });
        }
        await sleep(delayMs, signal);
      }
    },
  };
}

/** base·2^(n-1), capped, with "equal jitter" (half fixed, half random). */
function backoffMs(n: number, base: number, max: number): number {
  const ceiling = Math.min(max, base * 2 ** (n - 1));
  return Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** The body of an answer may be anything (an HTML page from a proxy): never trust it. */
function parseJsonObject(text: string): Record<string, unknown> | undefined {
  if (!text) return undefined;
  try {
    const parsed: unknown = JSON.parse(text);
    return isDict(parsed) ? parsed : undefined;
  } catch {
    return undefined;
  }
}

function describeNetworkError(err: unknown): string {
  if (err instanceof Error && err.name === 'TimeoutError') return 'request timed out';
  if (!(err instanceof Error)) return String(err);
  const cause = err.cause instanceof Error ? `: ${err.cause.message}` : '';
  return `${err.message}${cause}`;
}
