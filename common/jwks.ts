// Shared JWT plumbing for every process that verifies a user's or a device's token (the gateway,
// the development identity provider's token exchange, the example agent runtime): loading an
// issuer's key set (remote, file or in-memory), checking the options every verifier takes, and
// running jose's jwtVerify with the checks every token kind needs, turning jose's errors into
// short, stable reasons. An unreachable key set is a KeySetUnavailableError, which each process
// maps to its own error (the gateway: identity_provider_unavailable).
import { readFileSync } from "node:fs";
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  errors,
  jwtVerify,
  type JSONWebKeySet,
  type CompactJWSHeaderParameters,
  type JWTPayload,
  type JWTVerifyGetKey,
} from "jose";

/** JWT "typ" of an access token (RFC 9068). */
export const ACCESS_TOKEN_TYP = "at+jwt";
/** JWT "typ" of a device posture token. */
export const POSTURE_TOKEN_TYP = "posture+jwt";

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

/** Options shared by the token verifiers. */
export interface TokenVerifierOptions {
  /** Expected "iss" claim, exactly. */
  issuer: string;
  /** This service's identifier, which must be in the token's "aud" claim. */
  audience: string;
  keys: KeySource;
  /** Allowed JWS algorithms (asymmetric only). Default ["ES256", "EdDSA", "RS256", "PS256"]. */
  algorithms?: readonly string[];
  /** Leeway for "exp" and "nbf", in seconds, 0..120. Default 30. */
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

/** A remote key set could not be fetched: the issuer, not the token, is at fault. */
export class KeySetUnavailableError extends Error {
  constructor(message: string, options?: { cause: unknown }) {
    super(message, options);
    this.name = "KeySetUnavailableError";
  }
}

export const DEFAULT_ALGORITHMS: readonly string[] = ["ES256", "EdDSA", "RS256", "PS256"];
export const DEFAULT_CLOCK_TOLERANCE_SEC = 30;
export const MAX_CLOCK_TOLERANCE_SEC = 120;
/** Longer compact JWTs are refused before any parsing. */
export const MAX_TOKEN_LENGTH = 16_384;

/** The asymmetric JWS algorithms a verifier may allow. Never "none", never HS*. */
const ASYMMETRIC_ALGORITHMS: ReadonlySet<string> = new Set([
  "ES256",
  "ES384",
  "ES512",
  "EdDSA",
  "Ed25519",
  "RS256",
  "RS384",
  "RS512",
  "PS256",
  "PS384",
  "PS512",
]);

/** Hosts a plain-http key-set URL may name (the traffic never leaves the machine). */
export const LOOPBACK_HOSTS: ReadonlySet<string> = new Set(["127.0.0.1", "[::1]", "localhost"]);

/** jose error codes that mean the token, not the key set's provider, is at fault. */
const TOKEN_KEY_ERRORS: ReadonlySet<string> = new Set([
  "ERR_JWKS_NO_MATCHING_KEY",
  "ERR_JWKS_MULTIPLE_MATCHING_KEYS",
  "ERR_JOSE_NOT_SUPPORTED",
]);

/** Checks an algorithm allow-list; throws TypeError on "none", HS*, unknown or empty lists. */
export function checkAlgorithms(algorithms: readonly string[] | undefined): string[] {
  if (algorithms === undefined) return [...DEFAULT_ALGORITHMS];
  const list: readonly unknown[] = algorithms;
  if (!Array.isArray(list) || list.length === 0) {
    throw new TypeError('"algorithms" must be a non-empty array');
  }
  for (const alg of list) {
    if (typeof alg !== "string") throw new TypeError('"algorithms" must contain strings only');
    if (alg.toLowerCase() === "none") throw new TypeError('"algorithms" must not contain "none"');
    if (/^HS\d+$/i.test(alg)) {
      throw new TypeError(`"algorithms" must not contain the symmetric algorithm "${alg}"`);
    }
    if (!ASYMMETRIC_ALGORITHMS.has(alg)) {
      throw new TypeError(`"algorithms" contains the unsupported algorithm "${alg}"`);
    }
  }
  return [...new Set(algorithms)];
}

/** Checks the clock tolerance: a number of seconds in 0..120 (default 30). */
export function checkClockTolerance(seconds: number | undefined): number {
  if (seconds === undefined) return DEFAULT_CLOCK_TOLERANCE_SEC;
  if (
    typeof seconds !== "number" ||
    !Number.isFinite(seconds) ||
    seconds < 0 ||
    seconds > MAX_CLOCK_TOLERANCE_SEC
  ) {
    throw new TypeError(
      `"clockToleranceSec" must be a number from 0 to ${MAX_CLOCK_TOLERANCE_SEC}`,
    );
  }
  return seconds;
}

/** Checks a required string option. */
export function checkNonEmptyString(name: string, value: unknown): string {
  if (typeof value !== "string" || value.trim() === "") {
    throw new TypeError(`"${name}" must be a non-empty string`);
  }
  return value;
}

function checkKeySet(value: unknown, where: string): JSONWebKeySet {
  if (typeof value !== "object" || value === null || !("keys" in value)) {
    throw new TypeError(`${where} is not a JSON Web Key Set (no "keys" member)`);
  }
  const { keys } = value;
  if (!Array.isArray(keys) || keys.length === 0) {
    throw new TypeError(`${where} must hold a non-empty "keys" array`);
  }
  for (const key of keys as unknown[]) {
    if (typeof key !== "object" || key === null) {
      throw new TypeError(`${where} has a key that is not an object`);
    }
    if ("d" in key || ("kty" in key && key.kty === "oct")) {
      throw new TypeError(`${where} must hold public keys only`);
    }
  }
  return value as JSONWebKeySet;
}

function localResolver(jwks: JSONWebKeySet, where: string): JWTVerifyGetKey {
  try {
    return createLocalJWKSet(checkKeySet(jwks, where));
  } catch (error) {
    if (error instanceof TypeError) throw error;
    throw new TypeError(`${where} is malformed: ${describeError(error)}`, { cause: error });
  }
}

function readKeySetFile(path: string): JSONWebKeySet {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new Error(`cannot read the key set file ${path}: ${describeError(error)}`, {
      cause: error,
    });
  }
  try {
    return JSON.parse(text) as JSONWebKeySet;
  } catch (error) {
    throw new TypeError(`key set file ${path} is not valid JSON`, { cause: error });
  }
}

function checkRemoteUrl(url: unknown, allowHttp: boolean): URL {
  if (!(url instanceof URL)) throw new TypeError('"keys.url" must be a URL');
  if (url.protocol === "https:") return url;
  if (url.protocol === "http:" && (allowHttp || LOOPBACK_HOSTS.has(url.hostname))) return url;
  // Never the whole URL: its user info or query may be a credential.
  throw new TypeError(
    `"keys.url" must use https (or http on a loopback host): ${url.origin}${url.pathname}`,
  );
}

function checkMilliseconds(name: string, value: number | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "number" || !Number.isInteger(value) || value < 0) {
    throw new TypeError(`"keys.${name}" must be a non-negative integer`);
  }
  return value;
}

/**
 * Builds the key resolver for a key source, checking it now: a file is read once, here; a remote
 * set is fetched lazily by jose (cached, refetched on an unknown kid after the cooldown). When a
 * remote set cannot be fetched, the resolver throws a KeySetUnavailableError naming `label`.
 */
export function createKeyResolver(source: KeySource, label: string): JWTVerifyGetKey {
  switch (source.kind) {
    case "jwks":
      return localResolver(source.jwks, `the ${label} key set`);
    case "file":
      return localResolver(
        readKeySetFile(checkNonEmptyString("keys.path", source.path)),
        `key set file ${source.path}`,
      );
    case "remote": {
      const url = checkRemoteUrl(source.url, source.allowHttp === true);
      const timeoutDuration = checkMilliseconds("timeoutMs", source.timeoutMs);
      const cooldownDuration = checkMilliseconds("cooldownMs", source.cooldownMs);
      const cacheMaxAge = checkMilliseconds("cacheMaxAgeMs", source.cacheMaxAgeMs);
      const remote = createRemoteJWKSet(url, {
        ...(timeoutDuration === undefined ? {} : { timeoutDuration }),
        ...(cooldownDuration === undefined ? {} : { cooldownDuration }),
        ...(cacheMaxAge === undefined ? {} : { cacheMaxAge }),
      });
      return async (protectedHeader, token) => {
        try {
          return await remote(protectedHeader, token);
        } catch (error) {
          if (error instanceof errors.JOSEError && TOKEN_KEY_ERRORS.has(error.code)) throw error;
          throw new KeySetUnavailableError(
            `cannot load the ${label} key set from ${url.href}: ${describeError(error)}`,
            { cause: error },
          );
        }
      };
    }
    default:
      throw new TypeError(`"keys.kind" must be "remote", "file" or "jwks"`);
  }
}

/** A short description of anything thrown, with a network error's code (ECONNREFUSED...). */
export function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause: unknown = error.cause;
  const code =
    typeof cause === "object" && cause !== null && "code" in cause && typeof cause.code === "string"
      ? cause.code
      : undefined;
  return code === undefined ? error.message : `${error.message} (${code})`;
}

export const DEFAULT_MAX_TOKEN_AGE_SEC = 86_400;

/** Seconds, 0 (off) to 30 days; default 86400. */
export function checkMaxTokenAge(value: number | undefined): number {
  const age = value ?? DEFAULT_MAX_TOKEN_AGE_SEC;
  if (!Number.isInteger(age) || age < 0 || age > 2_592_000) {
    throw new TypeError('"maxTokenAgeSec" must be an integer from 0 to 2592000');
  }
  return age;
}

export type JwtOutcome =
  | {
      ok: true;
      payload: JWTPayload;
      /** The protected header and the key that verified the signature (for `stillTrusted`). */
      header: CompactJWSHeaderParameters;
      key: unknown;
    }
  | { ok: false; expired: boolean; reason: string };

export type JwtChecker = ((token: string) => Promise<JwtOutcome>) & {
  /**
   * Whether the key set still gives `key` for a token with `header`: false once the issuer has
   * withdrawn it (or a remote set was refetched since: verify again). A cache of verified tokens
   * asks it on every hit. Throws a KeySetUnavailableError when a remote set cannot be fetched.
   */
  readonly stillTrusted: (header: CompactJWSHeaderParameters, key: unknown) => Promise<boolean>;
};

/**
 * Checks the options shared by the verifiers and returns a function that verifies a compact JWT's
 * signature, "typ" header, issuer, audience, "exp" (required), "nbf" and "sub" (required). Token
 * faults come back as `ok: false` with a reason; an unreachable key set throws a
 * KeySetUnavailableError; anything else unexpected is rethrown.
 */
export function createJwtChecker(
  options: TokenVerifierOptions,
  typ: string,
  label: string,
): JwtChecker {
  if (typeof options !== "object") throw new TypeError("options must be an object");
  const issuer = checkNonEmptyString("issuer", options.issuer);
  const audience = checkNonEmptyString("audience", options.audience);
  const algorithms = checkAlgorithms(options.algorithms);
  const clockTolerance = checkClockTolerance(options.clockToleranceSec);
  const maxTokenAge = checkMaxTokenAge(options.maxTokenAgeSec);
  const { now } = options;
  if (now !== undefined && typeof now !== "function") {
    throw new TypeError('"now" must be a function returning epoch seconds');
  }
  if (typeof options.keys !== "object") throw new TypeError('"keys" must be a key source');
  const getKey = createKeyResolver(options.keys, label);

  const check = async (token: string): Promise<JwtOutcome> => {
    if (token.length > MAX_TOKEN_LENGTH) {
      return { ok: false, expired: false, reason: "token is too long" };
    }
    let resolved: unknown;
    const getThisKey: JWTVerifyGetKey = async (header, jws) => {
      resolved = await getKey(header, jws);
      return resolved as Awaited<ReturnType<JWTVerifyGetKey>>;
    };
    try {
      const { payload, protectedHeader } = await jwtVerify(token, getThisKey, {
        issuer,
        audience,
        algorithms,
        typ,
        clockTolerance,
        requiredClaims: ["exp", "sub"],
        ...(maxTokenAge === 0 ? {} : { maxTokenAge }),
        ...(now === undefined ? {} : { currentDate: new Date(now() * 1000) }),
      });
      return { ok: true, payload, header: protectedHeader, key: resolved };
    } catch (error) {
      if (error instanceof KeySetUnavailableError || !(error instanceof errors.JOSEError)) {
        throw error;
      }
      // An "iat" too far in the past is jose's JWTExpired too: the token is too old.
      return { ok: false, expired: error.code === "ERR_JWT_EXPIRED", reason: reason(error, typ) };
    }
  };
  const stillTrusted = async (
    header: CompactJWSHeaderParameters,
    key: unknown,
  ): Promise<boolean> => {
    try {
      return (await getKey(header, { payload: "", signature: "" })) === key;
    } catch (error) {
      if (error instanceof KeySetUnavailableError || !(error instanceof errors.JOSEError)) {
        throw error;
      }
      return false;
    }
  };
  return Object.assign(check, { stillTrusted });
}

const FIXED_REASONS: Readonly<Partial<Record<string, string>>> = {
  ERR_JWT_EXPIRED: "token has expired (exp)",
  ERR_JOSE_ALG_NOT_ALLOWED: 'token "alg" (algorithm) is not allowed',
  ERR_JWS_SIGNATURE_VERIFICATION_FAILED: "token signature verification failed",
  ERR_JWKS_NO_MATCHING_KEY: 'no key in the key set matches the token (unknown "kid")',
  ERR_JWKS_MULTIPLE_MATCHING_KEYS: 'several keys in the key set match the token (no "kid")',
};

function reason(error: errors.JOSEError, typ: string): string {
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.claim === "typ") return `unexpected "typ" header value (expected "${typ}")`;
    if (error.claim === "nbf" && error.reason === "check_failed") {
      return "token is not yet valid (nbf)";
    }
    return error.message;
  }
  // jose reports a token too old by its iat as expired: say which claim.
  if (error instanceof errors.JWTExpired && error.claim === "iat") return error.message;
  const fixed = FIXED_REASONS[error.code];
  if (fixed !== undefined) return fixed;
  if (error.code === "ERR_JWS_INVALID" || error.code === "ERR_JWT_INVALID") {
    return `malformed token: ${error.message}`;
  }
  return `token cannot be verified: ${error.message}`;
}
