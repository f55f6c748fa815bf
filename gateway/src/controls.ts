// The runtime controls around the policy, wired once for the gateway process and its tests:
// the kill switch (persisted, handed to the policy as data), the call limiter, and the denial
// monitor that suspends a runaway agent through the kill switch (counting every replica's
// denials when the limits live in PostgreSQL).
import { z } from "zod";
import { createApprovalService, type ApprovalService } from "./approvals/service.ts";
import { openApprovalStore, type ApprovalStoreConfig } from "./approvals/store.ts";
import type { AuditRecordInput } from "./audit/record.ts";
import { openFileKillSwitchStore, type KillSwitchStore } from "./killswitch/port.ts";
import { openPostgresKillSwitchStore } from "./killswitch/postgres-store.ts";
import { createKillSwitch, type KillSwitch } from "./killswitch/service.ts";
import { startKillSwitchSync } from "./killswitch/sync.ts";
import { denialMonitorSettings, parseLimits, readLimits } from "./limits/config.ts";
import { createDenialMonitor, type DenialMonitor } from "./limits/denial-monitor.ts";
import { openPostgresLimiter } from "./limits/postgres-limiter.ts";
import { openPostgresDenials } from "./limits/shared-denials.ts";
import { createRateLimiter, type CallLimiter } from "./limits/rate-limiter.ts";
import type { PolicyEngine } from "./policy/engine.ts";
import { loadCatalog } from "../../common/catalog.ts";
import { GatewayError } from "./lib/errors.ts";
import type { PgTarget } from "./lib/pg-connection.ts";

function readCatalogApprovals(): unknown {
  return (loadCatalog() as Record<string, unknown>)["approvals"];
}

export interface Controls {
  killSwitch: KillSwitch;
  limiter: CallLimiter;
  denials: DenialMonitor;
  approvals: ApprovalService;
  approvalsChannel: string;
  approvalExecutionWindowMs: number;
  /** Most requests one user, and one agent, may have waiting for approvers at once. */
  approvalPendingBounds: { perUser: number; perAgent: number };
  /** Requests waiting for approvers now, by status (counted up to 10 000; for the metrics). */
  openApprovals(): Promise<{ pending: number; escalated: number }>;
  /** Closes the approval store (after waking its waiters). */
  close(): Promise<void>;
}

const ApprovalSettings = z.looseObject({
  expiry_seconds: z.number().int().min(1).max(86_400),
  escalation_seconds: z.number().int().min(1).max(86_400),
  /** How long a post-hoc review stays open for a rejection (default three days). */
  review_seconds: z
    .number()
    .int()
    .min(60)
    .max(7 * 86_400)
    .default(259_200),
  notify_channel: z.string().min(1),
  max_pending_per_user: z.number().int().min(1).max(1_000).default(5),
  max_pending_per_agent: z.number().int().min(1).max(10_000).default(20),
});

/** Where the kill switch lives: the state file, or PostgreSQL shared by replicas. */
export type KillSwitchStoreConfig =
  | { kind: "file"; path: string }
  | ({ kind: "postgres"; syncMs: number; staleAfterMs: number } & PgTarget);

export interface ControlsOptions {
  policy: PolicyEngine;
  audit: { append(record: AuditRecordInput): Promise<unknown> };
  /** The kill switch's state file (the embedded store, when killSwitchStore is not given). */
  killSwitchPath: string;
  /** Where the kill switch lives; default: the file at killSwitchPath. */
  killSwitchStore?: KillSwitchStoreConfig | undefined;
  /** Where call limits are counted; default in memory (one process). */
  limitsStore?: { kind: "memory" } | ({ kind: "postgres" } & PgTarget) | undefined;
  /** Told when the shared kill-switch store is lost or back. */
  log?: (level: "info" | "error", message: string, fields?: Record<string, unknown>) => void;
  /** Where approval requests live: SQLite (embedded default) or PostgreSQL. */
  approvalStore: ApprovalStoreConfig;
  /** The clock, epoch milliseconds. */
  now?: () => number;
}

export async function createControls(options: ControlsOptions): Promise<Controls> {
  const { policy, audit } = options;
  const now = options.now ?? Date.now;
  // The limits the loaded policy carries; the catalog file when no policy could be loaded.
  const limits =
    policy.data === undefined ? readLimits() : parseLimits(policy.data.zyx.config["limits"]);
  /** The agents the kill switch stopped at the last state applied (suspended ones among them). */
  let stopped = new Set<string>();
  const monitor: { current?: DenialMonitor } = {};

  const storeConfig = options.killSwitchStore ?? { kind: "file", path: options.killSwitchPath };
  const killSwitchStore: KillSwitchStore =
    storeConfig.kind === "file"
      ? await openFileKillSwitchStore(storeConfig.path)
      : await openPostgresKillSwitchStore(storeConfig);
  const killSwitch = await createKillSwitch({
    store: killSwitchStore,
    now,
    audit: (record) => audit.append(record),
    apply: async (state) => {
      await policy.setState(state);
      // An agent whose suspension was lifted (automatic or an admin's) is re-armed and starts
      // from zero: the denials the kill switch itself caused while it was set are not its own.
      const current = new Set(state.kill_switch.agents);
      for (const agent of stopped) if (!current.has(agent)) monitor.current?.cleared(agent);
      stopped = current;
    },
  });
  // With PostgreSQL for the limits, the denials that suspend an agent are every replica's.
  const sharedDenials =
    options.limitsStore?.kind === "postgres"
      ? await openPostgresDenials(options.limitsStore)
      : undefined;
  const denials = createDenialMonitor({
    ...denialMonitorSettings(limits),
    now,
    shared: sharedDenials,
    onSharedError: (error) => {
      options.log?.("error", "shared denial log unavailable: counting this replica's denials", {
        error: String(error),
      });
    },
    suspend: async (agent, request) => {
      // { changed: false }: another replica suspended it first; the monitor then writes no alert.
      return await killSwitch.suspendAgent(agent, request);
    },
    alert: (record) => audit.append(record),
  });
  monitor.current = denials;
  const sync =
    storeConfig.kind === "postgres"
      ? startKillSwitchSync({
          killSwitch,
          store: killSwitchStore,
          intervalMs: storeConfig.syncMs,
          staleAfterMs: storeConfig.staleAfterMs,
          ...(options.log === undefined ? {} : { log: options.log }),
        })
      : undefined;

  const settings = ApprovalSettings.parse(
    policy.data === undefined ? readCatalogApprovals() : policy.data.zyx.config["approvals"],
  );
  const store = await openApprovalStore(options.approvalStore);
  const approvals = createApprovalService({
    store,
    now,
    expirySeconds: settings.expiry_seconds,
    escalationSeconds: settings.escalation_seconds,
    reviewSeconds: settings.review_seconds,
    audit: (record) => audit.append(record),
  });
  const limiter = await openLimiter(options, limits, now);
  return {
    killSwitch,
    limiter,
    denials,
    approvals,
    approvalsChannel: settings.notify_channel,
    approvalExecutionWindowMs: settings.expiry_seconds * 1000,
    approvalPendingBounds: {
      perUser: settings.max_pending_per_user,
      perAgent: settings.max_pending_per_agent,
    },
    openApprovals: async () => {
      const open = await store.listDue(Number.MAX_SAFE_INTEGER, 10_000);
      const escalated = open.filter((r) => r.status === "escalated").length;
      return { pending: open.length - escalated, escalated };
    },
    close: async () => {
      approvals.close();
      await sync?.stop();
      await Promise.all([
        store.close(),
        killSwitch.close(),
        limiter.close?.(),
        sharedDenials?.close(),
      ]);
    },
  };
}

/**
 * In memory (embedded default), or PostgreSQL shared by replicas, swept every window. While
 * PostgreSQL cannot be reached, a read tool is counted by this replica alone (the same limits,
 * so at most one limit per replica during the outage) and a write tool is refused
 * (limits_unavailable, fail closed): reads go on as the policy says, writes stop.
 */
async function openLimiter(
  options: ControlsOptions,
  limits: ReturnType<typeof parseLimits>,
  now: () => number,
): Promise<CallLimiter> {
  if (options.limitsStore?.kind !== "postgres") return createRateLimiter({ limits, now });
  const shared = await openPostgresLimiter({
    limits,
    now,
    connectionString: options.limitsStore.connectionString,
    passwordFile: options.limitsStore.passwordFile,
  });
  const sweeper = setInterval(() => {
    shared.sweep().catch((error: unknown) => {
      options.log?.("error", "call-limit sweep failed", { error: String(error) });
    });
  }, limits.window_seconds * 1000);
  sweeper.unref();
  const local = createRateLimiter({ limits, now });
  const tools = loadCatalog().tools as Record<string, { write?: boolean } | undefined>;
  return {
    limits: shared.limits,
    check: async (key) => {
      try {
        return await shared.check(key);
      } catch (error) {
        const unavailable = error instanceof GatewayError && error.code === "limits_unavailable";
        if (!unavailable || tools[key.tool]?.write !== false) throw error;
        return local.check(key);
      }
    },
    close: async () => {
      clearInterval(sweeper);
      await shared.close();
    },
  };
}
