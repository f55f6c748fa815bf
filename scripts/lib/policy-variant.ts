// Builds the policy with some of its data changed, through the same script as `make policy`, for
// the benchmark (limits out of the way), the demo and the example's end-to-end tests (business
// hours that never end, so that a run at any hour tells the same story). The Rego is unchanged
// unless rules are appended (the chaos run's policy whose evaluation fails).
//
// Serials: each build gets a higher build serial than the one before in this checkout (the
// gateway refuses a bundle with a lower serial than it accepted: anti-rollback). So a variant
// built BEFORE another is "older": a test or run that loads B then A is a rollback and refused;
// build in the order they are served, or rebuild (options.serial forces a serial, for tests).
import { execFileSync } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const ROOT = resolve(import.meta.dirname, "../..");

export interface PolicyVariant {
  /** The WASM bundle the gateway loads. */
  bundle: string;
  /** The Rego bundle for an OPA server sidecar. */
  regoBundle: string;
  remove(): void;
}

export function buildPolicyVariant(
  patch: (config: Record<string, unknown>) => void,
  options: {
    appendRego?: string;
    serial?: number;
    /**
     * Another checkout (compare.ts's extracted revision): its Rego and its own bundle script, so
     * the bundle is in the format that revision's gateway reads; signed with this checkout's key.
     */
    tree?: string;
  } = {},
): PolicyVariant {
  const dir = mkdtempSync(join(tmpdir(), "zyx-policy-variant-"));
  const tree = options.tree ?? ROOT;
  cpSync(join(tree, "rego"), join(dir, "rego"), { recursive: true });
  if (options.appendRego !== undefined) {
    // Rules added to package zyx.gateway (the chaos run's failing evaluation, for one).
    const decision = join(dir, "rego/zyx/gateway/decision.rego");
    writeFileSync(decision, `${readFileSync(decision, "utf8")}\n${options.appendRego}\n`);
  }
  const configPath = join(dir, "rego/zyx/config/data.json");
  const config = JSON.parse(readFileSync(configPath, "utf8")) as Record<string, unknown>;
  patch(config);
  writeFileSync(configPath, JSON.stringify(config));
  execFileSync(join(tree, "scripts/bundle-policy.sh"), [join(dir, "rego"), join(dir, "out")], {
    env: {
      ...process.env,
      PATH: `${join(ROOT, ".tools/bin")}:${process.env["PATH"] ?? ""}`,
      ...(options.tree === undefined
        ? {}
        : { POLICY_SIGNING_KEY: join(ROOT, ".state/keys/policy-bundle.private.pem") }),
      ...(options.serial === undefined ? {} : { POLICY_BUNDLE_SERIAL: String(options.serial) }),
    },
    stdio: "ignore",
  });
  return {
    bundle: join(dir, "out/bundle.tar.gz"),
    regoBundle: join(dir, "out/bundle-rego.tar.gz"),
    remove: () => {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Every hour of every day a business hour. */
export function alwaysBusinessHours(config: Record<string, unknown>): void {
  config["business_hours"] = {
    ...(config["business_hours"] as Record<string, unknown>),
    weekdays: [1, 2, 3, 4, 5, 6, 7],
    start_hour: 0,
    end_hour: 24,
  };
}

/**
 * Call limits, the automatic suspension and the risk of recent denials out of the way, every hour
 * a business hour: for load and fault runs that measure the controls' cost and answers, not
 * their refusals (thousands of deliberate denials would otherwise, rightly, raise every later
 * call's risk to needing approval). The limiter and the policy still run on every call.
 */
export function outOfTheWay(config: Record<string, unknown>): void {
  alwaysBusinessHours(config);
  (config["risk"] as Record<string, unknown>)["recent_denials_threshold"] = 1_000_000;
  const limits = config["limits"] as Record<string, unknown>;
  const perTool = limits["per_tool"] as Record<string, number>;
  for (const tool of Object.keys(perTool)) perTool[tool] = 100_000;
  Object.assign(limits, {
    per_agent: 100_000,
    per_user: 100_000,
    suspend_agent_after_denials: 10_000,
  });
}
