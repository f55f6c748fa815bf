// The wire contract between the gateway and the agent worker, in one place: both sides import it
// (the gateway's gateway/src/handoff/*, the worker's agent/src/*), so neither can drift alone.
//
//   POST /v1/execute/{tool}
//     Authorization: Bearer <call token>
//     { "arguments": {...}, "decision_id": "...", "trace_id"?: "..." }
//   -> 200 { "result": ..., "compensation"?: {...}, "evidence": { "untrusted": true, "redactions",
//            "injection": { "suspected", "indicators" } } }
//   -> 4xx/5xx application/problem+json (RFC 9457)
//            { "type", "title", "status", "detail", "code", "issues"?, "connector_code"? }, code
//            from WORKER_ERRORS
//
// The call token: an asymmetric JWT (header { alg: ES256 | EdDSA, kid, typ: "call+jwt" }) that
// the gateway signs and the worker verifies with the gateway's PUBLIC key set. Claims: iss, aud,
// sub (the user), act.sub (the acting agent), tool, args_sha256 (SHA-256 of the RFC 8785 form of
// the arguments, common/canonical.ts), decision_id, trace_id?, timeout_ms?, jti, iat, exp; at most
// 30 s. `timeout_ms` is how long the gateway waits for the answer: the worker stops the call's
// connector requests and retries before then (agent/src/connectors/deadline.ts), so that nothing
// runs on after the gateway has given up and recorded the call.
import type { JWK } from "jose";
import { z } from "zod";
import { ARGUMENTS_DIGEST } from "./canonical.ts";
import { TOOL_NAMES } from "./catalog.ts";
import { IDENTITY_LIMITS } from "./identity.ts";

// --- The call token ------------------------------------------------------------

/** JWT "typ" header of a call token (RFC 8725 explicit typing). */
export const CALL_TOKEN_TYPE = "call+jwt";
/** Who signs call tokens: the gateway. */
export const CALL_TOKEN_ISSUER = "zyx-agent-gateway";
/** Who accepts them: the agent worker. */
export const CALL_TOKEN_AUDIENCE = "zyx-agent-worker";
/** Upper bound on a call token's lifetime (exp - iat), in seconds. */
export const CALL_TOKEN_MAX_TTL_SEC = 30;
/** Only asymmetric algorithms: the worker can verify call tokens, never mint them. */
export const CALL_TOKEN_ALGORITHMS = ["ES256", "EdDSA"] as const;
export type CallTokenAlgorithm = (typeof CALL_TOKEN_ALGORITHMS)[number];

/** The algorithm a call-token key signs or verifies with (P-256, Ed25519), or undefined. */
export function callTokenAlgorithmOf(jwk: JWK): CallTokenAlgorithm | undefined {
  if (jwk.kty === "EC" && jwk.crv === "P-256") return "ES256";
  if (jwk.kty === "OKP" && jwk.crv === "Ed25519") return "EdDSA";
  return undefined;
}

const text = z.string().min(1).max(256);

/** The longest a gateway waits for the worker (its WORKER_TIMEOUT_MS bound). */
export const CALL_TIMEOUT_MAX_MS = 120_000;

/** The claims of a call token, as the worker requires them (iss, aud and typ are jose's checks). */
export const CallTokenClaims = z.object({
  tool: z.enum(TOOL_NAMES),
  args_sha256: z.string().regex(ARGUMENTS_DIGEST),
  decision_id: text,
  // Whoever the gateway lets in: a longer subject would pass the gateway and fail its call token.
  sub: z.string().min(1).max(IDENTITY_LIMITS.subject),
  act: z.object({ sub: z.string().min(1).max(IDENTITY_LIMITS.agent) }),
  trace_id: text.optional(),
  /** How long the gateway waits for the answer, in ms, from sending the request. */
  timeout_ms: z.int().min(1).max(CALL_TIMEOUT_MAX_MS).optional(),
  jti: text,
  iat: z.int(),
  exp: z.int(),
});
export type CallTokenClaims = z.infer<typeof CallTokenClaims>;

// --- The admin call: revoke a connector's credentials (the kill switch's reach) ----

/**
 *   POST /v1/admin/connectors/{connector}/revoke
 *     Authorization: Bearer <admin token>   (typ "admin+jwt", same keys, issuer and audience as
 *                                           call tokens; claims action, connector, sub, jti,
 *                                           iat, exp; at most 30 s; each jti once)
 *   -> 200 { "connector", "revoked": true, "already": boolean }
 * The worker drops the connector's adapter (and with it the credentials it holds) until it
 * restarts; every later call of that connector's tools fails (connector_revoked).
 */
export const ADMIN_TOKEN_TYPE = "admin+jwt";

export const AdminTokenClaims = z.object({
  action: z.literal("revoke_connector"),
  connector: z.string().regex(/^[a-z][a-z0-9_-]{0,39}$/),
  sub: text,
  jti: text,
  iat: z.int(),
  exp: z.int(),
});
export type AdminTokenClaims = z.infer<typeof AdminTokenClaims>;

export function revokePath(connector: string): string {
  return `v1/admin/connectors/${encodeURIComponent(connector)}/revoke`;
}

export const RevokeAnswer = z.strictObject({
  connector: z.string(),
  revoked: z.literal(true),
  already: z.boolean(),
});

// --- The request -----------------------------------------------------------------

/** The path of a call, relative to the worker's base URL. */
export function executePath(tool: string): string {
  return `v1/execute/${encodeURIComponent(tool)}`;
}

/** The largest request body the worker reads. */
export const WORKER_MAX_BODY_BYTES = 256 * 1024;

export const WorkerRequest = z.strictObject({
  arguments: z.unknown(),
  decision_id: text,
  trace_id: text.optional(),
});
export type WorkerRequest = z.infer<typeof WorkerRequest>;

// --- The answer ------------------------------------------------------------------

/** How the worker's output guard judged the result (retrieved content is untrusted evidence). */
export const WorkerEvidence = z.strictObject({
  untrusted: z.literal(true),
  redactions: z.number().int().min(0),
  injection: z.strictObject({ suspected: z.boolean(), indicators: z.array(z.string()) }),
});
export type WorkerEvidence = z.infer<typeof WorkerEvidence>;

/** What undoing a write needs (its kind and the identifiers of what it created or changed). */
export const WorkerCompensation = z.record(z.string(), z.unknown());
export type WorkerCompensation = z.infer<typeof WorkerCompensation>;

/** A successful call: the result, the compensation handle of a write, the guard's verdict. */
export const WorkerSuccess = z.object({
  result: z.unknown(),
  compensation: WorkerCompensation.optional(),
  evidence: WorkerEvidence,
});
export type WorkerSuccess = z.infer<typeof WorkerSuccess>;

// --- Errors: RFC 9457 problem documents ------------------------------------------

export const PROBLEM_CONTENT_TYPE = "application/problem+json";
export const WORKER_PROBLEM_TYPE_BASE = "https://agent-worker.zyxbank.example/problems/";

/** The worker's closed table of error codes: status and title. Extend, never rename. */
export const WORKER_ERRORS = {
  call_token_missing: { status: 401, title: "Call token missing" },
  call_token_invalid: { status: 401, title: "Call token invalid" },
  call_token_expired: { status: 401, title: "Call token expired" },
  call_token_tool_mismatch: { status: 401, title: "Call token is for another tool" },
  call_token_decision_mismatch: { status: 401, title: "Call token is for another decision" },
  arguments_digest_mismatch: { status: 400, title: "Arguments differ from the call token's" },
  call_token_replayed: { status: 409, title: "Call token already used" },
  // Not the caller's fault: too many live tokens to remember. Refused, retry later.
  replay_cache_full: { status: 503, title: "Too many live call tokens" },
  request_malformed: { status: 400, title: "Malformed request" },
  request_body_too_large: { status: 413, title: "Request body too large" },
  // A body not sent as `Content-Type: application/json` (common/json-media-type.ts): not read.
  request_media_type_unsupported: { status: 415, title: "Unsupported media type" },
  arguments_invalid: { status: 400, title: "Invalid tool arguments" },
  route_not_found: { status: 404, title: "No such route" },
  // GET /metrics: only the platform's scraper, with its bearer token (WORKER_METRICS_TOKEN).
  metrics_token_missing: { status: 401, title: "Metrics token missing" },
  metrics_token_invalid: { status: 401, title: "Metrics token invalid" },
  tool_failed: { status: 502, title: "Tool failed" },
  // The agent's comment or message holds a secret (output validation): refused, nothing posted.
  output_rejected: { status: 422, title: "Output rejected" },
  // The gateway's deadline (the call token's timeout_ms) passed: a read stopped, or a call that
  // had not started. Nothing was written.
  deadline_exceeded: { status: 504, title: "Gateway deadline passed" },
  // A write stopped at the gateway's deadline after its request may have reached the system:
  // whether it took effect is unknown, and a person must look.
  tool_outcome_unknown: { status: 504, title: "Tool outcome unknown" },
  internal_error: { status: 500, title: "Internal error" },
} as const satisfies Record<string, { status: number; title: string }>;

export type WorkerErrorCode = keyof typeof WORKER_ERRORS;
export const WORKER_ERROR_CODES = Object.keys(WORKER_ERRORS) as [
  WorkerErrorCode,
  ...WorkerErrorCode[],
];

/** One issue with the arguments: a JSON Pointer into them and what is wrong there. */
export const WorkerIssue = z.object({ path: z.string(), message: z.string() });

/**
 * A worker error as it travels. The gateway reads it loosely (z.string() for the code) so that a
 * newer worker's new code is still reported, not mistaken for a malformed answer.
 */
export const WorkerProblem = z.object({
  type: z.string(),
  title: z.string(),
  status: z.number().int(),
  detail: z.string(),
  code: z.string(),
  issues: z.array(WorkerIssue).optional(),
  /**
   * tool_failed and tool_outcome_unknown: the connector's own code (connector_not_found...),
   * never its message (which may quote what the system answered).
   */
  connector_code: z.string().optional(),
});
export type WorkerProblem = z.infer<typeof WorkerProblem>;

/** The problem document for a worker error code. */
export function workerProblem(
  code: WorkerErrorCode,
  detail: string,
  issues?: readonly z.infer<typeof WorkerIssue>[],
  connectorCode?: string,
): WorkerProblem {
  const { status, title } = WORKER_ERRORS[code];
  return {
    type: `${WORKER_PROBLEM_TYPE_BASE}${code}`,
    title,
    status,
    detail,
    code,
    ...(issues === undefined ? {} : { issues: [...issues] }),
    ...(connectorCode === undefined ? {} : { connector_code: connectorCode }),
  };
}
