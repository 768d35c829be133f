import { moduleLogger, type Logger } from '../telemetry/logger.js';
import { MailError, type Mailer, type MailMessage } from './port.js';
import { SmtpMailer } from './smtp.js';

export type { Mailer, MailErrorDetails, MailMessage } from './port.js';
export { MailError } from './port.js';
export { parseSmtpUrl, SmtpMailer, type SmtpEndpoint, type SmtpMailerOptions } from './smtp.js';

export interface MailOptions {
  /** smtp:// or smtps:// URL (see `SmtpMailerOptions.url`); empty string means mail is disabled. */
  smtpUrl: string;
  /** Sender of every message, `a@example.com` or `Name <a@example.com>`. */
  from: string;
}

/**
 * No SMTP server configured: nothing is sent. `send` rejects (permanent, code EDISABLED) so a
 * caller never believes an email went out; `ping` resolves, since there is nothing to reach.
 */
export class DisabledMailer implements Mailer {
  readonly kind = 'disabled';

  async send(_message: MailMessage): Promise<void> {
    throw new MailError('mail is not configured (mail.smtpUrl is empty)', { code: 'EDISABLED', permanent: true });
  }

  async ping(): Promise<void> {}

  async close(): Promise<void> {}
}

/**
 * The mailer for this process: SMTP when a URL is configured, otherwise the disabled one.
 * Throws a TypeError (without repeating the URL) when the URL is not a valid smtp:// or
 * smtps:// URL, or the sender is empty: the SMTP adapter checks both before it connects.
 */
export function createMailer(options: MailOptions, logger: Logger): Mailer {
  const log = moduleLogger(logger, 'mail');
  if (options.smtpUrl === '') {
    log.info('mail is not configured (mail.smtpUrl is empty): no email will be sent');
    return new DisabledMailer();
  }
  return new SmtpMailer({ url: options.smtpUrl, from: options.from }, log);
}
