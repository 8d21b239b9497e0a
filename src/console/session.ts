import { createHmac, randomBytes } from 'node:crypto';
import { secretEquals } from '../http/middleware.ts';

/**
 * The console's sessions: a cookie holding `<kind>.<expiresAt>.<id>.<signature>`, signed with
 * HMAC-SHA256 under a key derived from the admin token. The token itself never leaves the sign-in
 * form: a stolen cookie expires, and changing ADMIN_TOKEN ends every session at once. Nothing is
 * stored per session, so every instance of the server accepts the cookies of the others; sign-out
 * also remembers the ended id on this instance until it would have expired anyway.
 *
 * Two kinds: `s`, a signed-in session, and `p`, the short one the sign-in form is bound to (its
 * CSRF token), so that even the sign-in POST cannot be made from another site.
 */
export type TokenKind = 's' | 'p';

export interface ConsoleToken {
  kind: TokenKind;
  id: string;
  expiresAt: number;
}

const b64url = (buf: Buffer) => buf.toString('base64url');

export class ConsoleSessions {
  readonly #key: Buffer;
  /** Ended session ids with their expiry (seconds), so the map only holds live ones. */
  readonly #ended = new Map<string, number>();

  constructor(
    adminToken: string,
    readonly sessionSeconds: number,
    readonly clock: () => Date,
  ) {
    this.#key = createHmac('sha256', adminToken).update('agora-vendor console session v1').digest();
  }

  #mac(text: string): string {
    return b64url(createHmac('sha256', this.#key).update(text).digest());
  }

  #now(): number {
    return Math.floor(this.clock().getTime() / 1000);
  }

  /** A new cookie value of `kind`, valid for `seconds`. */
  issue(kind: TokenKind, seconds: number = this.sessionSeconds): { value: string; token: ConsoleToken } {
    const id = b64url(randomBytes(18));
    const expiresAt = this.#now() + seconds;
    const body = `${kind}.${expiresAt}.${id}`;
    return { value: `${body}.${this.#mac(body)}`, token: { kind, id, expiresAt } };
  }

  /** The token in a cookie value, when it is one of ours, of `kind`, unexpired and not ended. */
  verify(value: string | undefined, kind: TokenKind): ConsoleToken | undefined {
    if (!value) return undefined;
    const m = /^([sp])\.(\d{1,12})\.([A-Za-z0-9_-]{24})\.([A-Za-z0-9_-]{43})$/.exec(value);
    if (!m || m[1] !== kind) return undefined;
    if (!secretEquals(m[4]!, this.#mac(`${m[1]}.${m[2]}.${m[3]}`))) return undefined;
    const expiresAt = Number(m[2]);
    if (expiresAt <= this.#now()) return undefined;
    if (this.#ended.has(m[3]!)) return undefined;
    return { kind, id: m[3]!, expiresAt };
  }

  /** The CSRF token of a session: derived from its id, so it needs no storage and dies with it. */
  csrfOf(token: ConsoleToken): string {
    return this.#mac(`csrf.${token.kind}.${token.id}`);
  }

  csrfMatches(token: ConsoleToken, sent: unknown): boolean {
    return typeof sent === 'string' && sent.length > 0 && secretEquals(sent, this.csrfOf(token));
  }

  /** Sign-out: this id is refused from now on (on this instance; the cookie is also cleared). */
  end(token: ConsoleToken): void {
    const now = this.#now();
    for (const [id, expiresAt] of this.#ended) if (expiresAt <= now) this.#ended.delete(id);
    this.#ended.set(token.id, token.expiresAt);
  }
}
