// The gateway's Prometheus metrics (prom-client), in one registry of its own (no global state,
// so two gateways in one process, as in tests, never mix counts).
//
// Invariants: label values are bounded: tools come from the catalog ("unknown" otherwise), doors
// and steps are fixed sets, outcomes and reason codes are the gateway's stable codes; nothing a
// caller sends becomes a label. Reading a gauge (revision, kill switch, audit) never throws
// into a scrape: a source that fails is skipped for that scrape.
//
// Served only to the platform's scraper: see metrics/route.ts (bearer token).
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import type { PipelineObserver, StepName } from "../pipeline/index.ts";
import type { BundleStatus, ReloadEvent } from "../policy/reloader.ts";
import type { ShipperEvents } from "../decision-log/shipper.ts";
import type { ShadowDifference } from "../decision-log/shadow.ts";
import type { TaintStats } from "../session.ts";

/** What the scrape reads at collection time (each optional: absent sources are not exported). */
export interface MetricSources {
  policyRevision?: () => string | undefined;
  bundleStatus?: () => BundleStatus;
  killSwitch?: () => { version: number; applied_version: number };
  audit?: () => { appends: number; batches: number; syncs: number; pending: number };
  /** Entries waiting in the decision-log shipper's buffer. */
  decisionLogBuffered?: () => number;
  /** Approval requests waiting for approvers, by status. */
  openApprovals?: () => Promise<{ pending: number; escalated: number }>;
  /** Calls refused before identity, by error code (pipeline/refusals.ts). */
  unauthenticated?: () => Readonly<Record<string, number>>;
  /** The session-taint store's fill (session.ts). */
  sessionTaints?: () => TaintStats;
}

export interface GatewayMetrics {
  readonly registry: Registry;
  readonly pipeline: PipelineObserver;
  /** Count a policy bundle load or refusal (the reloader's onEvent). */
  policyReload(event: ReloadEvent): void;
  /** Count one ask of the bundle server (POLICY_BUNDLE_URL): updated, unchanged or failed. */
  bundleDownload(outcome: string): void;
  /** The decision-log shipper's events: entries sent, dropped (by reason), failed uploads. */
  readonly decisionLog: ShipperEvents;
  /** The audit log's onSync: one batch's sync duration and its group commit's size. */
  auditSynced(seconds: number, records: number): void;
  /** The audit log's onCheckpoint: the seq of the last durable checkpoint. */
  auditCheckpoint(head: { seq: number }): void;
  /** Count one shadow-policy comparison by its difference ("none" when it agreed). */
  shadowCompared(difference: ShadowDifference): void;
  /** Late-bound sources (the engine and controls exist after the metrics). */
  addSources(sources: MetricSources): void;
  render(): Promise<{ contentType: string; body: string }>;
}

const STEP_BUCKETS = [
  0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

function safely(read: () => void): void {
  try {
    read();
  } catch {
    // a failing source is left out of this scrape
  }
}

function pipelineInstruments(registry: Registry) {
  const registers = [registry];
  return {
    calls: new Counter({
      name: "zyx_gateway_calls_total",
      help: "Tool calls by tool, front door and outcome (executed, approval_pending, or the error code).",
      labelNames: ["tool", "door", "outcome"] as const,
      registers,
    }),
    decisions: new Counter({
      name: "zyx_gateway_decisions_total",
      help: "Policy decisions by result (allow, deny, error) and reason code (none for an allow).",
      labelNames: ["result", "reason"] as const,
      registers,
    }),
    steps: new Histogram({
      name: "zyx_gateway_step_duration_seconds",
      help: "Duration of each tool-call pipeline step, by result (ok, or the error code it ended with: refuse ends in policy_denied).",
      labelNames: ["step", "result"] as const,
      buckets: STEP_BUCKETS,
      registers,
    }),
    limiter: new Counter({
      name: "zyx_gateway_limiter_refusals_total",
      help: "Calls refused by the limits step, by error code.",
      labelNames: ["code"] as const,
      registers,
    }),
    worker: new Counter({
      name: "zyx_gateway_worker_errors_total",
      help: "Hand-offs to the worker that failed, by error code.",
      labelNames: ["code"] as const,
      registers,
    }),
  };
}

function pipelineObserver(m: ReturnType<typeof pipelineInstruments>): PipelineObserver {
  // Seven observations per call: each (step, result) child is looked up once, not hashed from
  // its labels on every call. Results are the closed set of error codes plus "ok": bounded.
  const children = new Map<string, ReturnType<typeof m.steps.labels>>();
  const stepChild = (step: StepName, result: string) => {
    const key = `${step}\u0000${result}`;
    let child = children.get(key);
    if (child === undefined) {
      child = m.steps.labels({ step, result });
      children.set(key, child);
    }
    return child;
  };
  return {
    step(name: StepName, seconds: number, failure: string | undefined) {
      stepChild(name, failure ?? "ok").observe(seconds);
      if (failure === undefined) return;
      if (name === "limits") m.limiter.inc({ code: failure });
      if (name === "handoff") m.worker.inc({ code: failure });
    },
    call(call) {
      m.calls.inc({ tool: call.tool ?? "unknown", door: call.door, outcome: call.outcome });
      if (call.decision === undefined) return;
      const { result, reasons } = call.decision;
      if (reasons.length === 0) m.decisions.inc({ result, reason: "none" });
      for (const reason of reasons) m.decisions.inc({ result, reason });
    },
  };
}

function policyInstruments(registry: Registry, sources: MetricSources) {
  const registers = [registry];
  new Gauge({
    name: "zyx_gateway_policy_bundle_info",
    help: "The policy revision serving (value 1); absent while no policy is loaded.",
    labelNames: ["revision"] as const,
    registers,
    collect() {
      this.reset();
      safely(() => {
        const revision = sources.policyRevision?.();
        if (revision !== undefined) this.set({ revision }, 1);
      });
    },
  });
  new Gauge({
    name: "zyx_gateway_policy_bundle_refused",
    help: "1 when the newest bundle seen on disk was refused (the previous revision, if any, serves).",
    registers,
    collect() {
      safely(() => {
        const status = sources.bundleStatus?.();
        if (status !== undefined) this.set(status.refused === undefined ? 0 : 1);
      });
    },
  });
  const downloads = new Counter({
    name: "zyx_gateway_policy_bundle_downloads_total",
    help: "Requests to the bundle server (POLICY_BUNDLE_URL) by outcome: updated (200), unchanged (304), failed.",
    labelNames: ["outcome"] as const,
    registers,
  });
  const loads = new Counter({
    name: "zyx_gateway_policy_bundle_loads_total",
    help: "Policy bundle loads (at boot and hot reloads) by outcome (loaded, refused) and refusal code.",
    labelNames: ["outcome", "code"] as const,
    registers,
  });
  return { loads, downloads };
}

function stateInstruments(registry: Registry, sources: MetricSources): void {
  const registers = [registry];
  new Gauge({
    name: "zyx_gateway_kill_switch_version",
    help: "The kill switch's version (kind=current) and the newest one the policy took (kind=applied).",
    labelNames: ["kind"] as const,
    registers,
    collect() {
      safely(() => {
        const state = sources.killSwitch?.();
        if (state === undefined) return;
        this.set({ kind: "current" }, state.version);
        this.set({ kind: "applied" }, state.applied_version);
      });
    },
  });
  new Gauge({
    name: "zyx_gateway_audit_records",
    help: "Audit log counters since start: appends, group commits (batches), fsyncs, pending now.",
    labelNames: ["kind"] as const,
    registers,
    collect() {
      safely(() => {
        const stats = sources.audit?.();
        if (stats === undefined) return;
        for (const kind of ["appends", "batches", "syncs", "pending"] as const)
          this.set({ kind }, stats[kind]);
      });
    },
  });
}

function sessionInstruments(registry: Registry, sources: MetricSources): void {
  new Gauge({
    name: "zyx_gateway_session_taints",
    help:
      "Session-taint store: sessions and actors tainted, max_actors (the bound), saturated " +
      "(1: past the bound every call reads as tainted), sessions_evicted (session taints " +
      "forgotten at their bound: clearing an agent is then refused).",
    labelNames: ["kind"] as const,
    registers: [registry],
    collect() {
      safely(() => {
        const stats = sources.sessionTaints?.();
        if (stats === undefined) return;
        this.set({ kind: "sessions" }, stats.sessions);
        this.set({ kind: "actors" }, stats.actors);
        this.set({ kind: "max_actors" }, stats.maxActors);
        this.set({ kind: "saturated" }, stats.saturated ? 1 : 0);
        this.set({ kind: "sessions_evicted" }, stats.sessionsEvicted);
      });
    },
  });
}

function auditInstruments(registry: Registry) {
  const registers = [registry];
  const fsync = new Histogram({
    name: "zyx_gateway_audit_fsync_seconds",
    help: "Duration of each audit sync (one per group commit: the fdatasync, or the O_DSYNC write).",
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers,
  });
  const group = new Histogram({
    name: "zyx_gateway_audit_group_commit_records",
    help: "Records made durable by one write+fdatasync (group commit size).",
    buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512],
    registers,
  });
  const checkpoint = new Gauge({
    name: "zyx_gateway_audit_checkpoint_seq",
    help:
      "The seq of the audit log's last durable checkpoint (its head, kept off the host by the " +
      "scrape). It only grows, restarts included: alert when it goes down (the log was cut).",
    registers,
  });
  return {
    synced: (seconds: number, records: number) => {
      fsync.observe(seconds);
      group.observe(records);
    },
    checkpoint: (seq: number) => {
      checkpoint.set(seq);
    },
  };
}

function refusalInstruments(registry: Registry, sources: MetricSources): void {
  const registers = [registry];
  new Gauge({
    name: "zyx_gateway_approvals_open",
    help: "Approval requests waiting for approvers, by status (pending, escalated); counted up to 10000.",
    labelNames: ["status"] as const,
    registers,
    async collect() {
      const read = sources.openApprovals;
      if (read === undefined) return;
      try {
        const open = await read();
        this.set({ status: "pending" }, open.pending);
        this.set({ status: "escalated" }, open.escalated);
      } catch {
        // the store is unreachable: left out of this scrape
      }
    },
  });
  new Counter({
    name: "zyx_gateway_unauthenticated_refusals_total",
    help: "Calls refused before identity was established (no audit record: no verified caller), by error code.",
    labelNames: ["code"] as const,
    registers,
    collect() {
      safely(() => {
        const counts = sources.unauthenticated?.();
        if (counts === undefined) return;
        this.reset();
        for (const [code, count] of Object.entries(counts)) this.inc({ code }, count);
      });
    },
  });
}

function decisionLogInstruments(registry: Registry, sources: MetricSources) {
  const registers = [registry];
  new Gauge({
    name: "zyx_gateway_decision_log_buffered",
    help: "Decision-log entries waiting to be shipped.",
    registers,
    collect() {
      safely(() => {
        const buffered = sources.decisionLogBuffered?.();
        if (buffered !== undefined) this.set(buffered);
      });
    },
  });
  const sent = new Counter({
    name: "zyx_gateway_decision_log_sent_total",
    help: "Decision-log entries the sink accepted.",
    registers,
  });
  const dropped = new Counter({
    name: "zyx_gateway_decision_log_dropped_total",
    help: "Decision-log entries dropped: buffer_full (oldest dropped while the sink was down), rejected (the sink refused the batch) or shutdown (still buffered when the gateway stopped).",
    labelNames: ["reason"] as const,
    registers,
  });
  const failed = new Counter({
    name: "zyx_gateway_decision_log_upload_failures_total",
    help: "Decision-log uploads that failed (retried with backoff).",
    registers,
  });
  const shadow = new Counter({
    name: "zyx_gateway_shadow_decisions_total",
    help: "Shadow-policy evaluations by how they differed from the live decision (none, allow, reasons, approval, risk, error).",
    labelNames: ["difference"] as const,
    registers,
  });
  const events: ShipperEvents = {
    sent: (count) => {
      sent.inc(count);
    },
    dropped: (reason, count) => {
      dropped.inc({ reason }, count);
    },
    failed: () => {
      failed.inc();
    },
  };
  return { events, shadow };
}

export function createGatewayMetrics(initial: MetricSources = {}): GatewayMetrics {
  const registry = new Registry();
  const sources: MetricSources = { ...initial };
  const pipeline = pipelineObserver(pipelineInstruments(registry));
  const { loads, downloads } = policyInstruments(registry, sources);
  stateInstruments(registry, sources);
  const decisionLog = decisionLogInstruments(registry, sources);
  const audit = auditInstruments(registry);
  refusalInstruments(registry, sources);
  sessionInstruments(registry, sources);
  return {
    auditSynced: audit.synced,
    auditCheckpoint(head) {
      audit.checkpoint(head.seq);
    },
    registry,
    pipeline,
    decisionLog: decisionLog.events,
    shadowCompared(difference) {
      decisionLog.shadow.inc({ difference });
    },
    policyReload(event) {
      loads.inc({ outcome: event.outcome, code: event.code ?? "none" });
    },
    bundleDownload(outcome) {
      downloads.inc({ outcome });
    },
    addSources(more) {
      Object.assign(sources, more);
    },
    async render() {
      return { contentType: registry.contentType, body: await registry.metrics() };
    },
  };
}
