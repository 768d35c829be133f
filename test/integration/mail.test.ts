import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { after, afterEach, before, describe, it } from 'node:test';
import { createMailer, DisabledMailer, MailError, parseSmtpUrl, SmtpMailer, type Mailer } from '../../src/infra/mail/index.js';
import { createLogger } from '../../src/infra/telemetry/logger.js';
import { captureLogs } from '../support/logs.js';
import { freePort } from '../support/net.js';
import { startSmtpServer, type SmtpTestServer } from '../support/smtp.js';

const FROM = 'PCF API <no-reply@pcf.test>';
const logs = captureLogs();
const logger = createLogger({ level: 'debug', destination: logs.stream });

/** The local server's URL with credentials; `secret` must never leak. */
function withCredentials(smtp: SmtpTestServer, user = 'bob', pass = 'secret'): string {
  return smtp.url.replace('smtp://', `smtp://${encodeURIComponent(user)}:${encodeURIComponent(pass)}@`);
}

async function elapsed(work: () => Promise<unknown>): Promise<{ ms: number; error: unknown }> {
  const started = performance.now();
  try {
    await work();
    return { ms: performance.now() - started, error: undefined };
  } catch (error) {
    return { ms: performance.now() - started, error };
  }
}

describe('mail over SMTP', () => {
  let smtp: SmtpTestServer;
  const mailers: Mailer[] = [];
  const mailer = (smtpUrl: string): Mailer => {
    const made = createMailer({ smtpUrl, from: FROM }, logger);
    mailers.push(made);
    return made;
  };

  before(async () => {
    smtp = await startSmtpServer({ users: { bob: 'secret', 'carol@pcf.test': 'p@ss:w/rd%' } });
  });
  afterEach(() => {
    smtp.clear();
  });
  after(async () => {
    await Promise.all(mailers.map((m) => m.close()));
    await smtp.close();
    // Nothing this file logged may carry a password, whatever happened above.
    assert.ok(!logs.text().includes('secret'), 'no log line holds the password');
  });

  it('delivers a message with the configured sender, recipient, subject and text', async () => {
    const m = mailer(smtp.url);
    assert.equal(m.kind, 'smtp');
    await m.send({ to: 'Ada Lovelace <ada@pcf.test>', subject: 'Resource “plans” changed', text: 'Version 3 of plans is out.\nSee you.' });
    const mail = await smtp.waitFor((received) => received.envelope.to.includes('ada@pcf.test'));
    assert.deepEqual(mail.envelope, { from: 'no-reply@pcf.test', to: ['ada@pcf.test'] });
    assert.equal(mail.from, FROM);
    assert.equal(mail.to, 'Ada Lovelace <ada@pcf.test>');
    assert.equal(mail.subject, 'Resource “plans” changed');
    assert.equal(mail.text, 'Version 3 of plans is out.\nSee you.');
    assert.equal(mail.html, undefined);
    assert.equal(mail.user, undefined, 'no credentials in the URL, no AUTH');
  });

  it('sends the HTML alternative alongside the text, unicode intact', async () => {
    const m = mailer(smtp.url);
    const text = `Grüße, ${'long line '.repeat(20)}✓\n`;
    await m.send({ to: 'ada@pcf.test', subject: 'Ünïcode ✓', text, html: '<p>Grüße ✓</p>' });
    const mail = await smtp.waitFor();
    assert.equal(mail.subject, 'Ünïcode ✓');
    assert.equal(mail.text, text);
    assert.equal(mail.html, '<p>Grüße ✓</p>');
  });

  it('reuses its pooled connection for several messages', async () => {
    const m = mailer(smtp.url);
    await Promise.all([1, 2, 3].map((n) => m.send({ to: `user${n}@pcf.test`, subject: `n${n}`, text: `body ${n}` })));
    assert.deepEqual(smtp.messages.map((mail) => mail.subject).sort(), ['n1', 'n2', 'n3']);
  });

  it('authenticates with the percent-decoded user and password of the URL', async () => {
    const m = mailer(withCredentials(smtp, 'carol@pcf.test', 'p@ss:w/rd%'));
    await m.ping();
    await m.send({ to: 'ada@pcf.test', subject: 'auth', text: 'hi' });
    assert.equal((await smtp.waitFor()).user, 'carol@pcf.test');
  });

  it('rejects a temporary failure with a retryable MailError that holds no password, then sends again', async () => {
    const m = mailer(withCredentials(smtp));
    smtp.failNext(1);
    const before = logs.text().length;
    const failure = await m.send({ to: 'ada@pcf.test', subject: 'first try', text: 'hi' }).then(
      () => assert.fail('send should have rejected'),
      (error: unknown) => error,
    );
    assert.ok(failure instanceof MailError);
    assert.equal(failure.responseCode, 451);
    assert.equal(failure.permanent, false);
    assert.match(failure.message, /451/);
    assert.ok(!failure.message.includes('secret') && !String(failure.stack).includes('secret'));
    assert.ok(!JSON.stringify(failure).includes('secret'));
    assert.equal(failure.cause, undefined);
    const logged = logs.text().slice(before);
    assert.match(logged, /mail delivery failed/);
    assert.ok(!logged.includes('secret'));
    assert.equal(smtp.failedCount >= 1, true);

    // The caller's retry goes through on the same mailer.
    await m.send({ to: 'ada@pcf.test', subject: 'second try', text: 'hi' });
    assert.equal((await smtp.waitFor()).subject, 'second try');
  });

  it('scrubs the password even when the server echoes it in its reply', async () => {
    const m = mailer(withCredentials(smtp));
    const plainToken = Buffer.from('\0bob\0secret').toString('base64');
    smtp.failNext(1, { code: 451, message: `try again secret ${plainToken}` });
    const before = logs.text().length;
    const failure = await m.send({ to: 'ada@pcf.test', subject: 's', text: 't' }).catch((error: unknown) => error);
    assert.ok(failure instanceof MailError);
    assert.ok(!failure.message.includes('secret') && !failure.message.includes(plainToken), failure.message);
    assert.match(failure.message, /\[redacted\]/);
    const logged = logs.text().slice(before);
    assert.ok(!logged.includes('secret') && !logged.includes(plainToken));
  });

  it('marks a 5xx refusal as permanent', async () => {
    const m = mailer(smtp.url);
    smtp.failNext(1, { code: 550, message: 'Mailbox unavailable' });
    const failure = await m.send({ to: 'nobody@pcf.test', subject: 's', text: 't' }).catch((error: unknown) => error);
    assert.ok(failure instanceof MailError);
    assert.equal(failure.responseCode, 550);
    assert.equal(failure.permanent, true);
  });

  it('rejects wrong credentials without repeating them, as a failure to retry once they are mended', async () => {
    const m = mailer(withCredentials(smtp, 'bob', 'secret-but-wrong'));
    const pingFailure = await m.ping().catch((error: unknown) => error);
    assert.ok(pingFailure instanceof MailError);
    assert.equal(pingFailure.code, 'EAUTH');
    const failure = await m.send({ to: 'ada@pcf.test', subject: 's', text: 't' }).catch((error: unknown) => error);
    assert.ok(failure instanceof MailError);
    assert.equal(failure.code, 'EAUTH');
    assert.equal(failure.permanent, false, 'the message is not at fault: it waits for the credentials to be fixed');
    assert.ok(!failure.message.includes('secret') && !pingFailure.message.includes('secret'));
  });

  it('ping resolves when the server answers', async () => {
    await mailer(smtp.url).ping();
    await mailer(withCredentials(smtp)).ping();
  });

  it('ping and send reject at once when nothing listens, as a temporary failure', async () => {
    const m = mailer(`smtp://bob:secret@127.0.0.1:${await freePort()}`);
    const ping = await elapsed(() => m.ping());
    assert.ok(ping.error instanceof MailError, String(ping.error));
    assert.ok(ping.ms < 3000, `ping took ${ping.ms} ms`);
    assert.ok(!ping.error.message.includes('secret'));
    const send = await elapsed(() => m.send({ to: 'ada@pcf.test', subject: 's', text: 't' }));
    assert.ok(send.error instanceof MailError, String(send.error));
    assert.equal(send.error.permanent, false);
    assert.ok(send.ms < 3000, `send took ${send.ms} ms`);
  });

  it('ping gives up within its timeout when the server never greets', async () => {
    const sockets = new Set<Socket>();
    const silent: Server = createServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as { port: number };
    const m = new SmtpMailer({ url: `smtp://127.0.0.1:${port}`, from: FROM, timeoutMs: 300 }, logger);
    mailers.push(m);
    try {
      const ping = await elapsed(() => m.ping());
      assert.ok(ping.error instanceof MailError, String(ping.error));
      assert.equal(ping.error.permanent, false);
      assert.ok(ping.ms < 2000, `ping took ${ping.ms} ms`);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });

  it('close is idempotent and later sends reject', async () => {
    const m = mailer(smtp.url);
    await m.send({ to: 'ada@pcf.test', subject: 'before close', text: 'hi' });
    await Promise.all([m.close(), m.close()]);
    await m.close();
    await assert.rejects(
      m.send({ to: 'ada@pcf.test', subject: 'after close', text: 'hi' }),
      (error: unknown) => error instanceof MailError && error.code === 'ECLOSED',
    );
  });
});

describe('disabled mail', () => {
  it('is chosen for an empty URL: send rejects clearly, ping and close resolve', async () => {
    const m = createMailer({ smtpUrl: '', from: FROM }, logger);
    assert.equal(m.kind, 'disabled');
    assert.ok(m instanceof DisabledMailer);
    await assert.rejects(m.send({ to: 'ada@pcf.test', subject: 's', text: 't' }), (error: unknown) => {
      assert.ok(error instanceof MailError);
      assert.match(error.message, /mail is not configured/);
      assert.equal(error.code, 'EDISABLED');
      assert.equal(error.permanent, true);
      return true;
    });
    await m.ping();
    await m.close();
    await m.close();
  });
});

describe('mail URL', () => {
  const refused = (smtpUrl: string, pattern: RegExp) =>
    assert.throws(
      () => createMailer({ smtpUrl, from: FROM }, logger),
      (error: unknown) => {
        assert.ok(error instanceof TypeError, String(error));
        assert.match(error.message, pattern);
        assert.ok(!error.message.includes('secret'), error.message);
        assert.equal(error.cause, undefined);
        return true;
      },
    );

  it('refuses other schemes with a clear TypeError that does not repeat the URL', () => {
    refused('http://bob:secret@mail.pcf.test', /smtp:\/\/ or smtps:\/\//);
    refused('redis://bob:secret@mail.pcf.test:6379', /smtp:\/\/ or smtps:\/\//);
    refused('mail.pcf.test:25', /smtp:\/\/ or smtps:\/\//);
  });

  it('refuses malformed URLs, unknown options and an empty sender', () => {
    refused('smtp://bob:secret@', /not a valid URL/);
    refused('smtp://bob:secret@[::1', /not a valid URL/);
    refused('smtp://bob:secret@mail.pcf.test?tls=off', /unsupported query parameter "tls"/);
    refused('smtp://bob:secret@mail.pcf.test?debug=1', /unsupported query parameter "debug"/);
    assert.throws(() => createMailer({ smtpUrl: 'smtp://mail.pcf.test', from: ' ' }, logger), TypeError);
  });

  it('reads host, port, TLS mode and credentials', () => {
    assert.deepEqual(parseSmtpUrl('smtp://mail.pcf.test'), { host: 'mail.pcf.test', port: 587, secure: false, insecureTls: false });
    assert.deepEqual(parseSmtpUrl('smtps://mail.pcf.test'), { host: 'mail.pcf.test', port: 465, secure: true, insecureTls: false });
    assert.deepEqual(parseSmtpUrl('smtp://u%40pcf.test:p%40ss%3Aw@[::1]:2525/?tls=insecure'), {
      host: '::1',
      port: 2525,
      secure: false,
      auth: { user: 'u@pcf.test', pass: 'p@ss:w' },
      insecureTls: true,
    });
  });
});
