// Verifies the gateway's call token before the worker runs anything.
//
// Accepts a call only if every check passes, in this order:
//   1. a token is present and of sane size;
//   2. signature by a key of the gateway's PUBLIC key set (the one in use: a token naming a kid
//      it lacks waits for the set to be read again, agent/src/gateway-keys.ts), with alg in
//      {ES256, EdDSA} (so "none", HMAC and RSA are refused before any key is looked at), typ
//      "call+jwt", issuer,
//      audience, exp/iat with a small clock tolerance, and a lifetime of at most 30 s. Checked
//      synchronously with node:crypto (common/compact-jwt.ts): this runs on every call, and
//      jose's WebCrypto path costs twice the CPU and a thread-pool round trip;
//   3. the claims have the expected shape (tool in the catalog, args_sha256, decision_id, sub,
//      act.sub, jti, and timeout_ms when present);
//   4. SHA-256 of the RFC 8785 form of the arguments received equals args_sha256;
//      (with timeout_ms, the verified call also says how long the gateway may still be waiting,
//      reckoned from iat on this clock: a token delivered late never gets a fresh deadline);
//   5. the jti was not seen before. Seen jtis are remembered until the token could no longer
//      pass step 2 (exp + tolerance). The memory is bounded: expired entries are evicted first,
//      and when it is still full the call is REFUSED (replay_cache_full) rather than an
//      unexpired jti forgotten, which would reopen the replay window. Fail closed.
//      The memory is the process's: with `startedAtMs`, a token issued before this process
//      started (iat <= its start second + the tolerance) may have been accepted by the process
//      before it, whose memory is gone, and is refused (call_token_expired) without running.
//      The gateway signs a fresh token per call, so only the first seconds after a start are
//      refused; `ready` says when a token signed now is accepted again (the worker's /healthz).
import { timingSafeEqual } from "node:crypto";
import type { JSONWebKeySet } from "jose";
import { argumentsDigest } from "../../common/canonical.ts";
import { fixedGatewayKeySet, type GatewayKeySet } from "./gateway-keys.ts";
import type { ToolName } from "../../common/catalog.ts";
import {
  CompactJwtError,
  createCompactJwtVerifier,
  type CompactJwtVerifier,
} from "../../common/compact-jwt.ts";
import {
  CALL_TOKEN_ALGORITHMS,
  CALL_TOKEN_MAX_TTL_SEC,
  CALL_TOKEN_TYPE,
  CallTokenClaims,
  type WorkerErrorCode,
} from "../../common/worker-contract.ts";

export const MAX_CLOCK_TOLERANCE_SEC = 5;
const MAX_TOKEN_CHARS = 4096;

export type CallTokenErrorCode = Extract<
  WorkerErrorCode,
  | "call_token_missing"
  | "call_token_invalid"
  | "call_token_expired"
  | "call_token_replayed"
  | "arguments_digest_mismatch"
  | "replay_cache_full"
>;

export class CallTokenError extends Error {
  readonly code: CallTokenErrorCode;

  constructor(code: CallTokenErrorCode, message: string, options?: { cause: unknown }) {
    super(message, options);
    this.name = "CallTokenError";
    this.code = code;
  }
}

export function isCallTokenError(value: unknown): value is CallTokenError {
  return value instanceof CallTokenError;
}

/** What a verified token says about the call. */
export interface VerifiedCall {
  tool: ToolName;
  argumentsDigest: string;
  decisionId: string;
  user: string;
  agent: string;
  traceId?: string;
  /** How long the gateway waits for the answer, in ms (absent: an older gateway, no deadline). */
  timeoutMs?: number;
  /**
   * With timeoutMs: the longest the gateway may still be waiting, in ms from verification. It
   * signed before iat + 1 s (its clock, which may lead this one by the clock tolerance) and
   * waits timeout_ms from then, however late the request arrives here.
   */
  waitLeftMs?: number;
  jti: string;
  issuedAt: number;
  expiresAt: number;
  kid: string;
}

/** Where the gateway's public keys come from: a fixed set, or one reloaded when it changes. */
export interface GatewayKeysOption {
  /** The gateway's public key set (EC P-256 or OKP Ed25519 keys, no private members). */
  jwks?: JSONWebKeySet;
  /** Or the key set read again when it changes (agent/src/gateway-keys.ts). One or the other. */
  keySet?: GatewayKeySet;
}

export interface CallTokenVerifierOptions extends GatewayKeysOption {
  issuer: string;
  audience: string;
  /** Accepted clock skew, whole seconds, 0..5. */
  clockToleranceSec: number;
  /** Most jtis remembered at once; beyond that, calls are refused until some expire. */
  maxReplayEntries: number;
  /** Clock in epoch milliseconds (default Date.now); tests freeze it. */
  now?: () => number;
  /**
   * When this process started, epoch ms (agent/src/main.ts): tokens issued up to then, which
   * a previous process may have run, are refused. Unset: no such bound (one app in a test).
   */
  startedAtMs?: number;
}

export interface CallTokenVerifier {
  /** Resolves with the verified call, or rejects with a CallTokenError. */
  verify(token: string | undefined, receivedArguments: unknown): Promise<VerifiedCall>;
  /** Number of jtis currently remembered. */
  readonly replayEntries: number;
  /** False while a token signed now could still be refused as issued before the start. */
  readonly ready: boolean;
}

// --- Replay cache -------------------------------------------------------------

export type ReplayCheck = "accepted" | "replayed" | "full";

export interface ReplayCache {
  /** Records `jti` until `forgetAtSec` unless it is already known or the cache is full. */
  check(jti: string, forgetAtSec: number, nowSec: number): ReplayCheck;
  readonly size: number;
}

export function createReplayCache(maxEntries: number): ReplayCache {
  if (!Number.isSafeInteger(maxEntries) || maxEntries < 1) {
    throw new RangeError("maxReplayEntries must be a positive whole number");
  }
  // jti -> epoch second from which the token can no longer verify. Insertion order roughly
  // follows expiry (one gateway, one TTL), so the cheap sweep pops from the front.
  const entries = new Map<string, number>();

  function evictFront(nowSec: number): void {
    for (const [jti, forgetAt] of entries) {
      if (forgetAt > nowSec) return;
      entries.delete(jti);
    }
  }

  function evictAll(nowSec: number): void {
    for (const [jti, forgetAt] of entries) if (forgetAt <= nowSec) entries.delete(jti);
  }

  return {
    check(jti, forgetAtSec, nowSec) {
      evictFront(nowSec);
      const known = entries.get(jti);
      if (known !== undefined && known > nowSec) return "replayed";
      if (entries.size >= maxEntries) evictAll(nowSec);
      if (entries.size >= maxEntries) return "full";
      entries.set(jti, forgetAtSec);
      return "accepted";
    },
    get size() {
      return entries.size;
    },
  };
}

// --- Verifier -----------------------------------------------------------------

/** The options' key set: `keySet`, or a fixed set of `jwks` (checked now, TypeError). */
export function keySetOf(options: GatewayKeysOption): GatewayKeySet {
  const { jwks, keySet } = options;
  if (keySet !== undefined && jwks === undefined) return keySet;
  if (jwks !== undefined && keySet === undefined) return fixedGatewayKeySet(jwks);
  throw new TypeError("give jwks or keySet, one of them");
}

/**
 * The token check shared by call and admin tokens: same keys, issuer, audience and lifetime.
 * `verify` runs synchronously against the keys in use. A token whose kid they lack is checked
 * once more after the key set was read again (GatewayKeySet.refresh: coalesced, at most once a
 * second, only if the file changed); tokens of known kids never wait.
 */
export function createGatewayTokenVerifier(
  options: Pick<CallTokenVerifierOptions, "issuer" | "audience" | "clockToleranceSec"> & {
    keySet: GatewayKeySet;
  },
  typ: string,
): CompactJwtVerifier {
  return createCompactJwtVerifier({
    keys: options.keySet.keys,
    algorithms: CALL_TOKEN_ALGORITHMS,
    typ,
    issuer: options.issuer,
    audience: options.audience,
    clockToleranceSec: options.clockToleranceSec,
    maxTokenAgeSec: CALL_TOKEN_MAX_TTL_SEC,
    requiredClaims: ["exp", "iat", "jti", "sub"],
  });
}

/** Runs `check`; if it threw for an unknown kid, once more after the key set was read again. */
export function withKeyReload<T>(keySet: GatewayKeySet, check: () => T): Promise<T> {
  try {
    return Promise.resolve(check());
  } catch (error) {
    if (!isUnknownKid(error)) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
    return keySet.refresh().then(check);
  }
}

function isUnknownKid(error: unknown): boolean {
  const cause = error instanceof Error && !(error instanceof CompactJwtError) ? error.cause : error;
  return cause instanceof CompactJwtError && cause.code === "unknown_kid";
}

/**
 * The last iat a process that ran before one started at `startedAtMs` could have accepted (it
 * accepts iat <= its now + tolerance), or undefined without a start. Its memory of token ids is
 * gone: a token issued up to then is refused, whatever it is for.
 */
export function issuedBeforeStartSec(
  startedAtMs: number | undefined,
  clockToleranceSec: number,
): number | undefined {
  return startedAtMs === undefined ? undefined : Math.floor(startedAtMs / 1000) + clockToleranceSec;
}

function toCallTokenError(error: unknown): CallTokenError {
  if (!(error instanceof CompactJwtError)) throw error;
  if (error.code === "expired" || error.code === "too_old") {
    return new CallTokenError("call_token_expired", "call token has expired", { cause: error });
  }
  return new CallTokenError("call_token_invalid", `call token is invalid (${error.message})`, {
    cause: error,
  });
}

/** What `run` returns, or its throw as a rejection: the verifier's contract is a promise. */
export function settled<T>(run: () => T): Promise<T> {
  try {
    return Promise.resolve(run());
  } catch (error) {
    return Promise.reject(error instanceof Error ? error : new Error(String(error)));
  }
}

function digestsEqual(a: string, b: string): boolean {
  const left = Buffer.from(a, "utf8");
  const right = Buffer.from(b, "utf8");
  return left.length === right.length && timingSafeEqual(left, right);
}

export function createCallTokenVerifier(options: CallTokenVerifierOptions): CallTokenVerifier {
  const { issuer, audience, clockToleranceSec } = options;
  if (issuer === "" || audience === "") throw new TypeError("issuer and audience are required");
  if (
    !Number.isInteger(clockToleranceSec) ||
    clockToleranceSec < 0 ||
    clockToleranceSec > MAX_CLOCK_TOLERANCE_SEC
  ) {
    throw new RangeError(
      `clockToleranceSec must be a whole number from 0 to ${MAX_CLOCK_TOLERANCE_SEC}`,
    );
  }
  const keySet = keySetOf(options);
  const tokens = createGatewayTokenVerifier({ ...options, keySet }, CALL_TOKEN_TYPE);
  const replay = createReplayCache(options.maxReplayEntries);
  const now = options.now ?? Date.now;
  const issuedBeforeStart = issuedBeforeStartSec(options.startedAtMs, clockToleranceSec);

  return {
    get replayEntries() {
      return replay.size;
    },

    get ready() {
      // A token signed now carries iat >= now - tolerance (the gateway's clock may lag).
      return (
        issuedBeforeStart === undefined ||
        Math.floor(now() / 1000) - clockToleranceSec > issuedBeforeStart
      );
    },

    verify(token, receivedArguments) {
      return withKeyReload(keySet, () => {
        if (token === undefined || token === "") {
          throw new CallTokenError("call_token_missing", "no call token");
        }
        if (token.length > MAX_TOKEN_CHARS) {
          throw new CallTokenError("call_token_invalid", "call token is too large");
        }

        const nowMs = now();
        const nowSec = Math.floor(nowMs / 1000);
        let verified: ReturnType<CompactJwtVerifier["verify"]>;
        try {
          verified = tokens.verify(token, nowSec);
        } catch (error) {
          throw toCallTokenError(error);
        }
        const { kid } = verified.header;
        const parsed = CallTokenClaims.safeParse(verified.payload);
        if (!parsed.success) {
          throw new CallTokenError("call_token_invalid", "call token claims are malformed");
        }
        const claims = parsed.data;
        if (claims.exp - claims.iat > CALL_TOKEN_MAX_TTL_SEC || claims.exp <= claims.iat) {
          throw new CallTokenError(
            "call_token_invalid",
            `call token lifetime must be 1 to ${CALL_TOKEN_MAX_TTL_SEC} seconds`,
          );
        }

        if (issuedBeforeStart !== undefined && claims.iat <= issuedBeforeStart) {
          throw new CallTokenError(
            "call_token_expired",
            "call token was issued before this worker started: it may have run already",
          );
        }

        let received: string;
        try {
          received = argumentsDigest(receivedArguments);
        } catch (error) {
          throw new CallTokenError("arguments_digest_mismatch", "arguments are not JSON", {
            cause: error,
          });
        }
        if (!digestsEqual(received, claims.args_sha256)) {
          throw new CallTokenError(
            "arguments_digest_mismatch",
            "arguments differ from those the call token was issued for",
          );
        }

        // Same second arithmetic as the token check: it verifies while exp > now - tolerance.
        switch (replay.check(claims.jti, claims.exp + clockToleranceSec, nowSec)) {
          case "accepted":
            break;
          case "replayed":
            throw new CallTokenError("call_token_replayed", "call token was already used");
          case "full":
            throw new CallTokenError(
              "replay_cache_full",
              "too many unexpired call tokens to remember; refusing new calls",
            );
        }

        return {
          tool: claims.tool,
          argumentsDigest: claims.args_sha256,
          decisionId: claims.decision_id,
          user: claims.sub,
          agent: claims.act.sub,
          ...(claims.trace_id === undefined ? {} : { traceId: claims.trace_id }),
          ...(claims.timeout_ms === undefined
            ? {}
            : {
                timeoutMs: claims.timeout_ms,
                waitLeftMs: (claims.iat + 1 + clockToleranceSec) * 1000 + claims.timeout_ms - nowMs,
              }),
          jti: claims.jti,
          issuedAt: claims.iat,
          expiresAt: claims.exp,
          kid,
        };
      });
    },
  };
}
