import type { CallOptions } from './call-options.js';
import { PcfError } from './errors.js';
import { path, type Transport } from './transport.js';
import type { ChangePasswordInput, Invitation, InvitationInput, LoginAnswer, LoginInput, Me, RegisterInput, Session, User } from './types.js';

/** What login answers, less the token, which goes to the client's storage and nowhere else. */
export type SignedIn = Omit<LoginAnswer, 'token'>;

/** Accounts and sessions: /api/v1/auth. */
export class Auth {
  constructor(private readonly transport: Transport) {}

  /** Creates an account (it does not sign in: call login next). */
  async register(input: RegisterInput, options: CallOptions = {}): Promise<User> {
    const { body } = await this.transport.request<{ user: User }>({
      method: 'POST',
      path: '/api/v1/auth/register',
      body: input,
      signal: options.signal,
      retry: 'once',
    });
    return body.user;
  }

  /** Signs in: the session token is kept in the client's storage and sent with every call. */
  async login(input: LoginInput, options: CallOptions = {}): Promise<SignedIn> {
    const { body } = await this.transport.request<LoginAnswer>({
      method: 'POST',
      path: '/api/v1/auth/login',
      body: input,
      signal: options.signal,
      retry: 'once',
    });
    const { token, ...rest } = body;
    await this.transport.storage.set(token);
    return rest;
  }

  /** Revokes this session and forgets its token (even when the server no longer knew it). */
  async logout(options: CallOptions = {}): Promise<void> {
    try {
      await this.transport.request({ method: 'POST', path: '/api/v1/auth/logout', signal: options.signal, retry: 'once' });
    } catch (err) {
      if (!(err instanceof PcfError) || err.status !== 401) throw err;
    } finally {
      await this.transport.storage.set(null);
    }
  }

  /** Whether a token is stored (not whether the server still accepts it: `me()` tells). */
  async signedIn(): Promise<boolean> {
    return Boolean(await this.transport.storage.get());
  }

  /** The caller: user, roles, permissions and storage usage. */
  async me(options: CallOptions = {}): Promise<Me> {
    return (await this.transport.request<Me>({ method: 'GET', path: '/api/v1/auth/me', signal: options.signal, retry: 'read' })).body;
  }

  /** Your active sessions (`current` marks this one). */
  async sessions(options: CallOptions = {}): Promise<Session[]> {
    return (await this.transport.request<{ items: Session[] }>({ method: 'GET', path: '/api/v1/auth/sessions', signal: options.signal, retry: 'read' })).body
      .items;
  }

  async revokeSession(id: string, options: CallOptions = {}): Promise<void> {
    await this.transport.request({ method: 'DELETE', path: path`/api/v1/auth/sessions/${id}`, signal: options.signal, retry: 'once' });
  }

  /** Changes your password; your other sessions are signed out, this one stays. */
  async changePassword(input: ChangePasswordInput, options: CallOptions = {}): Promise<void> {
    await this.transport.request({ method: 'POST', path: '/api/v1/auth/password', body: input, signal: options.signal, retry: 'once' });
  }

  /** Invites someone to register (invite-only registration); the token is shown once. */
  async invite(input: InvitationInput, options: CallOptions = {}): Promise<Invitation> {
    return (await this.transport.request<Invitation>({ method: 'POST', path: '/api/v1/auth/invitations', body: input, signal: options.signal, retry: 'once' }))
      .body;
  }
}
