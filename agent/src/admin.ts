// The worker's admin door: the gateway's kill switch may ask it to revoke one connector's
// credentials (gateway/src/killswitch/reach.ts). The request carries an admin token that the
// gateway signs with its call-token key (typ "admin+jwt", common/worker-contract.ts): the same
// public key set verifies it, and nothing else may ask.
//
// Revoking drops the connector's adapter: the object that holds its token is replaced by one that
// refuses every call (ConnectorError connector_forbidden, "revoked"), so the credential is no
// longer reachable from any tool until the worker restarts with its configuration. Idempotent:
// a second revocation answers `already: true`. Failure modes: a bad, expired or replayed token is
// refused (401/409) and revokes nothing; an unknown connector is 404.
//
// Replay: each admin token id is accepted once, remembered in this process until the token can
// no longer verify. That memory dies with the process, so (as for call tokens, call-token.ts)
// with `startedAtMs` a token issued before this process started (iat <= its start second + the
// clock tolerance), which the process before may have accepted, is refused as
// call_token_expired (the admin door shares the call token's codes). The gateway signs a fresh
// admin token per revocation: only those sent in the first seconds after a start are refused,
// the window during which the worker's /healthz answers 503 "starting".
import { ADMIN_TOKEN_TYPE, AdminTokenClaims } from "../../common/worker-contract.ts";
import {
  createGatewayTokenVerifier,
  createReplayCache,
  issuedBeforeStartSec,
  keySetOf,
  withKeyReload,
  type GatewayKeysOption,
} from "./call-token.ts";
import { runWithStop } from "./connectors/deadline.ts";
import { ConnectorError, type ConnectorName, type Connectors } from "./connectors/port.ts";

export interface AdminTokenVerifier {
  /** The verified claims; throws AdminRefusal. */
  verify(token: string | undefined): Promise<AdminTokenClaims>;
}

export class AdminRefusal extends Error {
  readonly code:
    | "call_token_missing"
    | "call_token_invalid"
    | "call_token_expired"
    | "call_token_replayed"
    | "replay_cache_full";
  constructor(code: AdminRefusal["code"], message: string, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = "AdminRefusal";
    this.code = code;
  }
}

export interface AdminTokenVerifierOptions extends GatewayKeysOption {
  issuer: string;
  audience: string;
  clockToleranceSec: number;
  now?: () => number;
  /** Live admin tokens remembered against replay (default 10 000). */
  maxReplayEntries?: number;
  /**
   * When this process started, epoch ms (agent/src/main.ts): admin tokens issued up to then are
   * refused (call_token_expired). Unset: no such bound (one app in a test).
   */
  startedAtMs?: number;
}

export function createAdminTokenVerifier(options: AdminTokenVerifierOptions): AdminTokenVerifier {
  const keySet = keySetOf(options);
  const tokens = createGatewayTokenVerifier({ ...options, keySet }, ADMIN_TOKEN_TYPE);
  const replay = createReplayCache(options.maxReplayEntries ?? 10_000);
  const now = options.now ?? Date.now;
  const issuedBeforeStart = issuedBeforeStartSec(options.startedAtMs, options.clockToleranceSec);
  return {
    verify(token) {
      return withKeyReload(keySet, () => {
        if (token === undefined || token === "") {
          throw new AdminRefusal("call_token_missing", "no admin token");
        }
        const nowSec = Math.floor(now() / 1000);
        let payload: unknown;
        try {
          ({ payload } = tokens.verify(token, nowSec));
        } catch (error) {
          throw new AdminRefusal("call_token_invalid", "admin token is invalid or expired", error);
        }
        const claims = AdminTokenClaims.safeParse(payload);
        if (!claims.success) throw new AdminRefusal("call_token_invalid", "admin claims malformed");
        if (issuedBeforeStart !== undefined && claims.data.iat <= issuedBeforeStart) {
          throw new AdminRefusal(
            "call_token_expired",
            "admin token was issued before this worker started: it may have been used already",
          );
        }
        const seen = replay.check(claims.data.jti, claims.data.exp + 60, nowSec);
        // Full is not "reused": the token is refused (fail closed) as the worker's calls are, 503.
        if (seen === "full") {
          throw new AdminRefusal("replay_cache_full", "too many live admin tokens to check replay");
        }
        if (seen !== "accepted")
          throw new AdminRefusal("call_token_replayed", "admin token reused");
        return claims.data;
      });
    },
  };
}

export interface RevocableConnectors {
  /** Read by the tools at every call: a revoked connector is a refusing stand-in. */
  connectors: Connectors;
  /** Drops the connector's adapter; true if it was live. Throws on an unknown connector. */
  revoke(name: string): boolean;
  revoked(): string[];
}

function refusing(name: ConnectorName): never {
  throw new ConnectorError(
    name,
    "connector_forbidden",
    `${name}: credentials revoked by the kill switch`,
  );
}

/** A stand-in whose every method refuses (same method names as the adapter it replaces). */
function revokedAdapter<T extends object>(name: ConnectorName, adapter: T): T {
  const stub: Record<string, () => Promise<never>> = {};
  for (const key of Object.keys(adapter)) {
    stub[key] = () => Promise.resolve().then(() => refusing(name));
  }
  return stub as T;
}

/**
 * `adapter` whose every method runs under `stop` (connectors/deadline.ts runWithStop): when the
 * connector is revoked, its calls in flight are aborted and retry nothing with the credential.
 */
function stoppableAdapter<T extends object>(adapter: T, stop: AbortSignal): T {
  const wrapped: Record<string, unknown> = {};
  for (const key of Object.keys(adapter)) {
    const method = (adapter as Record<string, unknown>)[key];
    wrapped[key] =
      typeof method === "function"
        ? (...args: unknown[]) =>
            runWithStop(stop, () => Promise.resolve(method.apply(adapter, args) as unknown))
        : method;
  }
  return wrapped as T;
}

export function createRevocableConnectors(live: Connectors): RevocableConnectors {
  const stops = new Map<ConnectorName, AbortController>();
  const connectors = Object.fromEntries(
    Object.entries(live).map(([name, adapter]) => {
      const stop = new AbortController();
      stops.set(name as ConnectorName, stop);
      return [name, stoppableAdapter(adapter as object, stop.signal)];
    }),
  ) as unknown as Connectors;
  const gone = new Set<ConnectorName>();
  const isName = (name: string): name is ConnectorName => Object.hasOwn(connectors, name);
  return {
    connectors,
    revoke(name) {
      if (!isName(name)) throw new RangeError(`no connector ${name}`);
      if (gone.has(name)) return false;
      gone.add(name);
      // The adapter (and the credential in its closure) is no longer referenced by any tool.
      (connectors as unknown as Record<string, object>)[name] = revokedAdapter(
        name,
        connectors[name],
      );
      // Calls already running stop too: a request in flight is aborted, no retry is sent. A write
      // stopped so may have been applied (not a refusal): the worker reports its outcome unknown.
      stops
        .get(name)
        ?.abort(
          new ConnectorError(
            name,
            "connector_unavailable",
            `${name}: credentials revoked by the kill switch while the call ran`,
          ),
        );
      return true;
    },
    revoked: () => [...gone],
  };
}
