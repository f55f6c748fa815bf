// Types of the identity layer: who is calling (the user, through which agent) and from which
// device. Both come from signed JWTs only; nothing here is taken from unsigned request data.
import type { KeySource, TokenVerifierOptions } from "../../../common/jwks.ts";

// The key source and the options every verifier takes are shared with the other processes.
export type { KeySource, TokenVerifierOptions };

export interface AccessTokenVerifierOptions extends TokenVerifierOptions {
  /** The claim that holds the user's groups. Default "groups". */
  groupsClaim?: string;
  /**
   * Remember verified tokens (keyed by their SHA-256) until they expire, at most `maxEntries` of
   * them, least recently used evicted first. Off by default. A hit is served only while the key
   * that verified the token is still in the issuer's key set: a withdrawn key stops its cached
   * tokens at the next key-set refresh.
   */
  cache?: { maxEntries: number };
}

export interface PostureVerifierOptions extends TokenVerifierOptions {
  /** Remember verified posture tokens until their exp (see AccessTokenVerifierOptions.cache). */
  cache?: { maxEntries: number };
}

/** How long the identity a token carries may be (common/identity.ts). */
export { IDENTITY_LIMITS } from "../../../common/identity.ts";

/** The user behind an access token, and the agent acting for them (RFC 8693 "act"). */
export interface VerifiedPrincipal {
  /** The "sub" claim. */
  subject: string;
  /** The "email" claim, when it is a string. */
  email?: string;
  groups: string[];
  /** The acting agent: "act.sub". */
  agent: string;
  /** The "jti" claim, when it is a string. */
  tokenId?: string;
  /** The "exp" claim, epoch seconds. */
  expiresAt: number;
}

/** A device-trust verdict on the user's device. Its freshness is judged by the policy. */
export interface VerifiedPosture {
  /** The "sub" claim: the user the device belongs to. */
  subject: string;
  compliant: boolean;
  /** When the device was checked ("checked_at"), epoch seconds. */
  checkedAt: number;
  /** The "device_id" claim, when present. */
  deviceId?: string;
}

// `verify` is a property, not a method: it does not use `this`, so it may be passed around alone.
export interface AccessTokenVerifier {
  /** Verifies a compact JWT; throws a GatewayError with a token_* or identity_* code. */
  readonly verify: (token: string) => Promise<VerifiedPrincipal>;
}

export interface PostureVerifier {
  /**
   * Verifies a posture JWT issued for `expectedSubject` (the access token's subject); throws a
   * GatewayError with a posture_* (or identity_provider_unavailable) code.
   */
  readonly verify: (token: string | undefined, expectedSubject: string) => Promise<VerifiedPosture>;
}
