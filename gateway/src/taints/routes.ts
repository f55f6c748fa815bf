// The security admins' handle on session taints, a Hono sub-app mounted under /v1/admin:
//
//   GET    /taints?limit=N     the tainted actors this replica holds (at most N, default 100), and
//                             counts: sessions, actors, the bound, whether the store saturated
//   DELETE /taints/actors      {"user", "agent", "reason"}: a verified user's agent, tainted in
//                             every session since it read content flagged as prompt injection
//   DELETE /taints/sessions    {"session_id", "reason"}: one session
//
// A taint holds every write of the session or actor for human approval (pipeline/decide.ts), and
// with PostgreSQL an actor's taint outlives restarts: clearing it is how an incident closes.
//
// Each request, in order, failing closed: body limit (413) → a body only as application/json
// (415 request_media_type_unsupported) → `authenticate(c)`, the verified administrator
// (401/403/503 as the kill switch's routes) → one of `adminGroups` (403 admin_forbidden) → body
// (400 request_malformed) → an actor's clear is refused once the store
// forgot session taints at its bound (409 taint_clear_refused: those sessions' only hold is the
// actor's taint) → the audit record, durable BEFORE anything changes (503 audit_unavailable:
// nothing changed) → the clear, of the taint as it stood when the request came (one set since
// stays), or 503 session_signals_unavailable when the shared store did not confirm it (it may or
// may not have happened; a second record says "unconfirmed", best effort). Clearing a key that
// is not tainted is answered `cleared: false` and still audited. An actor's clear leaves the
// sessions that read the injection tainted: their context holds it.
import type { Context } from "hono";
import { Hono } from "hono";
import type { AuditRecordInput } from "../audit/record.ts";
import {
  ADMIN_BODY_LIMIT_BYTES,
  ClearActorTaintBody,
  ClearSessionTaintBody,
  TaintListQuery,
} from "../http/contract.ts";
import { checkAdminGroups, noStore, requireAdminGroup, type AdminPrincipal } from "../lib/admin.ts";
import { limitJsonBody, parseJson, parseWith } from "../lib/body.ts";
import { checkSourceOf, type CallSource, type SourceOf } from "../lib/client-address.ts";
import { GatewayError } from "../lib/errors.ts";
import { actorKey, clearRefused, type SessionSignals, type TaintAdmin } from "../session.ts";

export interface TaintRoutesOptions {
  taints: TaintAdmin & Pick<SessionSignals, "isTainted">;
  /** The verified administrator (as the kill switch's routes take it). */
  authenticate: (c: Context) => AdminPrincipal | Promise<AdminPrincipal>;
  /** Makes one record durable (AuditLog.append); rejects when it cannot. */
  audit: (record: AuditRecordInput) => Promise<unknown>;
  now: () => number;
  /** Groups whose members may read and clear taints. Default ["grp-ai-security-admins"]. */
  adminGroups?: readonly string[] | undefined;
  /** Where a request came from (lib/client-address.ts sourceOf), recorded with each clear. */
  sourceOf?: SourceOf | undefined;
}

const DEFAULT_LIST_LIMIT = 100;

function evicted(): GatewayError {
  return new GatewayError(
    "taint_clear_refused",
    "session taints were forgotten at the store's bound, and clearing an agent could free a " +
      "session that read injected content: clear that agent's sessions one by one (their ids are " +
      "in the audit log); in memory a restart empties the store, with PostgreSQL the clear is " +
      "possible again once the session rows are within the bound",
  );
}

type Target =
  { kind: "actor"; user: string; agent: string } | { kind: "session"; session_id: string };

export function createTaintRoutes(options: TaintRoutesOptions): Hono {
  const admins = checkAdminGroups(options.adminGroups);
  if (typeof options.taints !== "object") throw new TypeError("taints is required");
  if (typeof options.audit !== "function") throw new TypeError("audit must be a function");
  checkSourceOf(options.sourceOf);
  const { taints, authenticate, audit, now } = options;

  async function admin(c: Context): Promise<AdminPrincipal> {
    return requireAdminGroup(await authenticate(c), admins);
  }

  /**
   * Audit, then clear: the record is durable before the taint goes. The clear takes the taint as
   * it stood when the request came: one set since (new content read meanwhile) stays.
   */
  async function clear(
    principal: AdminPrincipal,
    target: Target,
    reason: string,
    source: CallSource | undefined,
  ) {
    // Clearing an actor frees its sessions whose own taint the store forgot at its bound (asked
    // here for a clear answer, and again by the store as the clear runs).
    const key = target.kind === "actor" ? actorKey(target.user, target.agent) : target.session_id;
    if (clearRefused(key, taints.listTaints(0).stats)) throw evicted();
    let upTo: number;
    try {
      upTo = await taints.clock();
    } catch (cause) {
      throw new GatewayError(
        "session_signals_unavailable",
        "the shared session signals cannot be reached: nothing changed",
        { cause },
      );
    }
    const record: AuditRecordInput = {
      event: "taint_cleared",
      timestamp: new Date(now()).toISOString(),
      user: {
        subject: principal.subject,
        ...(principal.email === undefined ? {} : { email: principal.email }),
      },
      ...(source === undefined ? {} : { source }),
      details: { target, reason },
    };
    try {
      await audit(record);
    } catch (cause) {
      throw new GatewayError(
        "audit_unavailable",
        "the audit record of this clear could not be written, so nothing changed",
        { cause },
      );
    }
    let outcome: { cleared: boolean; refused?: true };
    try {
      outcome = await taints.clearTaint(key, upTo);
    } catch (cause) {
      await followUp(record, { status: "unconfirmed", code: "session_signals_unavailable" });
      throw new GatewayError(
        "session_signals_unavailable",
        "the shared session signals did not confirm the clear: it may or may not have " +
          "happened; list the taints to see",
        { cause },
      );
    }
    if (outcome.refused === true) {
      await followUp(record, { status: "refused", code: "taint_clear_refused" });
      throw evicted();
    }
    // Still tainted here: the store saturated, the key was tainted again meanwhile, or (shared
    // store) this replica's rebuild has not landed yet.
    return { cleared: outcome.cleared, still_tainted: taints.isTainted(key) };
  }

  /** A second record saying how the clear ended (best effort: the first is durable). */
  async function followUp(
    record: AuditRecordInput,
    outcome: { status: string; code: string },
  ): Promise<void> {
    const timestamp = new Date(now()).toISOString();
    await audit({ ...record, timestamp, outcome }).catch(() => undefined);
  }

  const app = new Hono();
  app.get("/taints", async (c) => {
    await admin(c);
    const query = parseWith(TaintListQuery, c.req.query(), "limit is an integer from 0 to 1000");
    const { actors, stats } = taints.listTaints(query.limit ?? DEFAULT_LIST_LIMIT);
    return noStore(c, {
      actors,
      actors_total: stats.actors,
      sessions_total: stats.sessions,
      max_actors: stats.maxActors,
      saturated: stats.saturated,
    });
  });
  const limit = limitJsonBody(ADMIN_BODY_LIMIT_BYTES);
  app.delete("/taints/actors", limit, async (c) => {
    const principal = await admin(c);
    const body = parseWith(
      ClearActorTaintBody,
      parseJson(await c.req.text()),
      'the request body must be {"user": string, "agent": string, "reason": string}',
    );
    const target: Target = { kind: "actor", user: body.user, agent: body.agent };
    return noStore(c, await clear(principal, target, body.reason, options.sourceOf?.(c)));
  });
  app.delete("/taints/sessions", limit, async (c) => {
    const principal = await admin(c);
    const body = parseWith(
      ClearSessionTaintBody,
      parseJson(await c.req.text()),
      'the request body must be {"session_id": string, "reason": string}',
    );
    const target: Target = { kind: "session", session_id: body.session_id };
    return noStore(c, await clear(principal, target, body.reason, options.sourceOf?.(c)));
  });
  return app;
}
