/**
 * A loopback HTTP server that speaks the subset of Apple's Apps and Books for Organizations API v2
 * (https://vpp.itunes.apple.com/mdm/v2; Apple: "Apps and Books for Organizations", and
 * docs/apple-protocol-notes.md §7) Tandem uses, closely enough to test a
 * real client over HTTP:
 *
 *   GET  /mdm/v2/service/config      (no sToken)     GET  /mdm/v2/assets
 *   GET  /mdm/v2/client/config                       POST /mdm/v2/assets/associate
 *   POST /mdm/v2/client/config                       POST /mdm/v2/assets/disassociate
 *   GET  /mdm/v2/users                               GET  /mdm/v2/status?eventId=
 *   POST /mdm/v2/users/create
 *
 * Behaviour, with Apple's JSON shapes and error numbers:
 * - Bearer sToken on everything but service/config: missing or malformed header → 401 / 9722,
 *   another token → 401 / 9622, after expireToken() → 401 / 9621, after revokeToken() → 401 / 9625.
 * - Mutations answer `{eventId, uId, tokenExpirationDate}` at once and take effect when the event
 *   completes: it stays PENDING for `eventPendingPolls` status polls (default 1) and at least
 *   `eventPendingMs`, then ends COMPLETE, or FAILED when any item failed (the failures listed:
 *   9709 no licence left, 9609 user not found, 9716 user exists).
 * - Users are keyed by clientUserId; a user created with managedAppleId is Associated at once
 *   (idHash set, no invitation), otherwise Registered (inviteCode set).
 * - Licences are counted per asset (adamId + pricingParam): associate takes one per user or serial
 *   while any is available, disassociate gives it back; both are idempotent per assignee.
 * - Installing (`installCheck`, asked by the simulated iPhone): a device licence installs on the
 *   device with that serial number; a user licence only on a device signed in with the Managed
 *   Apple Account its VPP user is Associated with. A Registered user's licence (invitation never
 *   accepted) is refused with 9619 "License not associated.", and a device no licence reaches with
 *   9610 "License not found." (numbers and wording from Apple's "Interpreting error codes"; how
 *   exactly a real iPhone reports the refusal is not documented by Apple).
 * - A client/config that sets the notification URL or token first POSTs Apple's TEST_NOTIFICATION
 *   there (`Authorization: Bearer <notificationAuthToken>`) and refuses the configuration (400 /
 *   9728) unless it is answered 2xx, as Apple's "Subscribing to notifications" describes. Only
 *   loopback URLs are contacted; any other host is refused the same way. Other notifications are
 *   not sent: reconcile through /status, as Apple advises anyway.
 *
 * Bounded: bodies ≤ 256 KiB, ≤ 10 000 users, events and assets each, 1000 logged requests.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import http from 'node:http';
import { encodeContentToken, formatAppleDate, parseContentToken } from '../../integrations/apple/vpp/token.js';
import { listenOnLoopback } from './listen.js';
import { readBody } from './read-body.js';
import { createRecorder } from './recorder.js';

export interface VppServerAssetOptions {
  adamId: string;
  pricingParam: string;
  totalCount: number;
  productType?: 'App' | 'Book';
  deviceAssignable?: boolean;
  revocable?: boolean;
}

export interface VppServerOptions {
  port?: number;
  /** default: a fresh base64 JSON token for `orgName`, expiring in a year */
  sToken?: string;
  orgName?: string;
  assets?: VppServerAssetOptions[];
  /** status polls an event answers PENDING before it completes (default 1) */
  eventPendingPolls?: number;
  /** minimum age of an event before it completes (default 0) */
  eventPendingMs?: number;
  /** items per page on /users and /assets (default 100) */
  pageSize?: number;
}

export interface VppRequestLogEntry {
  method: string;
  /** e.g. /mdm/v2/assets/associate */
  path: string;
  query: Record<string, string>;
  /** parsed JSON body, notificationAuthToken redacted; never the Authorization header */
  body?: unknown;
  /** the request carried an Authorization header (its value is not kept) */
  authorized: boolean;
  userAgent?: string;
  status: number;
  at: Date;
}

export interface InstallingDevice {
  /** only a device-enrolled device reveals one */
  serialNumber?: string;
  /** the Managed Apple Account signed in on the device (User Enrollment) */
  managedAppleId?: string;
}

export type InstallVerdict =
  | { installable: true; licence: 'device' | 'user' }
  | { installable: false; errorNumber: number; errorMessage: string };

/** A TEST_NOTIFICATION the fake sent while a client/config changed the notification URL or token. */
export interface VppTestNotification {
  notificationId: string;
  url: string;
  /** what the notification URL answered (0: unreachable) */
  status: number;
  at: Date;
}

export interface FakeVppUser {
  clientUserId: string;
  status: 'Registered' | 'Associated' | 'Retired';
  email?: string;
  managedAppleId?: string;
  inviteCode?: string;
  idHash?: string;
}

export interface VppServer {
  /** http://127.0.0.1:<port>/mdm/v2, to use as the client's baseUrl */
  baseUrl: string;
  sToken: string;
  orgName: string;
  /** live log, oldest first (bounded) */
  requests: VppRequestLogEntry[];
  /** the TEST_NOTIFICATIONs sent to notification URLs, oldest first */
  testNotifications: VppTestNotification[];
  waitForRequest(pred: (r: VppRequestLogEntry) => boolean, timeoutMs?: number): Promise<VppRequestLogEntry>;
  /** every later authenticated call answers 401 / 9621 (token expired) */
  expireToken(): void;
  /** every later authenticated call answers 401 / 9625 (token revoked) */
  revokeToken(): void;
  /** creates the asset or changes its total (a purchase, or a refund) */
  setLicenses(adamId: string, totalCount: number, pricingParam?: string): void;
  /** the next request (any) answers 429 / 9646 with this Retry-After */
  rateLimitNext(retryAfterSeconds: number): void;
  /** the next request (any) answers `status` with an Apple error body (queued, FIFO with rateLimitNext) */
  failNext(status: number, opts?: { errorNumber?: number; errorMessage?: string; retryAfter?: number | string }): void;
  /** applies to events created from now on */
  setEventDelay(delay: { polls?: number; ms?: number }): void;
  /** completes every PENDING event now */
  settleEvents(): void;
  licensesOf(clientUserId: string): { adamId: string; pricingParam: string }[];
  assignedCount(adamId: string, pricingParam?: string): number;
  user(clientUserId: string): FakeVppUser | undefined;
  /**
   * What the App Store decides when a device asks to install `adamId` with a volume-purchase licence
   * (InstallApplication, PurchaseMethod 1), from what that device knows: its serial number (Device
   * Enrollment) and the Managed Apple Account signed in on it. The simulated iPhone calls this.
   */
  installCheck(adamId: string, device: InstallingDevice): InstallVerdict;
  stop(): Promise<void>;
}

const PREFIX = '/mdm/v2/';
const MAX_BODY_BYTES = 256 * 1024;
const MAX_LOGGED_BODY_BYTES = 16 * 1024;
const MAX_RECORDS = 10_000;
const UNLIMITED = 2_147_483_647;

const LIMITS = {
  maxAssets: 25,
  maxUsers: 100,
  maxClientUserIds: 1000,
  maxSerialNumbers: 1000,
  maxRevokeClientUserIds: 100,
  maxRevokeSerialNumbers: 100,
  maxNotificationLength: 512,
  maxMdmNameLength: 100,
  maxMdmMetadataLength: 255,
  maxMdmIdLength: 100,
  maxSubscriptionAdamIds: 25,
  maxSubscriptionClientUserIds: 1000,
};
const NOTIFICATION_TYPES = ['ASSET_MANAGEMENT', 'USER_MANAGEMENT', 'USER_ASSOCIATED', 'ASSET_COUNT', 'SUBSCRIPTION_MANAGEMENT', 'SUBSCRIPTION_COUNT'];

/** Our wording of Apple's error messages. */
const MESSAGES: Record<number, string> = {
  9601: 'Login required.',
  9602: 'Invalid argument.',
  9603: 'Internal error.',
  9609: 'Registered user not found.',
  9621: 'The token has expired. Generate a new token in Apple Business Manager.',
  9622: 'Invalid authentication token.',
  9625: 'The sToken has been revoked.',
  9646: 'Too many requests.',
  9707: 'The asset is not device assignable.',
  9708: 'Event not found.',
  9709: 'Not enough licenses.',
  9714: 'Too many users in the request.',
  9715: 'Duplicate users in the request.',
  9716: 'A user with this clientUserId already exists.',
  9717: 'Invalid email.',
  9719: 'Either clientUserIds or serialNumbers is required.',
  9720: 'Users are missing.',
  9722: 'The Authorization header is malformed; expected "Bearer {sToken}".',
  9726: 'Method not allowed.',
  9727: 'Unsupported content type; expected application/json.',
  9728: 'The notification URL did not accept the test notification.',
  9729: 'The service is temporarily unavailable.',
  // Install-time refusals (installCheck); Apple's wording from "Interpreting error codes".
  9610: 'License not found.',
  9619: 'License not associated.',
};

type Route = 'service/config' | 'client/config' | 'users' | 'users/create' | 'assets' | 'assets/associate' | 'assets/disassociate' | 'status';
const ROUTES: Record<Route, readonly string[]> = {
  'service/config': ['GET'],
  'client/config': ['GET', 'POST'],
  users: ['GET'],
  'users/create': ['POST'],
  assets: ['GET'],
  'assets/associate': ['POST'],
  'assets/disassociate': ['POST'],
  status: ['GET'],
};

interface AppleFailure {
  errorNumber: number;
  errorMessage: string;
  errorInfo?: { assets?: { adamId: string; pricingParam: string }[]; clientUserIds?: string[]; serialNumbers?: string[] };
}

interface AssetRecord {
  adamId: string;
  pricingParam: string;
  productType: 'App' | 'Book';
  deviceAssignable: boolean;
  revocable: boolean;
  totalCount: number;
  retiredCount: number;
  /** 'u:<clientUserId>' or 's:<serialNumber>' */
  assignees: Set<string>;
}

interface FakeEvent {
  id: string;
  type: 'ASSOCIATE' | 'DISASSOCIATE' | 'CREATE';
  createdAt: number;
  polls: number;
  pendingPolls: number;
  pendingMs: number;
  status: 'PENDING' | 'COMPLETE' | 'FAILED';
  numRequested: number;
  numCompleted: number;
  failures: AppleFailure[];
  run?: () => { numCompleted: number; failures: AppleFailure[] };
}

class HttpAnswer {
  constructor(
    readonly status: number,
    readonly body: object,
    readonly headers: Record<string, string> = {},
  ) {}
}

function appleError(status: number, errorNumber: number, errorMessage = MESSAGES[errorNumber] ?? 'Error.', errorInfo?: AppleFailure['errorInfo']) {
  return new HttpAnswer(status, { errorNumber, errorMessage, ...(errorInfo ? { errorInfo } : {}) });
}

export async function startVppServer(opts: VppServerOptions = {}): Promise<VppServer> {
  const orgName = opts.orgName ?? 'Tandem Sandbox Org';
  const sToken =
    opts.sToken?.replace(/\s+/g, '') ??
    encodeContentToken({ token: randomBytes(24).toString('base64'), expDate: new Date(Date.now() + 365 * 86_400_000), orgName });
  let tokenExpiration: Date;
  try {
    tokenExpiration = parseContentToken(sToken).expDate;
  } catch {
    tokenExpiration = new Date(Date.now() + 365 * 86_400_000); // an opaque test token
  }
  let tokenState: 'valid' | 'expired' | 'revoked' = 'valid';
  const uId = String(2_049_025_000_000_000 + Math.floor(Math.random() * 1_000_000_000));
  const pageSize = Math.max(1, opts.pageSize ?? 100);
  let delay = { polls: opts.eventPendingPolls ?? 1, ms: opts.eventPendingMs ?? 0 };
  let versionId = 1;

  const recorder = createRecorder<VppRequestLogEntry>('VPP request');
  const scripted: HttpAnswer[] = [];
  const script = (a: HttpAnswer) => {
    if (scripted.length >= 1000) throw new RangeError('at most 1000 scripted answers may be queued');
    scripted.push(a);
  };
  const users = new Map<string, FakeVppUser>();
  const assets = new Map<string, AssetRecord>();
  const events = new Map<string, FakeEvent>();
  const testNotifications: VppTestNotification[] = [];
  const logTestNotification = (n: VppTestNotification) => {
    if (testNotifications.push(n) > 1000) testNotifications.shift();
  };
  let clientConfig: {
    mdmInfo?: { id: string; name: string; metadata?: string };
    notificationUrl?: string;
    notificationAuthToken?: string;
    subscribedNotificationTypes: string[];
  } = { subscribedNotificationTypes: [] };

  const assetKey = (adamId: string, pricingParam: string) => `${adamId}|${pricingParam}`;
  const available = (a: AssetRecord) => Math.max(0, a.totalCount - a.assignees.size);
  const expiration = () => formatAppleDate(tokenExpiration);

  function setLicenses(adamId: string, totalCount: number, pricingParam = 'STDQ', extra: Partial<VppServerAssetOptions> = {}) {
    if (!Number.isInteger(totalCount) || totalCount < 0) throw new RangeError('totalCount must be a non-negative integer');
    const key = assetKey(adamId, pricingParam);
    const existing = assets.get(key);
    if (existing) {
      existing.totalCount = totalCount;
    } else {
      if (assets.size >= MAX_RECORDS) throw new RangeError(`the fake VPP server holds at most ${MAX_RECORDS} assets`);
      assets.set(key, {
        adamId,
        pricingParam,
        productType: extra.productType ?? 'App',
        deviceAssignable: extra.deviceAssignable ?? true,
        revocable: extra.revocable ?? true,
        totalCount,
        retiredCount: 0,
        assignees: new Set(),
      });
    }
    versionId++;
  }
  for (const a of opts.assets ?? []) setLicenses(a.adamId, a.totalCount, a.pricingParam, a);

  // --- events ---------------------------------------------------------------------------------

  function ready(ev: FakeEvent): boolean {
    return ev.polls > ev.pendingPolls && Date.now() - ev.createdAt >= ev.pendingMs;
  }

  function complete(ev: FakeEvent) {
    if (ev.status !== 'PENDING' || !ev.run) return;
    const outcome = ev.run();
    ev.run = undefined;
    ev.numCompleted = outcome.numCompleted;
    ev.failures = outcome.failures;
    ev.status = outcome.failures.length > 0 ? 'FAILED' : 'COMPLETE';
    versionId++;
  }

  /** events complete in creation order, so licence accounting is deterministic */
  function sweep(force = false) {
    for (const ev of events.values()) {
      if (ev.status === 'PENDING' && (force || ready(ev))) complete(ev);
    }
  }

  function newEvent(type: FakeEvent['type'], numRequested: number, run: NonNullable<FakeEvent['run']>): HttpAnswer {
    if (events.size >= MAX_RECORDS) {
      for (const [id, ev] of events) {
        if (ev.status !== 'PENDING') {
          events.delete(id);
          break;
        }
      }
      if (events.size >= MAX_RECORDS) return appleError(503, 9729);
    }
    const ev: FakeEvent = {
      id: randomUUID(),
      type,
      createdAt: Date.now(),
      polls: 0,
      pendingPolls: delay.polls,
      pendingMs: delay.ms,
      status: 'PENDING',
      numRequested,
      numCompleted: 0,
      failures: [],
      run,
    };
    events.set(ev.id, ev);
    return new HttpAnswer(200, { eventId: ev.id, uId, tokenExpirationDate: expiration() });
  }

  /** groups per-item failures into Apple's ErrorResponse shape, one per (errorNumber, asset) */
  function failureCollector() {
    const groups = new Map<string, AppleFailure & { errorInfo: NonNullable<AppleFailure['errorInfo']> }>();
    return {
      add(errorNumber: number, asset: AssetRecord | undefined, who: { clientUserId?: string; serialNumber?: string }) {
        const key = `${errorNumber}|${asset ? assetKey(asset.adamId, asset.pricingParam) : ''}`;
        let group = groups.get(key);
        if (!group) {
          group = {
            errorNumber,
            errorMessage: MESSAGES[errorNumber] ?? 'Error.',
            errorInfo: asset ? { assets: [{ adamId: asset.adamId, pricingParam: asset.pricingParam }] } : {},
          };
          groups.set(key, group);
        }
        if (who.clientUserId !== undefined) (group.errorInfo.clientUserIds ??= []).push(who.clientUserId);
        if (who.serialNumber !== undefined) (group.errorInfo.serialNumbers ??= []).push(who.serialNumber);
      },
      list: () => [...groups.values()],
    };
  }

  // --- handlers -------------------------------------------------------------------------------

  function serviceConfig(baseUrl: string) {
    const url = (p: string) => `${baseUrl}/${p}`;
    return new HttpAnswer(200, {
      limits: LIMITS,
      urls: {
        invitationEmail: 'https://buy.itunes.apple.com/WebObjects/MZFinance.woa/wa/associateVPPUserWithITSAccount?inviteCode=%25inviteCode%25&mt=8',
        contentMetadataLookup: 'https://uclient-api.itunes.apple.com/WebObjects/MZStorePlatform.woa/wa/lookup',
        clientConfig: url('client/config'),
        getAssets: url('assets'),
        associateAssets: url('assets/associate'),
        disassociateAssets: url('assets/disassociate'),
        getUsers: url('users'),
        createUsers: url('users/create'),
        status: url('status'),
      },
      notificationTypes: NOTIFICATION_TYPES,
      errorCodes: Object.entries(MESSAGES).map(([n, m]) => ({ errorNumber: Number(n), errorMessage: m })),
    });
  }

  function clientConfigBody() {
    return {
      countryISO2ACode: 'US',
      defaultPlatform: 'enterprisestore',
      locationName: orgName,
      ...(clientConfig.mdmInfo ? { mdmInfo: clientConfig.mdmInfo } : {}),
      ...(clientConfig.notificationUrl ? { notificationUrl: clientConfig.notificationUrl } : {}),
      ...(clientConfig.notificationAuthToken ? { notificationAuthToken: clientConfig.notificationAuthToken } : {}),
      subscribedNotificationTypes: clientConfig.subscribedNotificationTypes,
      tokenExpirationDate: expiration(),
      uId,
      websiteURL: 'https://business.apple.com',
    };
  }

  async function updateClientConfig(body: Record<string, unknown>): Promise<HttpAnswer> {
    const next = { ...clientConfig };
    if (body.mdmInfo !== undefined) {
      const m = body.mdmInfo as Record<string, unknown> | null;
      const id = m?.id, name = m?.name, metadata = m?.metadata;
      if (typeof id !== 'string' || !id || id.length > LIMITS.maxMdmIdLength) return appleError(400, 9602, 'mdmInfo.id is missing or too long.');
      if (typeof name !== 'string' || !name || name.length > LIMITS.maxMdmNameLength) return appleError(400, 9602, 'mdmInfo.name is missing or too long.');
      if (metadata !== undefined && (typeof metadata !== 'string' || metadata.length > LIMITS.maxMdmMetadataLength)) {
        return appleError(400, 9602, 'mdmInfo.metadata is too long.');
      }
      next.mdmInfo = { id, name, ...(metadata === undefined ? {} : { metadata }) };
    }
    if (body.notificationUrl !== undefined) {
      if (!isNotificationUrl(body.notificationUrl)) return appleError(400, 9602, 'notificationUrl must be an https URL.');
      next.notificationUrl = body.notificationUrl;
    }
    if (body.notificationAuthToken !== undefined) {
      const t = body.notificationAuthToken;
      if (typeof t !== 'string' || t.length > LIMITS.maxNotificationLength) return appleError(400, 9602, 'notificationAuthToken is invalid.');
      next.notificationAuthToken = t;
    }
    if (body.notificationTypes !== undefined) {
      const types = body.notificationTypes;
      if (!Array.isArray(types) || types.some((t) => typeof t !== 'string' || !NOTIFICATION_TYPES.includes(t))) {
        return appleError(400, 9602, 'notificationTypes has an unknown type.');
      }
      next.subscribedNotificationTypes = [...new Set(types as string[])];
    }
    // As Apple does: a new notification URL or token is tested before the configuration is kept.
    const changesNotifications = body.notificationUrl !== undefined || body.notificationAuthToken !== undefined;
    if (changesNotifications && next.notificationUrl) {
      const failure = await sendTestNotification(next.notificationUrl, next.notificationAuthToken);
      if (failure) return appleError(400, 9728, `${MESSAGES[9728]} ${failure}`);
    }
    clientConfig = next;
    return new HttpAnswer(200, clientConfigBody());
  }

  /**
   * Apple's TEST_NOTIFICATION: POSTed to the notification URL with the notification token as a
   * bearer token; anything but a 2xx refuses the configuration. Returns why it failed, if it did.
   * Only loopback URLs are ever contacted: this fake never sends traffic off the machine.
   */
  async function sendTestNotification(url: string, token: string | undefined): Promise<string | undefined> {
    const target = new URL(url);
    if (!['127.0.0.1', 'localhost', '[::1]'].includes(target.hostname)) return `(the sandbox delivers notifications to loopback URLs only, not ${target.host})`;
    const notification = { notification: {}, notificationId: randomUUID(), notificationType: 'TEST_NOTIFICATION', uId };
    try {
      const res = await fetch(target, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
        body: JSON.stringify(notification),
        redirect: 'manual',
        signal: AbortSignal.timeout(10_000),
      });
      await res.arrayBuffer().catch(() => undefined);
      logTestNotification({ notificationId: notification.notificationId, url, status: res.status, at: new Date() });
      return res.ok ? undefined : `(the test notification was answered ${res.status})`;
    } catch (err) {
      logTestNotification({ notificationId: notification.notificationId, url, status: 0, at: new Date() });
      return `(the test notification could not be delivered: ${(err as Error).message})`;
    }
  }

  function paged<T>(items: T[], query: URLSearchParams, key: string): HttpAnswer {
    const raw = query.get('pageIndex');
    const pageIndex = raw === null ? 0 : Number(raw);
    if (!Number.isInteger(pageIndex) || pageIndex < 0) return appleError(400, 9602, 'pageIndex must be a non-negative integer.');
    const totalPages = Math.max(1, Math.ceil(items.length / pageSize));
    const slice = items.slice(pageIndex * pageSize, (pageIndex + 1) * pageSize);
    return new HttpAnswer(200, {
      [key]: slice,
      currentPageIndex: pageIndex,
      ...(pageIndex + 1 < totalPages ? { nextPageIndex: pageIndex + 1 } : {}),
      totalPages,
      size: slice.length,
      versionId: String(versionId),
      uId,
      tokenExpirationDate: expiration(),
    });
  }

  function getUsers(query: URLSearchParams): HttpAnswer {
    const id = query.get('clientUserId');
    const list = id === null ? [...users.values()] : [users.get(id)].filter((u): u is FakeVppUser => u !== undefined);
    // managedAppleId is not echoed: whether Apple does is unverified (§11), so callers must not rely on it.
    return paged(list.map(({ managedAppleId: _omit, ...u }) => ({ ...u })), query, 'users');
  }

  function getAssets(query: URLSearchParams): HttpAnswer {
    const adamId = query.get('adamId');
    const pricingParam = query.get('pricingParam');
    const list = [...assets.values()]
      .filter((a) => (adamId === null || a.adamId === adamId) && (pricingParam === null || a.pricingParam === pricingParam))
      .map((a) => ({
        adamId: a.adamId,
        pricingParam: a.pricingParam,
        productType: a.productType,
        deviceAssignable: a.deviceAssignable,
        revocable: a.revocable,
        supportedPlatforms: ['iOS', 'iPadOS', 'macOS'],
        assignedCount: a.assignees.size,
        availableCount: a.totalCount >= UNLIMITED ? UNLIMITED : available(a),
        retiredCount: a.retiredCount,
        totalCount: a.totalCount,
      }));
    return paged(list, query, 'assets');
  }

  function createUsers(body: Record<string, unknown>): HttpAnswer {
    const list = body.users;
    if (!Array.isArray(list) || list.length === 0) return appleError(400, 9720);
    if (list.length > LIMITS.maxUsers) return appleError(400, 9714);
    const wanted: FakeVppUser[] = [];
    const seen = new Set<string>();
    for (const item of list as unknown[]) {
      const u = (typeof item === 'object' && item !== null ? item : {}) as Record<string, unknown>;
      const { clientUserId, email, managedAppleId } = u;
      if (typeof clientUserId !== 'string' || !clientUserId || clientUserId.length > 256) return appleError(400, 9602, 'clientUserId is required.');
      if (seen.has(clientUserId)) return appleError(400, 9715, undefined, { clientUserIds: [clientUserId] });
      seen.add(clientUserId);
      if (email !== undefined && !isEmail(email)) return appleError(400, 9717, undefined, { clientUserIds: [clientUserId] });
      if (managedAppleId !== undefined && !isEmail(managedAppleId)) {
        return appleError(400, 9602, 'managedAppleId is not a Managed Apple Account.', { clientUserIds: [clientUserId] });
      }
      wanted.push({
        clientUserId,
        status: 'Registered',
        ...(email === undefined ? {} : { email: email as string }),
        ...(managedAppleId === undefined ? {} : { managedAppleId: managedAppleId as string }),
      });
    }
    return newEvent('CREATE', wanted.length, () => {
      const failures = failureCollector();
      let done = 0;
      for (const w of wanted) {
        if (users.has(w.clientUserId)) {
          failures.add(9716, undefined, { clientUserId: w.clientUserId });
          continue;
        }
        if (users.size >= MAX_RECORDS) {
          failures.add(9603, undefined, { clientUserId: w.clientUserId });
          continue;
        }
        users.set(
          w.clientUserId,
          w.managedAppleId
            ? { ...w, status: 'Associated', idHash: createHash('sha256').update(`${uId}:${w.managedAppleId.toLowerCase()}`).digest('hex') }
            : { ...w, inviteCode: randomBytes(16).toString('hex') },
        );
        done++;
      }
      return { numCompleted: done, failures: failures.list() };
    });
  }

  function assignment(kind: 'ASSOCIATE' | 'DISASSOCIATE', body: Record<string, unknown>): HttpAnswer {
    const rawAssets = body.assets;
    if (!Array.isArray(rawAssets) || rawAssets.length === 0) return appleError(400, 9602, 'assets is required.');
    if (rawAssets.length > LIMITS.maxAssets) return appleError(400, 9602, `At most ${LIMITS.maxAssets} assets per request.`);
    const clientUserIds = body.clientUserIds;
    const serialNumbers = body.serialNumbers;
    for (const [name, ids, max] of [
      ['clientUserIds', clientUserIds, LIMITS.maxClientUserIds],
      ['serialNumbers', serialNumbers, LIMITS.maxSerialNumbers],
    ] as const) {
      if (ids === undefined) continue;
      if (!Array.isArray(ids) || ids.some((v) => typeof v !== 'string' || !v)) return appleError(400, 9602, `${name} must be a list of strings.`);
      if (ids.length > max) return appleError(400, 9602, `At most ${max} ${name} per request.`);
      if (new Set(ids).size !== ids.length) return appleError(400, 9602, `${name} has duplicates.`);
    }
    const uids = (clientUserIds as string[] | undefined) ?? [];
    const serials = (serialNumbers as string[] | undefined) ?? [];
    if (uids.length === 0 && serials.length === 0) return appleError(400, 9719);

    const targets: AssetRecord[] = [];
    for (const item of rawAssets as unknown[]) {
      const a = (typeof item === 'object' && item !== null ? item : {}) as Record<string, unknown>;
      const adamId = typeof a.adamId === 'number' ? String(a.adamId) : a.adamId;
      const pricingParam = a.pricingParam ?? 'STDQ';
      if (typeof adamId !== 'string' || !adamId) return appleError(400, 9602, 'adamId is required.');
      if (pricingParam !== 'STDQ' && pricingParam !== 'PLUS') return appleError(400, 9602, 'pricingParam must be STDQ or PLUS.');
      const record = assets.get(assetKey(adamId, pricingParam));
      if (!record) return appleError(400, 9602, 'The asset is not owned by this location.', { assets: [{ adamId, pricingParam }] });
      if (kind === 'ASSOCIATE' && serials.length > 0 && !record.deviceAssignable) {
        return appleError(400, 9707, undefined, { assets: [{ adamId, pricingParam }] });
      }
      if (!targets.includes(record)) targets.push(record);
    }

    return newEvent(kind, targets.length * (uids.length + serials.length), () => {
      const failures = failureCollector();
      let done = 0;
      for (const asset of targets) {
        const who: { key: string; clientUserId?: string; serialNumber?: string }[] = [
          ...uids.map((clientUserId) => ({ key: `u:${clientUserId}`, clientUserId })),
          ...serials.map((serialNumber) => ({ key: `s:${serialNumber}`, serialNumber })),
        ];
        for (const w of who) {
          if (kind === 'DISASSOCIATE') {
            asset.assignees.delete(w.key); // the licence is available again; not assigned is a no-op
            done++;
            continue;
          }
          if (w.clientUserId !== undefined && (users.get(w.clientUserId)?.status ?? 'Retired') === 'Retired') {
            failures.add(9609, asset, w);
            continue;
          }
          if (asset.assignees.has(w.key)) {
            done++;
            continue;
          }
          if (available(asset) <= 0) {
            failures.add(9709, asset, w);
            continue;
          }
          asset.assignees.add(w.key);
          done++;
        }
      }
      return { numCompleted: done, failures: failures.list() };
    });
  }

  function eventStatus(query: URLSearchParams): HttpAnswer {
    const id = query.get('eventId');
    if (!id) return appleError(400, 9602, 'eventId is required.');
    const ev = events.get(id);
    if (!ev) return appleError(400, 9708);
    ev.polls++;
    if (ev.status === 'PENDING' && ready(ev)) complete(ev);
    return new HttpAnswer(200, {
      eventStatus: ev.status,
      eventType: ev.type,
      numRequested: ev.numRequested,
      numCompleted: ev.numCompleted,
      ...(ev.failures.length > 0 ? { failures: ev.failures } : {}),
      ...(clientConfig.mdmInfo ? { mdmInfo: clientConfig.mdmInfo } : {}),
      uId,
      tokenExpirationDate: expiration(),
    });
  }

  // --- HTTP -----------------------------------------------------------------------------------

  function authenticate(header: string | undefined): HttpAnswer | undefined {
    const match = header === undefined ? null : /^Bearer ([^\s]+)$/.exec(header);
    if (!match) return appleError(401, 9722);
    if (match[1] !== sToken) return appleError(401, 9622);
    if (tokenState === 'revoked') return appleError(401, 9625);
    if (tokenState === 'expired') return appleError(401, 9621);
    return undefined;
  }

  let baseUrl = '';

  async function answer(req: http.IncomingMessage, url: URL, raw: Buffer | null): Promise<HttpAnswer> {
    if (raw === null) return appleError(413, 9602, `The request body is larger than ${MAX_BODY_BYTES} bytes.`);
    const next = scripted.shift();
    if (next) return next;
    if (!url.pathname.startsWith(PREFIX)) return new HttpAnswer(404, { errorMessage: 'Not Found' });
    const route = url.pathname.slice(PREFIX.length).replace(/\/+$/, '') as Route;
    const methods = ROUTES[route];
    if (!methods) return new HttpAnswer(404, { errorMessage: 'Not Found' });
    const method = req.method ?? 'GET';
    if (!methods.includes(method)) return appleError(405, 9726);
    if (route !== 'service/config') {
      const denied = authenticate(req.headers.authorization);
      if (denied) return denied;
    }

    let body: Record<string, unknown> = {};
    if (method === 'POST') {
      if (!req.headers['content-type']?.toLowerCase().startsWith('application/json')) return appleError(415, 9727);
      let parsed: unknown;
      try {
        parsed = JSON.parse(raw.toString('utf8'));
      } catch {
        return appleError(400, 9602, 'The request body is not JSON.');
      }
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return appleError(400, 9602, 'The request body must be a JSON object.');
      body = parsed as Record<string, unknown>;
    }

    switch (route) {
      case 'service/config':
        return serviceConfig(baseUrl);
      case 'client/config':
        return method === 'GET' ? new HttpAnswer(200, clientConfigBody()) : updateClientConfig(body);
      case 'users':
        return getUsers(url.searchParams);
      case 'users/create':
        return createUsers(body);
      case 'assets':
        return getAssets(url.searchParams);
      case 'assets/associate':
        return assignment('ASSOCIATE', body);
      case 'assets/disassociate':
        return assignment('DISASSOCIATE', body);
      case 'status':
        return eventStatus(url.searchParams);
    }
  }

  const server = http.createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) sendJson(res, appleError(500, 9603));
      else res.destroy();
    });
  });

  async function handle(req: http.IncomingMessage, res: http.ServerResponse) {
    const url = new URL(req.url ?? '/', 'http://vpp.sandbox');
    const raw = await readBody(req, MAX_BODY_BYTES);
    sweep();
    const log: VppRequestLogEntry = {
      method: req.method ?? 'GET',
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      authorized: req.headers.authorization !== undefined,
      ...(req.headers['user-agent'] ? { userAgent: req.headers['user-agent'] } : {}),
      status: 0,
      at: new Date(),
    };
    if (raw !== null && raw.length > 0) log.body = loggedBody(raw);
    const result = await answer(req, url, raw);
    log.status = result.status;
    recorder.add(log);
    sendJson(res, result);
  }

  server.requestTimeout = 10_000;
  server.headersTimeout = 5_000;
  server.maxConnections = 100;
  const port = await listenOnLoopback(server, opts.port);
  baseUrl = `http://127.0.0.1:${port}/mdm/v2`;

  return {
    baseUrl,
    sToken,
    orgName,
    requests: recorder.items,
    testNotifications,
    waitForRequest: recorder.waitFor,
    expireToken() {
      tokenState = 'expired';
      tokenExpiration = new Date(Math.min(tokenExpiration.getTime(), Date.now()));
    },
    revokeToken() {
      tokenState = 'revoked';
    },
    setLicenses(adamId, totalCount, pricingParam = 'STDQ') {
      setLicenses(adamId, totalCount, pricingParam);
    },
    rateLimitNext(retryAfterSeconds) {
      const answer = appleError(429, 9646);
      script(new HttpAnswer(answer.status, answer.body, { 'retry-after': String(Math.max(0, Math.ceil(retryAfterSeconds))) }));
    },
    failNext(status, o = {}) {
      const errorNumber = o.errorNumber ?? (status === 429 ? 9646 : status === 401 ? 9622 : status === 503 ? 9729 : status >= 500 ? 9603 : 9602);
      const answer = appleError(status, errorNumber, o.errorMessage);
      const headers: Record<string, string> = o.retryAfter === undefined ? {} : { 'retry-after': String(o.retryAfter) };
      script(new HttpAnswer(status, answer.body, headers));
    },
    setEventDelay(d) {
      delay = { polls: d.polls ?? delay.polls, ms: d.ms ?? delay.ms };
    },
    settleEvents() {
      sweep(true);
    },
    licensesOf(clientUserId) {
      sweep();
      return [...assets.values()].filter((a) => a.assignees.has(`u:${clientUserId}`)).map((a) => ({ adamId: a.adamId, pricingParam: a.pricingParam }));
    },
    assignedCount(adamId, pricingParam) {
      sweep();
      return [...assets.values()]
        .filter((a) => a.adamId === adamId && (pricingParam === undefined || a.pricingParam === pricingParam))
        .reduce((n, a) => n + a.assignees.size, 0);
    },
    user(clientUserId) {
      sweep();
      const u = users.get(clientUserId);
      return u ? { ...u } : undefined;
    },
    installCheck(adamId, device) {
      sweep();
      const held = [...assets.values()].filter((a) => a.adamId === adamId);
      if (device.serialNumber && held.some((a) => a.assignees.has(`s:${device.serialNumber}`))) return { installable: true, licence: 'device' };
      // A user licence reaches a device only through the Apple Account the VPP user is associated
      // with: a Registered user (invited, never associated) has none, so its licence never installs.
      const account = device.managedAppleId?.toLowerCase();
      const associated = account ? [...users.values()].find((u) => u.status === 'Associated' && u.managedAppleId?.toLowerCase() === account) : undefined;
      if (associated && held.some((a) => a.assignees.has(`u:${associated.clientUserId}`))) return { installable: true, licence: 'user' };
      const refusal = associated ? 9610 : 9619;
      return { installable: false, errorNumber: refusal, errorMessage: MESSAGES[refusal]! };
    },
    async stop() {
      recorder.cancelWaiters('server stopped');
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
  };
}

function sendJson(res: http.ServerResponse, answer: HttpAnswer) {
  const payload = JSON.stringify(answer.body);
  res.writeHead(answer.status, { ...answer.headers, 'content-type': 'application/json;charset=UTF-8', 'content-length': Buffer.byteLength(payload) });
  res.end(payload);
}

/** what the request log keeps of a body: parsed JSON, secrets redacted, large ones summarised */
function loggedBody(raw: Buffer): unknown {
  if (raw.length > MAX_LOGGED_BODY_BYTES) return { truncated: true, bytes: raw.length };
  try {
    const parsed: unknown = JSON.parse(raw.toString('utf8'));
    if (typeof parsed === 'object' && parsed !== null && 'notificationAuthToken' in parsed) {
      return { ...parsed, notificationAuthToken: '[redacted]' };
    }
    return parsed;
  } catch {
    return { unparsable: true, bytes: raw.length };
  }
}

function isEmail(value: unknown): value is string {
  return typeof value === 'string' && value.length <= 320 && /^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(value);
}

/** https, or http on the loopback interface so a sandbox can point it at itself */
function isNotificationUrl(value: unknown): value is string {
  if (typeof value !== 'string' || value.length > 2048) return false;
  try {
    const u = new URL(value);
    return u.protocol === 'https:' || (u.protocol === 'http:' && (u.hostname === '127.0.0.1' || u.hostname === 'localhost' || u.hostname === '[::1]'));
  } catch {
    return false;
  }
}
