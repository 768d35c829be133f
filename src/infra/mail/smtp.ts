import { createRequire } from 'node:module';
import type Nodemailer from 'nodemailer';
import type { NodemailerError, SMTPPoolOptions, Transporter } from 'nodemailer';
import type { Logger } from '../telemetry/logger.js';
import { MailError, type Mailer, type MailMessage } from './port.js';

/** Where and how to reach the SMTP server, as read from an `smtp://` or `smtps://` URL. */
export interface SmtpEndpoint {
  host: string;
  port: number;
  /** Implicit TLS from the first byte (smtps://); otherwise STARTTLS when the server offers it. */
  secure: boolean;
  /** Absent when the URL has no user: the server is used without authentication. */
  auth?: { user: string; pass: string };
  /** `?tls=insecure`: accept any certificate (self-signed, wrong name). For development only. */
  insecureTls: boolean;
}

export interface SmtpMailerOptions {
  /**
   * `smtp://[user:pass@]host[:port]` (port 587 by default, STARTTLS when offered) or
   * `smtps://[user:pass@]host[:port]` (implicit TLS, port 465 by default), optionally with
   * `?tls=insecure`. Holds the password, so it is never logged or echoed in errors.
   */
  url: string;
  /** The From header and envelope sender, `a@example.com` or `Name <a@example.com>`. */
  from: string;
  /** Bound on DNS, on opening the connection and on the server's greeting; 5000 ms when absent. */
  timeoutMs?: number;
  /**
   * Longest silence of the server within a session; 15000 ms when absent. Longer than
   * timeoutMs because a server may scan a message before it answers the end of DATA.
   */
  socketTimeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 5000;
const DEFAULT_SOCKET_TIMEOUT_MS = 15_000;
const DEFAULT_PORTS = { 'smtp:': 587, 'smtps:': 465 } as const;
/**
 * Failures without an SMTP reply that another attempt would meet again, because of the
 * message itself (bad address, bad message). The rest (connection failures, timeouts) may
 * pass later.
 */
const PERMANENT_WITHOUT_REPLY = new Set(['EENVELOPE', 'EMESSAGE', 'EMAXRECIPIENTS']);
/**
 * Failures of the server's set-up or of ours (credentials refused or missing, even with a 5xx
 * reply): no fault of the message, which is kept for when the set-up is mended.
 */
const SETUP_FAILURES = new Set(['EAUTH', 'ENOAUTH', 'ECONFIG']);

/**
 * Reads an SMTP URL. Throws a TypeError for anything else; its message names the part that
 * is wrong but never repeats the URL, which may hold a password.
 */
export function parseSmtpUrl(url: string): SmtpEndpoint {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    // Node's own error keeps the whole input in `input`: not rethrown, and no cause.
    throw new TypeError('mail URL is not a valid URL (expected smtp://[user:pass@]host[:port] or smtps://…)');
  }
  const scheme = parsed.protocol;
  if (scheme !== 'smtp:' && scheme !== 'smtps:') {
    throw new TypeError(`mail URL must use smtp:// or smtps://, not ${JSON.stringify(scheme.slice(0, 20))}`);
  }
  // WHATWG URL keeps the brackets of an IPv6 literal; sockets want the bare address.
  const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1');
  if (host === '') throw new TypeError('mail URL has no host');
  let insecureTls = false;
  for (const [name, value] of parsed.searchParams) {
    if (name === 'tls' && value === 'insecure') insecureTls = true;
    else throw new TypeError(`mail URL has an unsupported query parameter ${JSON.stringify(name.slice(0, 40))} (only tls=insecure is known)`);
  }
  let auth: SmtpEndpoint['auth'];
  if (parsed.username !== '' || parsed.password !== '') {
    try {
      auth = { user: decodeURIComponent(parsed.username), pass: decodeURIComponent(parsed.password) };
    } catch {
      throw new TypeError('mail URL has a badly percent-encoded user or password');
    }
  }
  return {
    host,
    port: parsed.port === '' ? DEFAULT_PORTS[scheme] : Number(parsed.port),
    secure: scheme === 'smtps:',
    ...(auth ? { auth } : {}),
    insecureTls,
  };
}

/**
 * The SMTP adapter over a nodemailer connection pool: connections are opened on demand,
 * reused for following messages and closed after a short idle time.
 */
export class SmtpMailer implements Mailer {
  readonly kind = 'smtp';
  readonly #transport: Transporter;
  readonly #from: string;
  readonly #logger: Logger;
  readonly #secrets: string[];
  readonly #inFlight = new Set<Promise<unknown>>();
  #closing: Promise<void> | undefined;

  constructor(options: SmtpMailerOptions, logger: Logger) {
    const endpoint = parseSmtpUrl(options.url);
    if (options.from.trim() === '') throw new TypeError('mail sender (from) must not be empty');
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const socketTimeoutMs = options.socketTimeoutMs ?? DEFAULT_SOCKET_TIMEOUT_MS;
    const transportOptions: SMTPPoolOptions & { pool: true } = {
      pool: true,
      host: endpoint.host,
      port: endpoint.port,
      secure: endpoint.secure,
      ...(endpoint.auth ? { auth: { user: endpoint.auth.user, pass: endpoint.auth.pass } } : {}),
      ...(endpoint.insecureTls ? { tls: { rejectUnauthorized: false } } : {}),
      connectionTimeout: timeoutMs,
      greetingTimeout: timeoutMs,
      dnsTimeout: timeoutMs,
      socketTimeout: socketTimeoutMs,
      // Shorter than the socket timeout, so an idle pooled connection is closed politely
      // (QUIT) instead of timing out.
      idleTimeout: Math.max(1, Math.floor(socketTimeoutMs / 2)),
      // The caller owns retries; the one requeue only covers a pooled connection the server
      // closed just as a message was handed to it.
      maxRequeues: 1,
      // nodemailer's own logger stays off: its debug output would include the session.
      logger: false,
      debug: false,
      // Message bodies are ours, but no option should ever make the process read files or URLs.
      disableFileAccess: true,
      disableUrlAccess: true,
    };
    // Loaded on first use: a server without SMTP (the embedded start) never pays for it.
    const nodemailer = createRequire(import.meta.url)('nodemailer') as typeof Nodemailer;
    this.#transport = nodemailer.createTransport(transportOptions);
    this.#from = options.from;
    this.#logger = logger;
    this.#secrets = endpoint.auth ? secretForms(endpoint.auth.user, endpoint.auth.pass) : [];
    // Errors of pooled connections reach the callers of send; this only keeps an
    // unexpected 'error' event from crashing the process.
    this.#transport.on('error', (error: NodemailerError) => {
      this.#logger.warn({ code: error.code }, `smtp transport error: ${this.#scrub(error.message)}`);
    });
    logger.debug({ host: endpoint.host, port: endpoint.port, secure: endpoint.secure, auth: endpoint.auth !== undefined }, 'smtp mailer created');
  }

  send(message: MailMessage): Promise<void> {
    if (this.#closing) return Promise.reject(new MailError('mailer is closed', { code: 'ECLOSED', permanent: false }));
    const sending = this.#send(message);
    this.#inFlight.add(sending);
    void sending.catch(() => undefined).finally(() => this.#inFlight.delete(sending));
    return sending;
  }

  async #send(message: MailMessage): Promise<void> {
    try {
      const info = await this.#transport.sendMail({
        from: this.#from,
        to: message.to,
        subject: message.subject,
        text: message.text,
        ...(message.html === undefined ? {} : { html: message.html }),
      });
      this.#logger.debug({ messageId: (info as { messageId?: string }).messageId }, 'mail sent');
    } catch (error) {
      const failure = this.#toMailError('mail delivery failed', error);
      this.#logger.warn({ code: failure.code, responseCode: failure.responseCode, permanent: failure.permanent }, failure.message);
      throw failure;
    }
  }

  async ping(): Promise<void> {
    try {
      await this.#transport.verify();
    } catch (error) {
      throw this.#toMailError('smtp server check failed', error);
    }
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      // Messages already handed over finish (each bounded by the timeouts); the pool then
      // closes its connections as they become idle.
      await Promise.allSettled([...this.#inFlight]);
      this.#transport.close();
    })();
    return this.#closing;
  }

  /** A MailError that keeps what the caller needs (code, reply, permanence) and no secret. */
  #toMailError(prefix: string, error: unknown): MailError {
    const failure = (typeof error === 'object' && error !== null ? error : {}) as NodemailerError;
    const responseCode = typeof failure.responseCode === 'number' ? failure.responseCode : undefined;
    const code = typeof failure.code === 'string' ? failure.code : undefined;
    const permanent =
      code !== undefined && SETUP_FAILURES.has(code)
        ? false
        : responseCode !== undefined
          ? failure.permanent === true
          : code !== undefined && PERMANENT_WITHOUT_REPLY.has(code);
    const reason = error instanceof Error ? error.message : String(error);
    return new MailError(`${prefix}: ${this.#scrub(reason)}`, { code, responseCode, permanent });
  }

  /** Replaces every form the password could take on the wire or in a URL. */
  #scrub(text: string): string {
    let clean = text;
    for (const secret of this.#secrets) clean = clean.split(secret).join('[redacted]');
    return clean;
  }
}

/**
 * The password as it might appear in a message: as is, percent-encoded, and base64-encoded
 * the ways AUTH LOGIN and AUTH PLAIN send it. A very short password garbles the messages it
 * is scrubbed from; that is the price of never showing it.
 */
function secretForms(user: string, pass: string): string[] {
  if (pass === '') return [];
  const base64 = (value: string) => Buffer.from(value, 'utf8').toString('base64');
  const forms = [pass, encodeURIComponent(pass), base64(pass), base64(`\0${user}\0${pass}`), base64(`${user}\0${pass}`)];
  // Longest first, so a form that contains another is replaced whole.
  return [...new Set(forms)].sort((a, b) => b.length - a.length);
}
