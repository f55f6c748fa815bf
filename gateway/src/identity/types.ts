// Types of the identity layer: who is calling (the user, through which agent) and from which
// device. Both come from signed JWTs only; nothing here is taken from unsigned request data.
import type { JSONWebKeySet } from "jose";

/** Where a verifier finds the issuer's public keys. */
export type KeySource =
  | {
      /** The issuer's JWKS endpoint (cached; refetched when an unknown kid shows up). */
      kind: "remote";
      /** https, or http on a loopback host (127.0.0.1, ::1, localhost) unless `allowHttp`. */
      url: URL;
      /** Abort a JWKS request after this many milliseconds (default 5000). */
      timeoutMs?: number;
      /** Minimum milliseconds between two fetches triggered by unknown kids (default 30000). */
      cooldownMs?: number;
      /** Refetch the set once it is this old, in milliseconds (default 600000). */
      cacheMaxAgeMs?: number;
      /** Accept a plain-http URL on a non-loopback host (development networks only). */
      allowHttp?: boolean;
    }
  /** A JWKS file, read once when the verifier is created. */
  | { kind: "file"; path: string }
  /** An in-memory JWKS (tests, or keys obtained some other way). */
  | { kind: "jwks"; jwks: JSONWebKeySet };

/** Options shared by the access-token and posture verifiers. */
export interface TokenVerifierOptions {
  /** Expected "iss" claim, exactly. */
  issuer: string;
  /** This service's identifier, which must be in the token's "aud" claim. */
  audience: string;
  keys: KeySource;
  /** Allowed JWS algorithms (asymmetric only). Default ["ES256", "EdDSA", "RS256", "PS256"]. */
  algorithms?: readonly string[];
  /** Leeway for "exp", "nbf" and "iat", in seconds, 0..120. Default 30. */
  clockToleranceSec?: number;
  /**
   * Oldest accepted token by its "iat" (RFC 8725 §3.10; jose's maxTokenAge), in seconds. "iat"
   * is then required, and one beyond the clock tolerance in the future is refused. Default
   * 86400; 0 turns the age check off (and with it the "iat" requirement).
   */
  maxTokenAgeSec?: number;
  /** The clock, in epoch seconds (tests freeze it). Default: the system clock. */
  now?: () => number;
}

export interface AccessTokenVerifierOptions extends TokenVerifierOptions {
  /** The claim that holds the user's groups. Default "groups". */
  groupsClaim?: string;
  /**
   * Remember verified tokens (keyed by their SHA-256) until they expire, at most `maxEntries` of
   * them, least recently used evicted first. Off by default. A cached token is not re-checked
   * against the key set, so a key withdrawn by the issuer stays trusted for the tokens it
   * already signed until they expire.
   */
  cache?: { maxEntries: number };
}

export interface PostureVerifierOptions extends TokenVerifierOptions {
  /** Remember verified posture tokens until their exp (see AccessTokenVerifierOptions.cache). */
  cache?: { maxEntries: number };
}

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
