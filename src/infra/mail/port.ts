/**
 * The mail port: sends one plain-text (optionally also HTML) email at a time. Services depend
 * on this interface only; `createMailer` picks the adapter from config.
 *
 * Delivery is a single attempt: when it fails, `send` rejects with a `MailError` and the
 * caller decides whether to try again later (`permanent` tells whether that could help).
 * Neither the errors nor the log lines of an adapter ever carry the SMTP credentials.
 */
export interface Mailer {
  /** 'smtp' sends through a server; 'disabled' means no server is configured. */
  readonly kind: 'smtp' | 'disabled';
  /**
   * Hands the message to the server. Resolves once the server has accepted it; rejects with
   * a `MailError` otherwise (server refused it, unreachable, timed out, or mail is disabled).
   */
  send(message: MailMessage): Promise<void>;
  /**
   * Resolves when the server answers and accepts the credentials, rejects otherwise (used
   * by readiness checks). Always resolves when mail is disabled: there is nothing to wait for.
   */
  ping(): Promise<void>;
  /** Releases connections; messages being delivered finish first. Idempotent. */
  close(): Promise<void>;
}

export interface MailMessage {
  /** One recipient address, `a@example.com` or `Name <a@example.com>`. */
  to: string;
  subject: string;
  /** The plain-text body; always sent. */
  text: string;
  /** An HTML alternative of the same content, sent alongside the text when present. */
  html?: string;
}

export interface MailErrorDetails {
  /** What failed, e.g. nodemailer's ECONNECTION, ETIMEDOUT, EAUTH, EENVELOPE, EMESSAGE; EDISABLED when mail is off. */
  code?: string | undefined;
  /** The SMTP reply code when the server answered with an error (451, 550, ...). */
  responseCode?: number | undefined;
  /**
   * True when sending the same message again cannot succeed as things stand (a 5xx reply, an
   * invalid address, mail disabled); false when a later attempt may (a 4xx reply, a network
   * failure or timeout).
   */
  permanent: boolean;
}

/**
 * Why a message was not sent. Its message is safe to log and to show operators: it never
 * includes the SMTP URL or its password, and it carries no `cause` (a wrapped library error
 * could hold more than we know to scrub).
 */
export class MailError extends Error {
  override readonly name = 'MailError';
  readonly code: string | undefined;
  readonly responseCode: number | undefined;
  readonly permanent: boolean;

  constructor(message: string, details: MailErrorDetails) {
    super(message);
    this.code = details.code;
    this.responseCode = details.responseCode;
    this.permanent = details.permanent;
  }
}
