// The audit record: what the gateway writes once per decision and once per outcome, and the
// hash chain that makes the log tamper-evident.
//
// One JSON object per line. The chain members are strict: `seq` counts from 1 without gaps,
// `prev_hash` is the previous record's `hash` (64 zeros for the first record), and `hash` is the
// lower-case hex SHA-256 of the RFC 8785 canonical JSON of the record without its `hash` member.
// The payload members are permissive: most are optional and depend on the event, and a reader
// never rejects a record for a member it does not know (the schema grows, old logs must verify).
import { hash } from "node:crypto";
import { Ajv2020 } from "ajv/dist/2020.js";
import { z } from "zod";
import { canonicalJson, isOrderSensitiveKey } from "../../../common/canonical.ts";

/** `prev_hash` of the first record. */
export const GENESIS_HASH = "0".repeat(64);

const HEX_SHA256 = /^[0-9a-f]{64}$/;

/** The events the gateway writes today. The union is open: new events must not break readers. */
export const AUDIT_EVENTS = ["decision", "outcome"] as const;
export type AuditEvent = (typeof AUDIT_EVENTS)[number] | (string & Record<never, never>);

/** Outcome statuses the gateway writes today (open union, like events). */
export type OutcomeStatus =
  "executed" | "denied" | "failed" | "pending_approval" | (string & Record<never, never>);

const Reason = z.looseObject({ code: z.string(), message: z.string() });

/** What the gateway hands to `AuditLog.append`: everything but the chain members. */
export const AuditRecordInput = z.looseObject({
  /** ISO 8601; the log stamps its own clock when absent. */
  timestamp: z.iso.datetime({ offset: true }).optional(),
  event: z.string().min(1),
  decision_id: z.string().optional(),
  trace_id: z.string().optional(),
  user: z.looseObject({ subject: z.string(), email: z.string().optional() }).optional(),
  groups: z.array(z.string()).optional(),
  device: z
    .looseObject({
      compliant: z.boolean(),
      /** ISO 8601 or epoch seconds, as the posture carried it. */
      checked_at: z.union([z.string(), z.number()]),
      device_id: z.string().optional(),
    })
    .optional(),
  /** The acting agent: its id, or an object carrying it. */
  agent: z.union([z.string(), z.looseObject({ id: z.string() })]).optional(),
  model: z.string().optional(),
  /** The delegation / reasoning trace that led to the call, as the gateway recorded it. */
  decision_trace: z.unknown().optional(),
  workflow: z.string().optional(),
  session_id: z.string().optional(),
  tool: z.string().optional(),
  /** The tool arguments; the log masks secrets and bounds sizes before writing. */
  arguments: z.record(z.string(), z.unknown()).optional(),
  /**
   * SHA-256 (hex) of the arguments' canonical JSON, as the gateway decided and signed them for the
   * worker: what ran, when `arguments` is masked or cut.
   */
  arguments_digest: z
    .string()
    .regex(/^[0-9a-f]{64}$/)
    .optional(),
  decision: z.looseObject({ allow: z.boolean(), reasons: z.array(Reason) }).optional(),
  risk_score: z.number().optional(),
  approval: z
    .looseObject({
      required: z.boolean(),
      approvers_required: z.number().int().nonnegative(),
      state: z.string(),
    })
    .optional(),
  policy_revision: z.string().optional(),
  /** The front door the call came through: "rest" or "mcp". */
  door: z.string().optional(),
  /**
   * Where the call came from (lib/client-address.ts): the client's address, the socket's peer,
   * and how X-Forwarded-For was used (only from a trusted proxy). Absent: no socket address.
   */
  source: z
    .looseObject({
      ip: z.string().min(1),
      peer: z.string().min(1),
      forwarded: z.string().optional(),
    })
    .optional(),
  /** The policy's whole input for this decision (masked like the rest), for forensic replay. */
  decision_input: z.record(z.string(), z.unknown()).optional(),
  latency_ms: z.number().nonnegative().optional(),
  outcome: z
    .looseObject({
      status: z.string().min(1),
      code: z.string().optional(),
      http_status: z.number().int().optional(),
    })
    .optional(),
  /** Anything else worth keeping; masked like the arguments. */
  details: z.record(z.string(), z.unknown()).optional(),
  /** The gateway replica that wrote the record (scale-out); the log stamps it. */
  replica: z.string().min(1).optional(),
});

/**
 * The schema above compiled to code (ajv, from zod's own JSON Schema of it: one definition).
 * About ten times cheaper than zod on an audit record (issue 18), and only ever trusted to
 * accept: strict numbers (no NaN or infinities, as zod), datetime and digest patterns from zod.
 */
const acceptsAuditRecordInput = new Ajv2020({
  strict: true,
  allowUnionTypes: true,
  strictNumbers: true,
  validateFormats: false,
  allErrors: false,
}).compile(z.toJSONSchema(AuditRecordInput, { io: "input", target: "draft-2020-12" }));

/**
 * Whether `input` is a valid AuditRecordInput. The compiled check accepts the common case; what
 * it refuses is judged by zod, whose verdict and message are final. So the compiled check may
 * only be stricter than zod, never laxer (a differential property test holds it).
 */
export function checkAuditRecordInput(
  input: unknown,
): { ok: true } | { ok: false; message: string } {
  if (acceptsAuditRecordInput(input)) return { ok: true };
  const checked = AuditRecordInput.safeParse(input);
  return checked.success ? { ok: true } : { ok: false, message: z.prettifyError(checked.error) };
}

export interface AuditReason {
  code: string;
  message: string;
}

/** The input type, with the open unions spelled out for callers. */
export interface AuditRecordInput {
  /** ISO 8601; the log stamps its own clock when absent. */
  timestamp?: string | undefined;
  event: AuditEvent;
  decision_id?: string | undefined;
  trace_id?: string | undefined;
  user?: { subject: string; email?: string | undefined } | undefined;
  groups?: readonly string[] | undefined;
  device?:
    { compliant: boolean; checked_at: string | number; device_id?: string | undefined } | undefined;
  agent?: string | { id: string; [member: string]: unknown } | undefined;
  model?: string | undefined;
  decision_trace?: unknown;
  workflow?: string | undefined;
  session_id?: string | undefined;
  tool?: string | undefined;
  /** Masked (secrets, sizes) by the log before writing. */
  arguments?: Readonly<Record<string, unknown>> | undefined;
  /** The arguments' digest (common/canonical.ts argumentsDigest): binds what ran. */
  arguments_digest?: string | undefined;
  decision?: { allow: boolean; reasons: readonly AuditReason[] } | undefined;
  risk_score?: number | undefined;
  approval?:
    | {
        required: boolean;
        approvers_required: number;
        approver_groups?: readonly string[];
        fallback_groups?: readonly string[];
        mode?: string;
        state: string;
      }
    | undefined;
  policy_revision?: string | undefined;
  /** The front door the call came through: "rest" or "mcp". */
  door?: string | undefined;
  /** Where the call came from: client address, socket peer, use of X-Forwarded-For. */
  source?: { ip: string; peer: string; forwarded?: string | undefined } | undefined;
  /** The policy's whole input for this decision, for forensic replay. */
  decision_input?: Readonly<Record<string, unknown>> | undefined;
  latency_ms?: number | undefined;
  outcome?:
    | { status: OutcomeStatus; code?: string | undefined; http_status?: number | undefined }
    | undefined;
  /** Free-form; masked like the arguments. */
  details?: Readonly<Record<string, unknown>> | undefined;
  /** The gateway replica that wrote the record (scale-out); the log stamps it. */
  replica?: string | undefined;
}

/** The members that make the chain. Strict: a record without them is malformed. */
export const ChainFields = z.looseObject({
  seq: z.number().int().positive().max(Number.MAX_SAFE_INTEGER),
  prev_hash: z.string().regex(HEX_SHA256, "prev_hash must be 64 lower-case hex digits"),
  hash: z.string().regex(HEX_SHA256, "hash must be 64 lower-case hex digits"),
  timestamp: z.string(),
  event: z.string().min(1),
});

export type ChainFields = z.infer<typeof ChainFields>;

/** A record as stored: the input plus its chain members. */
export const AuditRecord = AuditRecordInput.extend({
  timestamp: z.string(),
  seq: ChainFields.shape.seq,
  prev_hash: ChainFields.shape.prev_hash,
  hash: ChainFields.shape.hash,
});

export interface AuditRecord extends AuditRecordInput {
  timestamp: string;
  seq: number;
  prev_hash: string;
  hash: string;
  [member: string]: unknown;
}

/** Hex SHA-256 of the canonical JSON of `record` without its `hash` member. */
export function recordHash(record: Readonly<Record<string, unknown>>): string {
  const body = { ...record };
  delete body["hash"];
  return sha256Hex(canonicalJson(body));
}

export function sha256Hex(text: string): string {
  return hash("sha256", text, "hex");
}

/**
 * One stored line: canonical JSON of the record without `hash`, with `hash` appended as the last
 * member (so the writer canonicalizes once). Returns the line without its newline.
 *
 * `nestedInOrder`: the caller vouches that every value below the top level is already in RFC 8785
 * order with nothing JSON.stringify would reorder (maskSecretsSorted's `canonicalOrder`), so only
 * the top level's members are sorted here. Tested: the same line as the general path.
 */
export function serializeRecord(
  body: Readonly<Record<string, unknown>>,
  nestedInOrder = false,
): {
  line: string;
  hash: string;
} {
  const top = nestedInOrder ? sortedTopLevel(body) : undefined;
  const canonical = top === undefined ? canonicalJson(body) : JSON.stringify(top);
  if (!canonical.startsWith("{") || canonical === "{}") {
    throw new TypeError("an audit record is a non-empty JSON object");
  }
  const hash = sha256Hex(canonical);
  return { line: `${canonical.slice(0, -1)},"hash":"${hash}"}`, hash };
}

/**
 * The top level's members in RFC 8785 order, or undefined for what the general path must judge:
 * a key JSON.stringify would move, or a top-level string or number the caller did not vouch for
 * (the chain members and `replica` are added after the mask) that RFC 8785 refuses.
 */
function sortedTopLevel(
  body: Readonly<Record<string, unknown>>,
): Record<string, unknown> | undefined {
  const keys = Object.keys(body).sort();
  const out: Record<string, unknown> = {};
  for (const key of keys) {
    if (isOrderSensitiveKey(key) || !key.isWellFormed()) return undefined;
    const value = body[key];
    if (typeof value === "string" && !value.isWellFormed()) return undefined;
    if (typeof value === "number" && !Number.isFinite(value)) return undefined;
    out[key] = value;
  }
  return out;
}

export type ParsedLine =
  | {
      ok: true;
      record: ChainFields & Record<string, unknown>;
      /** The record's content hashes to its `hash`. */
      hashValid: boolean;
      /** The line is byte for byte what the log writes for this content (no hand edits). */
      canonical: boolean;
    }
  | { ok: false; seq?: number; reason: string };

/**
 * Parse one stored line (without its newline) and check its own hash. `ok: false` means the
 * line is not a record at all (not JSON, not an object, chain members missing or ill-formed).
 */
export function parseStoredLine(text: string): ParsedLine {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, reason: "not valid JSON" };
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return { ok: false, reason: "not a JSON object" };
  }
  const parsed = ChainFields.safeParse(value);
  if (!parsed.success) {
    const seq = (value as { seq?: unknown }).seq;
    const issue = parsed.error.issues[0];
    const where = issue === undefined ? "" : `${issue.path.map(String).join(".")}: `;
    const reason = `chain members invalid (${where}${issue?.message ?? "invalid"})`;
    return Number.isSafeInteger(seq)
      ? { ok: false, seq: seq as number, reason }
      : { ok: false, reason };
  }
  let canonical: string;
  try {
    // Hash what was read, not zod's copy of it.
    const body: Record<string, unknown> = { ...(value as Record<string, unknown>) };
    delete body["hash"];
    canonical = canonicalJson(body);
  } catch {
    return { ok: false, seq: parsed.data.seq, reason: "not representable as canonical JSON" };
  }
  const hash = sha256Hex(canonical);
  return {
    ok: true,
    record: parsed.data,
    hashValid: hash === parsed.data.hash,
    canonical: text === `${canonical.slice(0, -1)},"hash":"${parsed.data.hash}"}`,
  };
}
