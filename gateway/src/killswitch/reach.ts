// The kill switch's reach: when a `connector` or `all-writes` scope is SET, the gateway also
//   1. asks the worker to revoke that connector's credentials (for all-writes: every connector
//      that has a write tool in the catalog), through a signed admin call (an "admin+jwt" token
//      signed with the call-token key, common/worker-contract.ts; the worker drops the adapter);
//   2. pages security: a webhook with a PagerDuty Events v2 "trigger" payload, to the URL
//      configured (KILL_SWITCH_PAGE_URL, with KILL_SWITCH_PAGE_ROUTING_KEY).
// Both are audited (event "kill_switch_reach", one record per action, its outcome and code).
//
// It wraps the kill switch (a decorator over KillSwitch.set) rather than living inside it: the
// kill-switch service keeps its own invariants (audit, save, apply), and the reach only starts
// once the change is saved and applied. Clearing a scope reaches nothing (credentials come back
// with the worker's restart; a page is for the stop, not the all-clear).
//
// Failure modes: the stop itself never depends on the reach. The policy already refuses every
// call of the connector; a worker that cannot be reached or refuses the revocation, or a pager
// that does not answer 2xx within the timeout, is recorded as a failed reach (audited, logged)
// and the change still answers as changed. A reach record that cannot be written is logged.
import { randomUUID } from "node:crypto";
import { importJWK, SignJWT, type JWK } from "jose";
import type { Log } from "../../../common/service.ts";
import { ADMIN_TOKEN_TYPE, RevokeAnswer, revokePath } from "../../../common/worker-contract.ts";
import type { AuditRecordInput } from "../audit/record.ts";
import type { KillSwitch, KillSwitchActor } from "./service.ts";

export interface AdminCaller {
  /** Asks the worker to revoke `connector`'s credentials; throws on anything but 200. */
  revoke(connector: string, by: string): Promise<{ already: boolean }>;
}

export interface AdminCallerOptions {
  baseUrl: URL;
  /** The call-token private key (EC P-256 or Ed25519, with kid). */
  privateJwk: JWK;
  issuer: string;
  audience: string;
  timeoutMs: number;
  now?: () => number;
  fetch?: typeof fetch;
}

export function createAdminCaller(options: AdminCallerOptions): AdminCaller {
  const { privateJwk, issuer, audience } = options;
  if (typeof privateJwk.kid !== "string" || privateJwk.kid === "") {
    throw new TypeError("the admin caller's key needs a kid");
  }
  const kid = privateJwk.kid;
  const alg = privateJwk.kty === "OKP" ? "EdDSA" : "ES256";
  const key = importJWK(privateJwk, alg);
  const now = options.now ?? Date.now;
  const fetchImpl = options.fetch ?? fetch;
  return {
    async revoke(connector, by) {
      const iat = Math.floor(now() / 1000);
      const token = await new SignJWT({ action: "revoke_connector", connector })
        .setProtectedHeader({ alg, kid, typ: ADMIN_TOKEN_TYPE })
        .setIssuer(issuer)
        .setAudience(audience)
        .setSubject(by)
        .setJti(randomUUID())
        .setIssuedAt(iat)
        .setExpirationTime(iat + 30)
        .sign(await key);
      const response = await fetchImpl(new URL(revokePath(connector), options.baseUrl), {
        method: "POST",
        headers: { authorization: `Bearer ${token}` },
        signal: AbortSignal.timeout(options.timeoutMs),
      });
      const body: unknown = await response.json().catch(() => undefined);
      const parsed = RevokeAnswer.safeParse(body);
      if (response.status !== 200 || !parsed.success) {
        throw new Error(`worker answered ${String(response.status)} to the revocation`);
      }
      return { already: parsed.data.already };
    },
  };
}

export interface ReachOptions {
  /** Revoke connector credentials through the worker (absent: no revocation). */
  admin?: AdminCaller | undefined;
  /** Page security (absent: no page). */
  pager?: { url: URL; routingKey: string; timeoutMs?: number } | undefined;
  /** The connectors that have a write tool (what "all-writes" revokes). */
  writeConnectors: readonly string[];
  audit: (record: AuditRecordInput) => Promise<unknown>;
  now?: () => number;
  log: Log;
  fetch?: typeof fetch;
  /** Where the page says it came from (PagerDuty `source`). */
  source?: string;
}

interface Stop {
  scope: "connector" | "all-writes";
  value: string | undefined;
  by: string;
  reason: string;
  version: number;
}

/** A PagerDuty Events v2 "trigger" event for a kill-switch stop. */
export function pageEvent(
  stop: Stop,
  routingKey: string,
  source: string,
  at: string,
): Record<string, unknown> {
  const what = stop.scope === "connector" ? `connector ${stop.value ?? ""}` : "all write tools";
  return {
    routing_key: routingKey,
    event_action: "trigger",
    dedup_key: `zyx-kill-switch-${String(stop.version)}`,
    payload: {
      summary: `ZYX agent gateway kill switch: ${what} stopped by ${stop.by} (${stop.reason})`,
      source,
      severity: "critical",
      timestamp: at,
      component: "zyx-agent-gateway",
      group: "kill-switch",
      class: stop.scope,
      custom_details: {
        scope: stop.scope,
        value: stop.value ?? null,
        by: stop.by,
        reason: stop.reason,
        kill_switch_version: stop.version,
      },
    },
  };
}

function actorSubject(by: KillSwitchActor): string {
  return typeof by === "string" ? by : by.subject;
}

/** The kill switch, whose `set` of a connector or all-writes scope also reaches out. */
export function withReach(killSwitch: KillSwitch, options: ReachOptions): KillSwitch {
  const now = options.now ?? Date.now;
  const fetchImpl = options.fetch ?? fetch;
  const source = options.source ?? "zyx-agent-gateway";

  async function record(
    action: "revoke" | "page",
    stop: Stop,
    outcome: { status: "done" | "failed"; code?: string },
    details: Record<string, unknown>,
  ): Promise<void> {
    try {
      await options.audit({
        event: "kill_switch_reach",
        timestamp: new Date(now()).toISOString(),
        user: { subject: stop.by },
        outcome,
        details: {
          action,
          scope: stop.scope,
          value: stop.value ?? null,
          kill_switch_version: stop.version,
          ...details,
        },
      });
    } catch (error) {
      options.log("error", "kill-switch reach not audited", { action, error: String(error) });
    }
  }

  async function revoke(stop: Stop): Promise<void> {
    const admin = options.admin;
    if (admin === undefined) return;
    const connectors =
      stop.scope === "connector" && stop.value !== undefined
        ? [stop.value]
        : options.writeConnectors;
    for (const connector of connectors) {
      try {
        const { already } = await admin.revoke(connector, stop.by);
        await record("revoke", stop, { status: "done" }, { connector, already });
      } catch (error) {
        options.log("error", "connector credentials not revoked", {
          connector,
          error: String(error),
        });
        await record(
          "revoke",
          stop,
          { status: "failed", code: "revoke_failed" },
          { connector, error: String(error).slice(0, 300) },
        );
      }
    }
  }

  async function page(stop: Stop): Promise<void> {
    const pager = options.pager;
    if (pager === undefined) return;
    const at = new Date(now()).toISOString();
    const event = pageEvent(stop, pager.routingKey, source, at);
    try {
      const response = await fetchImpl(pager.url, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(event),
        signal: AbortSignal.timeout(pager.timeoutMs ?? 5_000),
      });
      await response.body?.cancel();
      if (response.status < 200 || response.status > 299) {
        throw new Error(`the pager answered ${String(response.status)}`);
      }
      await record("page", stop, { status: "done" }, { dedup_key: event["dedup_key"] });
    } catch (error) {
      options.log("error", "security not paged", { error: String(error) });
      await record(
        "page",
        stop,
        { status: "failed", code: "page_failed" },
        { dedup_key: event["dedup_key"], error: String(error).slice(0, 300) },
      );
    }
  }

  return {
    ...killSwitch,
    state: () => killSwitch.state(),
    clear: (scope, value, changeOptions) => killSwitch.clear(scope, value, changeOptions),
    suspendAgent: (agent, suspendOptions) => killSwitch.suspendAgent(agent, suspendOptions),
    async set(scope, value, changeOptions) {
      const result = await killSwitch.set(scope, value, changeOptions);
      if (result.changed && (scope === "connector" || scope === "all_writes")) {
        const stop: Stop = {
          scope: scope === "connector" ? "connector" : "all-writes",
          value: scope === "connector" ? value : undefined,
          by: actorSubject(changeOptions.by),
          reason: changeOptions.reason,
          version: result.version,
        };
        await Promise.all([revoke(stop), page(stop)]);
      }
      return result;
    },
  };
}
