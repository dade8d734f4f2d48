/**
 * A simulated iPhone for tests, the benchmark and newcomers (`npm run simulate`). It does what a
 * device and its user do, over real HTTP: walks the enrollment portal in "Safari", downloads and
 * verifies the signed profile, takes the device identity out of it, then speaks the MDM protocol
 * (Authenticate, TokenUpdate, command polling) with every request signed (`Mdm-Signature`).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { verifyCertificateIssuedBy, fromPkcs12, type CertificateAndKey } from '../../mdm/certificates.js';
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
}

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
  readonly osVersion: string;
  readonly productName: string;
  readonly hardware: SimulatedHardware;
  /** Apple's per-enrollment EnrollmentID (User Enrollment) */
  readonly enrollmentId = randomUUID().toUpperCase();
  readonly pushToken = randomBytes(32);
  readonly pushMagic = randomUUID().toUpperCase();
  readonly received: MdmCommand[] = [];
  installed: InstalledProfile | undefined;
  /** the last profile downloaded, as served (DER) */
  lastProfile: Buffer | undefined;
  #cookies = new Map<string, string>();

  constructor(private readonly opts: SimulatorOptions = {}) {
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
      const action = /<form method="post" action="([^"]+)"/.exec(html)?.[1];
      const download = /<a class="button" href="([^"]*\/profile\/[^"]+)"/.exec(html)?.[1];
      if (download) {
        page = await this.browse(new URL(decode(download), page.url).href);
        continue;
      }
      if (!action) throw new PortalError(`no form or download on ${page.url}: ${textOf(html)}`, page.status, html);
      const form: Record<string, string> = {};
      if (html.includes('name="accept"')) form.accept = 'yes';
      if (html.includes('name="username"')) form.username = answers.username ?? /name="username"[^>]*value="([^"]*)"/.exec(html)?.[1] ?? '';
      if (html.includes('name="password"')) form.password = answers.password ?? '';
      if (html.includes('name="ownership"')) form.ownership = answers.ownership ?? 'personal';
      if (html.includes('name="scope"')) form.scope = answers.scope ?? 'user';
      if (html.includes('name="managedAppleId"')) form.managedAppleId = answers.managedAppleId ?? decode(/name="managedAppleId"[^>]*value="([^"]*)"/.exec(html)?.[1] ?? '');
      page = await this.browse(new URL(decode(action), page.url).href, form);
    }
    throw new Error('the portal did not lead to a profile');
  }

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
  async send(url: string, contentType: string, message: Record<string, unknown>, opts: { signWith?: CertificateAndKey; tamper?: boolean } = {}) {
    const body = Buffer.from(buildPlist(message), 'utf8');
    const signature = signMdmMessage(body, opts.signWith ?? this.#installedOrThrow().identity);
    const sent = opts.tamper ? Buffer.from(body.toString('utf8').replace('</dict>', '<key>X</key><string>y</string></dict>')) : body;
    const res = await fetch(url, { method: 'PUT', headers: { 'content-type': contentType, 'mdm-signature': signature, 'user-agent': 'MDM/1.0' }, body: sent });
    return { status: res.status, body: Buffer.from(await res.arrayBuffer()), contentType: res.headers.get('content-type') ?? '' };
  }

  async checkIn(message: Record<string, unknown>, opts: { signWith?: CertificateAndKey; tamper?: boolean } = {}) {
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
  async processCommands(answer: (cmd: MdmCommand) => CommandAnswer = (cmd) => this.defaultAnswer(cmd)): Promise<MdmCommand[]> {
    const ran: MdmCommand[] = [];
    let next = await this.report({ Status: 'Idle' });
    while (next) {
      ran.push(next);
      next = await this.report({ CommandUUID: next.CommandUUID, ...answer(next) });
    }
    return ran;
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
        const queries = (cmd.Command.Queries as string[] | undefined) ?? Object.keys(facts);
        return { Status: 'Acknowledged', QueryResponses: Object.fromEntries(queries.filter((q) => q in facts && !hidden.has(q)).map((q) => [q, facts[q]])) };
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
