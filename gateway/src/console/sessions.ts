// The approver console's server-side state: sign-ins in progress (state, nonce, PKCE verifier)
// and signed-in sessions (the person's access token, never sent to the browser, and a CSRF
// token). The browser holds only random identifiers in cookies.
//
// Invariants: a session id and a sign-in id are 256-bit random values; a session lives at most
// `maxAgeMs` from sign-in (then console_session_stale: sign in again); a sign-in in progress lives
// SIGN_IN_TTL_MS and is used once. CSRF tokens are compared in constant time. Sessions are held in
// memory: a restart signs everyone out (fail closed), and each replica has its own (sticky
// sessions, or sign in again). Both maps are bounded; the oldest entries go first.
import { randomBytes, timingSafeEqual } from "node:crypto";
import { GatewayError } from "../lib/errors.ts";

export interface SignInState {
  state: string;
  nonce: string;
  verifier: string;
  createdAt: number;
}

export interface ConsoleSession {
  id: string;
  accessToken: string;
  subject: string;
  csrf: string;
  createdAt: number;
}

const SIGN_IN_TTL_MS = 10 * 60_000;
const MAX_ENTRIES = 10_000;

function randomId(): string {
  return randomBytes(32).toString("base64url");
}

function bounded<V>(map: Map<string, V>, key: string, value: V): void {
  map.set(key, value);
  for (const oldest of map.keys()) {
    if (map.size <= MAX_ENTRIES) break;
    map.delete(oldest);
  }
}

/** Constant-time equality of two strings (false when the lengths differ). */
export function sameSecret(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

export function createConsoleSessions(options: { maxAgeMs: number; now: () => number }) {
  const { maxAgeMs, now } = options;
  if (!Number.isInteger(maxAgeMs) || maxAgeMs < 1_000) {
    throw new TypeError("maxAgeMs must be an integer of at least 1000");
  }
  const signIns = new Map<string, SignInState>();
  const sessions = new Map<string, ConsoleSession>();

  return {
    /** Remembers a sign-in in progress; returns its id (the sign-in cookie's value). */
    beginSignIn(state: Omit<SignInState, "createdAt">): string {
      const id = randomId();
      bounded(signIns, id, { ...state, createdAt: now() });
      return id;
    },

    /** The sign-in of this cookie if its state matches; removed either way (used once). */
    takeSignIn(id: string | undefined, state: string | undefined): SignInState {
      const found = id === undefined ? undefined : signIns.get(id);
      if (id !== undefined) signIns.delete(id);
      if (found === undefined || now() - found.createdAt > SIGN_IN_TTL_MS) {
        throw new GatewayError("console_sign_in_failed", "no sign-in in progress in this browser");
      }
      if (state === undefined || !sameSecret(found.state, state)) {
        throw new GatewayError("console_sign_in_failed", "the state does not match this sign-in");
      }
      return found;
    },

    create(accessToken: string, subject: string): ConsoleSession {
      const session = { id: randomId(), accessToken, subject, csrf: randomId(), createdAt: now() };
      bounded(sessions, session.id, session);
      return session;
    },

    /** The session of this cookie; console_session_missing / _stale otherwise. */
    get(id: string | undefined): ConsoleSession {
      const session = id === undefined ? undefined : sessions.get(id);
      if (session === undefined) {
        throw new GatewayError("console_session_missing", "sign in to the console first");
      }
      if (now() - session.createdAt > maxAgeMs) {
        sessions.delete(session.id);
        throw new GatewayError(
          "console_session_stale",
          "the console session expired: sign in again",
        );
      }
      return session;
    },

    /** Signs out. */
    end(id: string | undefined): void {
      if (id !== undefined) sessions.delete(id);
    },
  };
}

export type ConsoleSessions = ReturnType<typeof createConsoleSessions>;
