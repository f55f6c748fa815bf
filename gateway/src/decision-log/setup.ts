// Wires the decision log and the shadow policy from the gateway's configuration (main.ts):
// DECISION_LOG_URL turns the shipper on, POLICY_SHADOW_BUNDLE the shadow; both off when unset.
//
// Failure modes: a shadow bundle that is missing or refused does not stop the gateway (it only
// ever observes): its comparisons count as difference "error" and the reload log says why; it is
// verified with the live bundle's public key and hot-reloaded like it, without the live bundle's
// anti-rollback check (it never decides; shadowing an older policy is legitimate).
import { randomUUID } from "node:crypto";
import { readFile } from "node:fs/promises";
import type { Log } from "../../../common/service.ts";
import type { GatewayConfig } from "../config.ts";
import { ConfigError } from "../config.ts";
import type { GatewayMetrics } from "../metrics/gateway-metrics.ts";
import type { PartialObserver } from "../pipeline/observers.ts";
import type { PolicyEngine } from "../policy/engine.ts";
import { createReloadingPolicyEngine, type ReloadingPolicyEngine } from "../policy/reloader.ts";
import { createDecisionLogObserver } from "./observer.ts";
import { createShadowPolicy, mirrorState, type ShadowPolicy } from "./shadow.ts";
import { createDecisionLogShipper, type DecisionLogShipper } from "./shipper.ts";
import { isBearerToken } from "../lib/bearer.ts";

export interface DecisionLogging<E extends PolicyEngine> {
  /** The live engine (its kill-switch state mirrored to the shadow, if any). */
  policy: E;
  observer: PartialObserver | undefined;
  /** For /readyz: the shadow bundle's status (absent without a shadow). */
  shadowStatus(): Record<string, unknown> | undefined;
  /** Sends what is buffered and stops (at shutdown). */
  close(): Promise<void>;
}

async function tokenFrom(file: string | undefined): Promise<string | undefined> {
  if (file === undefined) return undefined;
  const token = (await readFile(file, "utf8")).trim();
  if (token === "") throw new ConfigError(`DECISION_LOG_TOKEN_FILE: ${file} is empty`);
  if (!isBearerToken(token)) {
    throw new ConfigError(`DECISION_LOG_TOKEN_FILE: ${file} does not hold one bearer token`);
  }
  return token;
}

async function shadowOf(
  config: GatewayConfig,
  metrics: GatewayMetrics,
  log: Log,
): Promise<{ shadow: ShadowPolicy; engine: ReloadingPolicyEngine } | undefined> {
  if (config.policyShadowBundle === undefined) return undefined;
  const engine = await createReloadingPolicyEngine({
    bundlePath: config.policyShadowBundle,
    publicKeyPath: config.policyBundlePublicKey,
    pollMs: config.policyBundlePollMs,
    // No anti-rollback: the shadow never decides, and comparing with an older policy is a use.
    highWater: false,
    log: (level, message, fields) => {
      log(level, `shadow policy: ${message}`, fields);
    },
  });
  log("info", "shadow policy evaluated beside the live one, never deciding", {
    bundle: config.policyShadowBundle,
    revision: engine.revision ?? null,
    error: engine.loadError?.code ?? null,
  });
  const shadow = createShadowPolicy({
    engine,
    compared: (difference) => {
      metrics.shadowCompared(difference);
    },
  });
  return { shadow, engine };
}

export async function setUpDecisionLogging<E extends PolicyEngine>(
  config: GatewayConfig,
  live: E,
  metrics: GatewayMetrics,
  log: Log,
): Promise<DecisionLogging<E>> {
  const settings = config.decisionLog;
  let shipper: DecisionLogShipper | undefined;
  if (settings !== undefined) {
    shipper = createDecisionLogShipper({
      ...settings,
      token: await tokenFrom(settings.tokenFile),
      log,
      events: metrics.decisionLog,
    });
    const sink = shipper;
    metrics.addSources({ decisionLogBuffered: () => sink.stats().buffered });
    log("info", "decision log shipping", { sink: settings.url.origin });
  }
  const shadowed = await shadowOf(config, metrics, log);
  const observer =
    shipper === undefined && shadowed === undefined
      ? undefined
      : createDecisionLogObserver({
          enqueue:
            shipper === undefined
              ? undefined
              : (entry) => {
                  shipper.enqueue(entry);
                },
          labels: {
            id: randomUUID(),
            version: process.env["npm_package_version"] ?? "dev",
            app: "zyx-gateway",
          },
          shadow: shadowed?.shadow,
          revision: () => live.revision ?? null,
          log,
        });
  return {
    policy: shadowed === undefined ? live : mirrorState(live, shadowed.engine),
    observer,
    shadowStatus: () => (shadowed === undefined ? undefined : { ...shadowed.engine.status() }),
    close: async () => {
      shadowed?.engine.close();
      await shipper?.flush(5_000);
      shipper?.close();
    },
  };
}
