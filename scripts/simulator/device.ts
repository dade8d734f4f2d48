/**
 * A simulated iPhone for tests, the benchmark and newcomers (`npm run simulate`). It does what a
 * device and its user do, over real HTTP: walks the enrollment portal in "Safari", downloads and
 * verifies the signed profile, takes the device identity out of it, then speaks the MDM protocol
 * (Authenticate, TokenUpdate, command polling) with every request signed (`Mdm-Signature`).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { createCertificateAuthority, verifyCertificateIssuedBy, fromPkcs12, type CertificateAndKey } from '../../mdm/certificates.js';
import { signCms } from '../../mdm/cms.js';
import { signMdmMessage } from '../../mdm/mdm-signature.js';
import { buildPlist, parsePlist } from '../../mdm/plist-codec.js';
import { readSignedProfile } from '../../mdm/profile.js';

export interface SimulatedHardware {
  udid: string;
  serialNumber: string;
  imei: string;
  meid: string;
}

export interface SimulatorOptions {
  /** iOS version the "Safari" user agent and the check-ins report */
  osVersion?: string;
  productName?: string;
  /** a desktop-mode Safari (claims to be a Mac) */
  desktopMode?: boolean;
  hardware?: Partial<SimulatedHardware>;
  /** Send SerialNumber/IMEI in a User Enrollment Authenticate anyway (a misbehaving client). */
  leakHardwareIds?: boolean;
  /**
   * After InstallProfile of its own enrollment profile (identity renewal), send Authenticate and
   * TokenUpdate with the new identity before answering, as iOS is reported to do (default true).
   * false: the first request signed with the new identity is the command answer.
   */
  authenticateAfterProfileUpdate?: boolean;
  /**
   * The App Store's licence check for a volume-purchase install (InstallApplication with
   * PurchaseMethod 1), e.g. the local Apps and Books server's `installCheck`. Without it every
   * install is accepted.
   */
  appStore?: AppStoreLicenceCheck;
}

export type AppStoreLicenceCheck = (
  adamId: string,
  device: { serialNumber?: string; managedAppleId?: string },
) => { installable: true } | { installable: false; errorNumber: number; errorMessage: string };

export interface PortalAnswers {
  username?: string;
  password?: string;
  /** for "let the user choose": who owns the device */
  ownership?: 'personal' | 'corporate';
  /** for a personal device under "let the user choose": manage everything or work data only */
  scope?: 'user' | 'device';
  managedAppleId?: string;
}

export interface MdmCommand {
  CommandUUID: string;
  Command: { RequestType: string } & Record<string, unknown>;
}

export type CommandAnswer = { Status: 'Acknowledged' | 'Error' | 'NotNow' | 'CommandFormatError' } & Record<string, unknown>;

export interface InstalledProfile {
  profile: Record<string, unknown>;
  identity: CertificateAndKey;
  kind: 'user' | 'device';
  serverUrl: string;
  checkInUrl: string;
  topic: string;
  caPem: string;
}

export class AccountEnrollmentError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly body?: unknown,
  ) {
    super(message);
    this.name = 'AccountEnrollmentError';
  }
}

export class PortalError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly page: string,
  ) {
    super(message);
    this.name = 'PortalError';
  }
}

const pemFromDer = (der: Buffer) => `-----BEGIN CERTIFICATE-----\n${der.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n?$/, '\n')}-----END CERTIFICATE-----\n`;
const decode = (s: string) => s.replace(/&amp;/g, '&').replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>');

export class SimulatedDevice {
  /** Every simulated device of this process (tests audit what the server said about them). */
  static readonly created: SimulatedDevice[] = [];
  readonly osVersion: string;
  readonly productName: string;
  readonly hardware: SimulatedHardware;
  /** Apple's per-enrollment EnrollmentID (User Enrollment) */
  readonly enrollmentId = randomUUID().toUpperCase();
  readonly pushToken = randomBytes(32);
  readonly pushMagic = randomUUID().toUpperCase();
  readonly received: MdmCommand[] = [];
  /**
   * Apps this iPhone knows by App Store id: the bundle id and the statuses its
   * ManagedApplicationList reports once asked to install, in order (the last one stays), e.g.
   * ['Prompting', 'Managed'] or ['Prompting', 'UserRejected'].
   */
  readonly apps = new Map<number, { bundleId: string; statuses: string[]; requested?: boolean }>();
  installed: InstalledProfile | undefined;
  /** the last profile downloaded, as served (DER) */
  lastProfile: Buffer | undefined;
  #cookies = new Map<string, string>();

  constructor(private readonly opts: SimulatorOptions = {}) {
    SimulatedDevice.created.push(this);
    this.osVersion = opts.osVersion ?? '17.5';
    this.productName = opts.productName ?? 'iPhone15,2';
    this.hardware = {
      udid: opts.hardware?.udid ?? `00008110-${randomBytes(8).toString('hex').toUpperCase()}`,
      serialNumber: opts.hardware?.serialNumber ?? `F${randomBytes(5).toString('hex').toUpperCase()}`,
      imei: opts.hardware?.imei ?? `35${Math.floor(Math.random() * 1e13).toString().padStart(13, '0')}`,
      meid: opts.hardware?.meid ?? `A${randomBytes(6).toString('hex').toUpperCase()}`,
    };
  }

  get userAgent(): string {
    if (this.opts.desktopMode) return 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15';
    const v = this.osVersion.replace(/\./g, '_');
    return `Mozilla/5.0 (iPhone; CPU iPhone OS ${v} like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/${this.osVersion.split('.')[0]}.0 Mobile/15E148 Safari/604.1`;
  }

  // ---- Safari -------------------------------------------------------------------------------

  /** One browser request: cookies kept, redirects followed, same-origin form posts. */
  async browse(url: string, form?: Record<string, string>): Promise<{ url: string; status: number; body: Buffer; type: string }> {
    let target = new URL(url);
    let method = form ? 'POST' : 'GET';
    let body: string | undefined = form ? new URLSearchParams(form).toString() : undefined;
    for (let hop = 0; hop < 10; hop++) {
      const headers: Record<string, string> = { 'user-agent': this.userAgent, accept: 'text/html,application/x-apple-aspen-config,*/*' };
      const cookie = [...this.#cookies].map(([k, v]) => `${k}=${v}`).join('; ');
      if (cookie) headers.cookie = cookie;
      if (body !== undefined) {
        headers['content-type'] = 'application/x-www-form-urlencoded';
        headers.origin = target.origin;
      }
      const res = await fetch(target, { method, headers, ...(body !== undefined ? { body } : {}), redirect: 'manual' });
      for (const set of res.headers.getSetCookie()) {
        const [pair] = set.split(';');
        const eq = pair!.indexOf('=');
        this.#cookies.set(pair!.slice(0, eq).trim(), pair!.slice(eq + 1).trim());
      }
      if (res.status >= 300 && res.status < 400 && res.headers.get('location')) {
        target = new URL(res.headers.get('location')!, target);
        method = 'GET';
        body = undefined;
        continue;
      }
      return { url: target.href, status: res.status, body: Buffer.from(await res.arrayBuffer()), type: res.headers.get('content-type') ?? '' };
    }
    throw new Error('too many redirects');
  }

  /**
   * Fills in the form of the page at `pageUrl` the way Safari submits it: loads the page (keeping
   * its cookies), then posts `fields` together with every hidden input the server rendered into
   * the form (such as its CSRF token) to the form's action.
   */
  async submit(pageUrl: string, fields: Record<string, string>): Promise<{ url: string; status: number; body: Buffer; type: string }> {
    const page = await this.browse(pageUrl);
    const html = page.body.toString('utf8');
    const form = formOn(html);
    if (!form) throw new PortalError(`no form on ${page.url} (${page.status}): ${textOf(html)}`, page.status, html);
    return this.browse(new URL(form.action, page.url).href, { ...form.hidden, ...fields });
  }

  /**
   * Follows the invite link through the portal the way a user would, answering each page it
   * meets, and returns the downloaded profile (DER).
   */
  async enrollThroughPortal(enrollmentUrl: string, answers: PortalAnswers = {}): Promise<Buffer> {
    let page = await this.browse(enrollmentUrl);
    for (let step = 0; step < 10; step++) {
      if (page.type.startsWith('application/x-apple-aspen-config')) {
        this.lastProfile = page.body;
        return page.body;
      }
      const html = page.body.toString('utf8');
      if (page.status >= 400) throw new PortalError(`the portal answered ${page.status} at ${page.url}: ${textOf(html)}`, page.status, html);
      const form = formOn(html);
      const download = /<a class="button" href="([^"]*\/profile\/[^"]+)"/.exec(html)?.[1];
      if (download) {
        page = await this.browse(new URL(decode(download), page.url).href);
        continue;
      }
      if (!form) throw new PortalError(`no form or download on ${page.url}: ${textOf(html)}`, page.status, html);
      const fields: Record<string, string> = { ...form.hidden };
      if (html.includes('name="accept"')) fields.accept = 'yes';
      if (html.includes('name="username"')) fields.username = answers.username ?? /name="username"[^>]*value="([^"]*)"/.exec(html)?.[1] ?? '';
      if (html.includes('name="password"')) fields.password = answers.password ?? '';
      if (html.includes('name="ownership"')) fields.ownership = answers.ownership ?? 'personal';
      if (html.includes('name="scope"')) fields.scope = answers.scope ?? 'user';
      if (html.includes('name="managedAppleId"')) fields.managedAppleId = answers.managedAppleId ?? decode(/name="managedAppleId"[^>]*value="([^"]*)"/.exec(html)?.[1] ?? '');
      page = await this.browse(new URL(form.action, page.url).href, fields);
    }
    throw new Error('the portal did not lead to a profile');
  }

  // ---- Settings: Sign In to Work or School Account (account-driven) -----------------------

  /** The access token from the account-driven web sign-in; sent on every MDM request after. */
  accessToken: string | undefined;

  /**
   * Account-driven enrollment as iOS does it: discovery, the challenged POST, web sign-in, the
   * authorized POST. Returns the profile (DER).
   */
  async enrollAccountDriven(server: string, identifier: string, password: string): Promise<Buffer> {
    const discovery = await fetch(new URL(`/.well-known/com.apple.remotemanagement?user-identifier=${encodeURIComponent(identifier)}&model-family=iPhone`, server), {
      headers: { 'user-agent': 'DeviceManagementClient/1.0' },
    });
    const discovered = (await discovery.json()) as { Servers?: { Version: string; BaseURL: string }[]; code?: string; message?: string };
    if (discovery.status !== 200 || !discovered.Servers?.[0]) throw new AccountEnrollmentError(`discovery refused: ${discovered.code} ${discovered.message}`, discovery.status, discovered);
    const baseUrl = discovered.Servers[0].BaseURL;

    // The device signs its request with its built-in identity (CMS), which Tandem cannot verify and need not trust.
    this.#builtInIdentity ??= createCertificateAuthority({ commonName: 'Apple iPhone Device (simulated)', organization: 'Simulated' });
    const request = signCms(Buffer.from(buildPlist({ LANGUAGE: 'en-US', PRODUCT: this.productName, VERSION: '22C161' })), this.#builtInIdentity, { detached: false });
    const post = (token?: string) =>
      fetch(baseUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/pkcs7-signature', 'user-agent': 'DeviceManagementClient/1.0', ...(token ? { authorization: `Bearer ${token}` } : {}) },
        body: request,
      });
    const challenged = await post();
    const challenge = challenged.headers.get('www-authenticate') ?? '';
    const signInUrl = /method="apple-as-web",\s*url="([^"]+)"/.exec(challenge)?.[1];
    if (challenged.status !== 401 || !signInUrl) throw new AccountEnrollmentError(`expected a 401 apple-as-web challenge, got ${challenged.status} ${challenge}`, challenged.status);

    // ASWebAuthenticationSession: the sign-in page, with user-identifier appended.
    const page = new URL(signInUrl);
    page.searchParams.set('user-identifier', identifier);
    const form = await (await fetch(page, { headers: { 'user-agent': this.userAgent } })).text();
    const action = /<form method="post" action="([^"]+)"/.exec(form)?.[1];
    if (!action) throw new AccountEnrollmentError('the sign-in page has no form', 200);
    const signedIn = await fetch(new URL(decode(action), page), {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'user-agent': this.userAgent, origin: page.origin },
      body: new URLSearchParams({ username: identifier, password }).toString(),
    });
    const location = signedIn.headers.get('location') ?? '';
    if (signedIn.status !== 308 || !location.startsWith('apple-remotemanagement-user-login://authentication-results')) {
      throw new AccountEnrollmentError(`sign-in failed: ${signedIn.status} ${textOf(await signedIn.text())}`, signedIn.status);
    }
    const token = new URL(location).searchParams.get('access-token');
    if (!token) throw new AccountEnrollmentError('the sign-in result has no access-token', 308);
    this.accessToken = token;

    const authorized = await post(token);
    if (authorized.status !== 200 || !(authorized.headers.get('content-type') ?? '').startsWith('application/x-apple-aspen-config')) {
      throw new AccountEnrollmentError(`the authorized enrollment POST answered ${authorized.status}`, authorized.status);
    }
    this.lastProfile = Buffer.from(await authorized.arrayBuffer());
    return this.lastProfile;
  }

  #builtInIdentity: CertificateAndKey | undefined;

  // ---- Settings: install the profile ------------------------------------------------------

  /** Verifies the profile's signature and trust chain, and takes the identity out of it. */
  installProfile(der: Buffer): InstalledProfile {
    const { profile, signerPem } = readSignedProfile(der);
    const payloads = profile.PayloadContent as Record<string, unknown>[];
    const root = payloads.find((p) => p.PayloadType === 'com.apple.security.root');
    const identityPayload = payloads.find((p) => p.PayloadType === 'com.apple.security.pkcs12');
    const mdm = payloads.find((p) => p.PayloadType === 'com.apple.mdm');
    if (!root || !identityPayload || !mdm) throw new Error('the profile lacks a trust anchor, an identity or the MDM payload');
    const caPem = pemFromDer(Buffer.from(root.PayloadContent as Uint8Array));
    if (!verifyCertificateIssuedBy(signerPem, caPem)) throw new Error('the profile signer does not chain to the profile trust anchor');
    if (mdm.IdentityCertificateUUID !== identityPayload.PayloadUUID) throw new Error('the MDM payload does not point at the identity payload');
    const identity = fromPkcs12(Buffer.from(identityPayload.PayloadContent as Uint8Array), String(identityPayload.Password));
    const kind = mdm.ManagedAppleID || mdm.EnrollmentMode === 'BYOD' ? 'user' : 'device';
    if (mdm.EnrollmentMode && (mdm.AccessRights !== undefined || !mdm.AssignedManagedAppleID)) {
      // What iOS checks before it accepts an account-driven profile.
      throw new Error('an account-driven profile must carry AssignedManagedAppleID and never AccessRights');
    }
    this.installed = { profile, identity, kind, serverUrl: String(mdm.ServerURL), checkInUrl: String(mdm.CheckInURL ?? mdm.ServerURL), topic: String(mdm.Topic), caPem };
    return this.installed;
  }

  // ---- MDM protocol -------------------------------------------------------------------------

  #installedOrThrow(): InstalledProfile {
    if (!this.installed) throw new Error('no enrollment profile is installed');
    return this.installed;
  }

  #identifier(): Record<string, string> {
    return this.#installedOrThrow().kind === 'user' ? { EnrollmentID: this.enrollmentId } : { UDID: this.hardware.udid };
  }

  /** A signed PUT; returns the HTTP status and body. */
  async send(url: string, contentType: string, message: Record<string, unknown>, opts: { signWith?: CertificateAndKey; tamper?: boolean; bearer?: string | null } = {}) {
    const body = Buffer.from(buildPlist(message), 'utf8');
    const signature = signMdmMessage(body, opts.signWith ?? this.#installedOrThrow().identity);
    const sent = opts.tamper ? Buffer.from(body.toString('utf8').replace('</dict>', '<key>X</key><string>y</string></dict>')) : body;
    // Account-driven enrollments send their access token on every request.
    const bearer = opts.bearer === undefined ? this.accessToken : opts.bearer;
    const headers: Record<string, string> = { 'content-type': contentType, 'mdm-signature': signature, 'user-agent': 'MDM/1.0' };
    if (bearer) headers.authorization = `Bearer ${bearer}`;
    const res = await fetch(url, { method: 'PUT', headers, body: sent });
    return { status: res.status, body: Buffer.from(await res.arrayBuffer()), contentType: res.headers.get('content-type') ?? '' };
  }

  async checkIn(message: Record<string, unknown>, opts: { signWith?: CertificateAndKey; tamper?: boolean; bearer?: string | null } = {}) {
    const p = this.#installedOrThrow();
    return this.send(p.checkInUrl, 'application/x-apple-aspen-mdm-checkin', { Topic: p.topic, ...this.#identifier(), ...message }, opts);
  }

  async authenticate() {
    const hw = this.#installedOrThrow().kind === 'device' || this.opts.leakHardwareIds ? { SerialNumber: this.hardware.serialNumber, IMEI: this.hardware.imei, MEID: this.hardware.meid } : {};
    return expectOk('Authenticate', await this.checkIn({ MessageType: 'Authenticate', OSVersion: this.osVersion, BuildVersion: '21F90', ProductName: this.productName, ...hw }));
  }

  async tokenUpdate() {
    return expectOk('TokenUpdate', await this.checkIn({ MessageType: 'TokenUpdate', Token: this.pushToken, PushMagic: this.pushMagic, AwaitingConfiguration: false }));
  }

  async checkOut() {
    return expectOk('CheckOut', await this.checkIn({ MessageType: 'CheckOut' }));
  }

  /** One command-endpoint exchange; returns the next command, if the server sent one. */
  async report(report: Record<string, unknown>): Promise<MdmCommand | undefined> {
    const p = this.#installedOrThrow();
    const res = await this.send(p.serverUrl, 'application/x-apple-aspen-mdm', { ...this.#identifier(), ...report });
    if (res.status !== 200) throw new Error(`command endpoint answered ${res.status}: ${res.body.toString('utf8')}`);
    if (res.body.length === 0) return undefined;
    const command = parsePlist(res.body) as unknown as MdmCommand;
    this.received.push(command);
    return command;
  }

  /** Polls and answers until the server has nothing more; returns the commands it ran. */
  /** The app's next status as the device reports it (the last one stays). */
  #nextAppStatus(app: { statuses: string[] }): string {
    return app.statuses.length > 1 ? app.statuses.shift()! : app.statuses[0]!;
  }

  async processCommands(answer: (cmd: MdmCommand) => CommandAnswer | Promise<CommandAnswer> = (cmd) => this.defaultAnswer(cmd)): Promise<MdmCommand[]> {
    const ran: MdmCommand[] = [];
    let next = await this.report({ Status: 'Idle' });
    while (next) {
      ran.push(next);
      const identity = this.installed?.identity;
      const result = await answer(next);
      // A new enrollment profile came with a new identity: check in with it before answering.
      if (this.installed?.identity !== identity && (this.opts.authenticateAfterProfileUpdate ?? true)) {
        await this.authenticate();
        await this.tokenUpdate();
      }
      next = await this.report({ CommandUUID: next.CommandUUID, ...result });
    }
    return ran;
  }

  /**
   * InstallProfile of a profile with the installed enrollment profile's PayloadIdentifier replaces
   * it (Apple's "MDM" payload: PayloadIdentifier decides replace or add), identity included, if
   * the update keeps what Apple says must not change; otherwise iOS rejects the update.
   */
  updateEnrollmentProfile(der: Buffer): CommandAnswer {
    const current = this.#installedOrThrow();
    const mdmOf = (profile: Record<string, unknown>) => (profile.PayloadContent as Record<string, unknown>[]).find((p) => p.PayloadType === 'com.apple.mdm') ?? {};
    const before = mdmOf(current.profile);
    let next: InstalledProfile;
    try {
      const { profile } = readSignedProfile(der);
      const after = mdmOf(profile);
      const changed = ['ServerURL', 'CheckInURL', 'Topic', 'AssignedManagedAppleID', 'EnrollmentMode', 'RequiredAppIDForMDM'].filter((k) => before[k] !== after[k]);
      const addedRights = Number(after.AccessRights ?? 0) & ~Number(before.AccessRights ?? 0);
      if (changed.length || addedRights) throw new Error(`the MDM payload update changes ${[...changed, ...(addedRights ? ['AccessRights'] : [])].join(', ')}`);
      const previous = this.installed;
      next = this.installProfile(der);
      if (next.kind !== previous?.kind) {
        this.installed = previous;
        throw new Error('the update changes the kind of enrollment');
      }
    } catch (err) {
      return { Status: 'Error', ErrorChain: [{ ErrorCode: 4001, ErrorDomain: 'MCInstallationErrorDomain', USEnglishDescription: (err as Error).message, LocalizedDescription: (err as Error).message }] };
    }
    return { Status: 'Acknowledged' };
  }

  /** The PayloadIdentifier of a signed or plain profile, if it is one. */
  #profileIdentifier(payload: unknown): string | undefined {
    if (!Buffer.isBuffer(payload) && !(payload instanceof Uint8Array)) return undefined;
    const der = Buffer.from(payload);
    try {
      return String(readSignedProfile(der).profile.PayloadIdentifier);
    } catch {
      try {
        return String(parsePlist(der).PayloadIdentifier);
      } catch {
        return undefined;
      }
    }
  }

  /**
   * A volume-purchase install needs a licence this device can use: one assigned to its serial number
   * (Device Enrollment only), or to the VPP user associated with the Managed Apple Account signed in
   * on it. Refused, the install ends in an Error (the ErrorChain's shape is our assumption).
   */
  #licenceRefusal(cmd: MdmCommand): CommandAnswer | undefined {
    const purchaseMethod = (cmd.Command.Options as { PurchaseMethod?: number } | undefined)?.PurchaseMethod;
    if (!this.opts.appStore || purchaseMethod !== 1 || cmd.Command.iTunesStoreID === undefined) return undefined;
    const { kind, profile } = this.#installedOrThrow();
    const mdm = ((profile.PayloadContent as Record<string, unknown>[] | undefined) ?? []).find((p) => p.PayloadType === 'com.apple.mdm');
    const managedAppleId = mdm?.AssignedManagedAppleID ?? mdm?.ManagedAppleID;
    const verdict = this.opts.appStore(String(cmd.Command.iTunesStoreID), {
      ...(kind === 'device' ? { serialNumber: this.hardware.serialNumber } : {}),
      ...(kind === 'user' && typeof managedAppleId === 'string' ? { managedAppleId } : {}),
    });
    if (verdict.installable) return undefined;
    return { Status: 'Error', ErrorChain: [{ ErrorCode: verdict.errorNumber, ErrorDomain: 'VPPErrorDomain', LocalizedDescription: verdict.errorMessage, USEnglishDescription: verdict.errorMessage }] };
  }

  /** What an iPhone answers to the queries Tandem sends after enrollment. */
  defaultAnswer(cmd: MdmCommand): CommandAnswer {
    const user = this.#installedOrThrow().kind === 'user';
    switch (cmd.Command.RequestType) {
      case 'SecurityInfo':
        return { Status: 'Acknowledged', SecurityInfo: { HardwareEncryptionCaps: 3, PasscodeCompliant: true, ManagementStatus: { IsUserEnrollment: user, EnrolledViaDEP: false } } };
      case 'DeviceInformation': {
        const facts: Record<string, unknown> = {
          DeviceName: 'iPhone',
          OSVersion: this.osVersion,
          BuildVersion: '21F90',
          ModelName: 'iPhone',
          Model: 'MQ9T3',
          ProductName: this.productName,
          DeviceCapacity: 128,
          AvailableDeviceCapacity: 64.5,
          BatteryLevel: 0.8,
          IsSupervised: false,
          TimeZone: 'Europe/Berlin',
          UDID: this.hardware.udid,
          SerialNumber: this.hardware.serialNumber,
          IMEI: this.hardware.imei,
          MEID: this.hardware.meid,
        };
        // A user-enrolled iPhone never reveals identifiers, unless this one is told to misbehave.
        const hidden = user && !this.opts.leakHardwareIds ? new Set(['UDID', 'SerialNumber', 'IMEI', 'MEID']) : new Set<string>();
        const asked = (cmd.Command.Queries as string[] | undefined) ?? Object.keys(facts);
        // A misbehaving device volunteers its identifiers even when not asked.
        const queries = this.opts.leakHardwareIds ? [...new Set([...asked, 'UDID', 'SerialNumber', 'IMEI', 'MEID'])] : asked;
        return { Status: 'Acknowledged', QueryResponses: Object.fromEntries(queries.filter((q) => q in facts && !hidden.has(q)).map((q) => [q, facts[q]])) };
      }
      case 'InstallProfile': {
        const payload = cmd.Command.Payload;
        if (this.#profileIdentifier(payload) === this.installed?.profile.PayloadIdentifier) return this.updateEnrollmentProfile(Buffer.from(payload as Uint8Array));
        return { Status: 'Acknowledged' };
      }
      case 'InstallApplication': {
        const refusal = this.#licenceRefusal(cmd);
        if (refusal) return refusal;
        // The result carries the install's State at once (the prompt, typically); the user's
        // answer shows in later ManagedApplicationList results.
        const app = this.apps.get(Number(cmd.Command.iTunesStoreID));
        if (!app) return { Status: 'Acknowledged' };
        app.requested = true;
        return { Status: 'Acknowledged', Identifier: app.bundleId, State: this.#nextAppStatus(app) };
      }
      case 'ManagedApplicationList': {
        const only = Array.isArray(cmd.Command.Identifiers) ? (cmd.Command.Identifiers as string[]) : undefined;
        const list: Record<string, { Status: string }> = {};
        for (const app of this.apps.values()) {
          if (!app.requested || (only && !only.includes(app.bundleId))) continue;
          list[app.bundleId] = { Status: this.#nextAppStatus(app) };
        }
        return { Status: 'Acknowledged', ManagedApplicationList: list };
      }
      case 'InstalledApplicationList': {
        // User Enrollment lists the managed apps only: those installed.
        const installed = [...this.apps.values()].filter((app) => app.requested && app.statuses.length === 1 && app.statuses[0] === 'Managed');
        return { Status: 'Acknowledged', InstalledApplicationList: installed.map((app) => ({ Identifier: app.bundleId, Name: app.bundleId })) };
      }
      default:
        return { Status: 'Acknowledged' };
    }
  }
}

function expectOk(what: string, res: { status: number; body: Buffer }) {
  if (res.status !== 200) throw new Error(`${what} answered ${res.status}: ${res.body.toString('utf8')}`);
  return res;
}

/** The page's first POST form: its action and hidden inputs (what a browser submits unasked). */
export function formOn(html: string): { action: string; hidden: Record<string, string> } | undefined {
  const form = /<form\b([^>]*)>([\s\S]*?)<\/form>/i.exec(html);
  const attr = (tag: string, name: string) => new RegExp(`\\s${name}="([^"]*)"`, 'i').exec(tag)?.[1];
  if (!form || attr(form[1]!, 'method')?.toLowerCase() !== 'post') return undefined;
  const action = attr(form[1]!, 'action');
  if (action === undefined) return undefined;
  const hidden: Record<string, string> = {};
  for (const [input] of form[2]!.matchAll(/<input\b[^>]*>/gi)) {
    const name = attr(input, 'name');
    if (attr(input, 'type')?.toLowerCase() === 'hidden' && name) hidden[decode(name)] = decode(attr(input, 'value') ?? '');
  }
  return { action: decode(action), hidden };
}

function textOf(html: string): string {
  return html
    .replace(/<style[\s\S]*?<\/style>/g, '')
    .replace(/<[^>]+>/g, ' ')
    .replace(/\s+/g, ' ')
    .trim()
    .slice(0, 300);
}

/** Reads link, username and password out of an invite's plain text (email or SMS). */
export function parseInvite(text: string): { enrollmentUrl: string; username: string; password?: string } {
  const url = /https?:\/\/\S+\/enroll\/[0-9a-f-]{36}/.exec(text)?.[0];
  const username = /Username: (\S+)/.exec(text)?.[1];
  const password = /(?:One-time password|Password): (\S+)/.exec(text)?.[1];
  if (!url || !username) throw new Error('the message does not look like a Tandem invite');
  return { enrollmentUrl: url, username, ...(password ? { password } : {}) };
}
