import type { AddressInfo } from 'node:net';
import { SMTPServer, type SMTPServerDataStream, type SMTPServerError, type SMTPServerSession } from 'smtp-server';

/**
 * A local SMTP server for tests (the `smtp-server` package), so mail can be sent and read
 * back without anything outside the process:
 *
 *     const smtp = await startSmtpServer();
 *     const mailer = createMailer({ smtpUrl: smtp.url, from: 'PCF <pcf@example.test>' }, logger);
 *     await mailer.send({ to: 'ada@example.test', subject: 'Hi', text: 'Hello' });
 *     const mail = await smtp.waitFor((m) => m.to.includes('ada@example.test'));
 *     assert.equal(mail.text, 'Hello');
 *     await mailer.close();
 *     await smtp.close();
 *
 * It listens on 127.0.0.1 on a free port, in plain text (no TLS, STARTTLS not offered), and
 * takes mail with or without authentication. Any user and password are accepted unless
 * `users` is given. Messages are parsed just enough for assertions: envelope, headers (RFC
 * 2047 encoded words decoded), and the text/plain and text/html bodies (quoted-printable or
 * base64 decoded, multipart walked, line ends normalised to \n). One caveat: in a single-part
 * message (text without html) the body's last line break cannot be told from the one SMTP
 * adds, so text 'Hi\n' may read back as 'Hi'; bodies of multipart messages are exact.
 *
 * Every server is independent; start one per test file (or per case) and close it after.
 * smtp-server greets each new connection after 100 ms (its early-talker check), so the
 * first message of a connection takes that long; pooled mailers reuse connections.
 */
export interface SmtpTestServer {
  /** `smtp://127.0.0.1:PORT`, without credentials. */
  readonly url: string;
  readonly port: number;
  /** Accepted messages, oldest first. Failed deliveries (failNext) are not listed. */
  readonly messages: ReceivedMail[];
  /**
   * The first message, already received or still to come, for which predicate is true (any
   * message when omitted). Rejects after timeoutMs (5000 by default) with a list of what
   * did arrive, which makes a failing test readable.
   */
  waitFor(predicate?: (mail: ReceivedMail) => boolean, timeoutMs?: number): Promise<ReceivedMail>;
  /**
   * Makes the next n deliveries fail at the end of DATA, by default with `451 Temporary
   * failure (test)`, so a client sees a temporary error and may retry. Calls add up. The
   * reply can be changed, e.g. a 550 for a permanent refusal.
   */
  failNext(n: number, reply?: { code?: number; message?: string }): void;
  /** Deliveries that failNext made fail so far. */
  readonly failedCount: number;
  /** Forgets the messages received so far (waitFor then only sees new ones). */
  clear(): void;
  /** Stops listening and drops open connections; pending waitFor calls reject. Idempotent. */
  close(): Promise<void>;
}

export interface ReceivedMail {
  /** MAIL FROM and RCPT TO addresses, as the client sent them. */
  envelope: { from: string; to: string[] };
  /** The user the client authenticated as; undefined when it did not authenticate. */
  user: string | undefined;
  /** Header fields by lower-case name (the first one when repeated), unfolded and decoded. */
  headers: Record<string, string>;
  /** The From, To and Subject headers ('' when absent). */
  from: string;
  to: string;
  subject: string;
  /** The text/plain body, '' when the message has none. */
  text: string;
  /** The text/html body, undefined when the message has none. */
  html: string | undefined;
  /** The message as received, for anything the parsed fields do not cover. */
  raw: string;
}

export interface SmtpTestServerOptions {
  /** When given, only these users (name → password) may authenticate; others get 535. */
  users?: Record<string, string>;
}

interface Waiter {
  predicate: (mail: ReceivedMail) => boolean;
  resolve: (mail: ReceivedMail) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

interface Failure {
  code: number;
  message: string;
}

export async function startSmtpServer(options: SmtpTestServerOptions = {}): Promise<SmtpTestServer> {
  const messages: ReceivedMail[] = [];
  const waiters = new Set<Waiter>();
  const failures: Failure[] = [];
  let failedCount = 0;
  let closing: Promise<void> | undefined;

  const server = new SMTPServer({
    secure: false,
    disabledCommands: ['STARTTLS'],
    authOptional: true,
    // AUTH over plain text: fine on the loopback interface, and needed to test credentials.
    allowInsecureAuth: true,
    // No reverse DNS of 127.0.0.1 for each connection.
    disableReverseLookup: true,
    logger: false,
    closeTimeout: 200,
    onAuth(auth, _session, callback) {
      const username = auth.username ?? '';
      if (options.users && options.users[username] !== auth.password) {
        callback(new Error('Invalid username or password'));
        return;
      }
      callback(null, { user: username });
    },
    onData(stream: SMTPServerDataStream, session: SMTPServerSession, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        const failure = failures.shift();
        if (failure) {
          failedCount += 1;
          const error: SMTPServerError = new Error(failure.message);
          error.responseCode = failure.code;
          callback(error);
          return;
        }
        const mail = parseMail(Buffer.concat(chunks), session);
        messages.push(mail);
        callback();
        for (const waiter of waiters) {
          if (waiter.predicate(mail)) settle(waiter, () => waiter.resolve(mail));
        }
      });
    },
  });
  // Errors of single connections (a client resetting its socket, say) must not crash the test run.
  server.on('error', () => undefined);

  await new Promise<void>((resolve, reject) => {
    server.server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.server.address() as AddressInfo;

  function settle(waiter: Waiter, action: () => void): void {
    clearTimeout(waiter.timer);
    waiters.delete(waiter);
    action();
  }

  return {
    url: `smtp://127.0.0.1:${port}`,
    port,
    messages,
    get failedCount() {
      return failedCount;
    },
    waitFor(predicate = () => true, timeoutMs = 5000) {
      const found = messages.find(predicate);
      if (found) return Promise.resolve(found);
      if (closing) return Promise.reject(new Error('smtp test server is closed'));
      return new Promise<ReceivedMail>((resolve, reject) => {
        const waiter: Waiter = {
          predicate,
          resolve,
          reject,
          timer: setTimeout(() => {
            const seen = messages.map((m) => `to ${JSON.stringify(m.to)} subject ${JSON.stringify(m.subject)}`);
            settle(waiter, () =>
              reject(new Error(`no matching mail within ${timeoutMs} ms; received ${seen.length}${seen.length ? `: ${seen.join('; ')}` : ''}`)),
            );
          }, timeoutMs),
        };
        waiters.add(waiter);
      });
    },
    failNext(n, reply = {}) {
      for (let i = 0; i < n; i += 1) {
        failures.push({ code: reply.code ?? 451, message: reply.message ?? 'Temporary failure (test)' });
      }
    },
    clear() {
      messages.length = 0;
    },
    close() {
      closing ??= new Promise<void>((resolve) => {
        for (const waiter of waiters) settle(waiter, () => waiter.reject(new Error('smtp test server closed before a matching mail arrived')));
        // Waits closeTimeout at most for clients (idle pooled connections) to leave, then drops them.
        server.close(() => resolve());
      });
      return closing;
    },
  };
}

// ---- a minimal MIME reader: enough for messages nodemailer writes --------------------------

interface Entity {
  headers: Map<string, string>;
  body: string; // bytes as latin1 characters
}

function parseMail(data: Buffer, session: SMTPServerSession): ReceivedMail {
  // latin1 maps each byte to one character, so bodies can be decoded later by their charset.
  const entity = parseEntity(data.toString('latin1'));
  // The line break that ends the data belongs to the SMTP transfer (the client adds one when
  // the message lacks it), not to the body.
  entity.body = entity.body.replace(/\r?\n$/, '');
  const headers: Record<string, string> = {};
  for (const [name, value] of entity.headers) headers[name] = decodeHeader(value);
  const bodies: { text?: string; html?: string } = {};
  collectBodies(entity, bodies);
  const mailFrom = session.envelope.mailFrom;
  return {
    envelope: { from: mailFrom ? mailFrom.address : '', to: session.envelope.rcptTo.map((r) => r.address) },
    user: typeof session.user === 'string' ? session.user : undefined,
    headers,
    from: headers.from ?? '',
    to: headers.to ?? '',
    subject: headers.subject ?? '',
    text: bodies.text ?? '',
    html: bodies.html,
    raw: data.toString('utf8'),
  };
}

function parseEntity(source: string): Entity {
  const match = /\r?\n\r?\n/.exec(source);
  const head = match ? source.slice(0, match.index) : source;
  const body = match ? source.slice(match.index + match[0].length) : '';
  const headers = new Map<string, string>();
  // Unfold: a line starting with white space continues the previous field.
  for (const line of head.replace(/\r?\n(?=[ \t])/g, '').split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    if (!headers.has(name)) headers.set(name, line.slice(colon + 1).trim());
  }
  return { headers, body };
}

function contentType(entity: Entity): { type: string; params: Record<string, string> } {
  const value = entity.headers.get('content-type') ?? 'text/plain; charset=us-ascii';
  const [type = '', ...rest] = value.split(';');
  const params: Record<string, string> = {};
  for (const match of rest.join(';').matchAll(/([^=\s;]+)\s*=\s*(?:"([^"]*)"|([^;\s]*))/g)) {
    params[(match[1] ?? '').toLowerCase()] = match[2] ?? match[3] ?? '';
  }
  return { type: type.trim().toLowerCase(), params };
}

function collectBodies(entity: Entity, into: { text?: string; html?: string }): void {
  const { type, params } = contentType(entity);
  if (type.startsWith('multipart/') && params.boundary) {
    const delimiter = `--${params.boundary}`;
    const sections = entity.body.split(new RegExp(`\\r?\\n?${escapeRegExp(delimiter)}`));
    // sections[0] is the preamble; the last one starts with "--" (the closing delimiter).
    for (const section of sections.slice(1)) {
      if (section.startsWith('--')) break;
      collectBodies(parseEntity(section.replace(/^[ \t]*\r?\n/, '')), into);
    }
    return;
  }
  if (type !== 'text/plain' && type !== 'text/html') return;
  const text = decodeBody(entity.body, entity.headers.get('content-transfer-encoding'), params.charset).replace(/\r\n/g, '\n');
  if (type === 'text/plain') into.text ??= text;
  else into.html ??= text;
}

function decodeBody(body: string, transferEncoding = '7bit', charset = 'utf-8'): string {
  let bytes: Buffer;
  switch (transferEncoding.trim().toLowerCase()) {
    case 'base64':
      bytes = Buffer.from(body.replace(/\s+/g, ''), 'base64');
      break;
    case 'quoted-printable':
      bytes = decodeQuotedPrintable(body);
      break;
    default:
      bytes = Buffer.from(body, 'latin1');
  }
  return decodeCharset(bytes, charset);
}

function decodeQuotedPrintable(body: string): Buffer {
  const unwrapped = body.replace(/=\r?\n/g, ''); // soft line breaks
  return Buffer.from(
    unwrapped.replace(/=([0-9A-Fa-f]{2})/g, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16))),
    'latin1',
  );
}

function decodeCharset(bytes: Buffer, charset: string): string {
  try {
    return new TextDecoder(charset.toLowerCase() === 'us-ascii' ? 'utf-8' : charset).decode(bytes);
  } catch {
    return bytes.toString('utf8');
  }
}

/** RFC 2047 encoded words (=?charset?B|Q?text?=); the rest of the value is read as UTF-8. */
function decodeHeader(value: string): string {
  const encodedWord = /=\?([^?]+)\?([BbQq])\?([^?]*)\?=/g;
  // White space between two adjacent encoded words is not part of the text.
  const joined = value.replace(/(\?=)\s+(?==\?)/g, '$1');
  let out = '';
  let last = 0;
  for (const match of joined.matchAll(encodedWord)) {
    out += Buffer.from(joined.slice(last, match.index), 'latin1').toString('utf8');
    const [, charset = 'utf-8', encoding = 'B', text = ''] = match;
    const bytes = encoding.toUpperCase() === 'B' ? Buffer.from(text, 'base64') : decodeQuotedPrintable(text.replace(/_/g, ' ').replace(/=\r?\n/g, ''));
    out += decodeCharset(bytes, charset.split('*')[0] ?? 'utf-8');
    last = match.index + match[0].length;
  }
  return out + Buffer.from(joined.slice(last), 'latin1').toString('utf8');
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
