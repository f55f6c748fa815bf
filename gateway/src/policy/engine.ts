// Evaluates the Rego decision compiled to WASM, in-process. Fails closed: a missing, corrupt,
// unsigned or badly signed bundle (verified against the public key before anything is loaded),
// a trap, a thrown string, an empty or malformed result each give an error outcome, never an
// allow. Callers must handle `ok: false` as a deny.
import { loadPolicy as loadOpaPolicy } from "@open-policy-agent/opa-wasm";
import { readPolicyBundle, type PolicyBundle } from "./bundle.ts";
import { Decision, PolicyState, type DecisionInput } from "./decision.ts";
import { PolicyError, describeThrown, type PolicyErrorCode } from "./errors.ts";
import { readBundleKey } from "./signature.ts";
import { policySigningKeyPaths } from "../../../common/keys.ts";

export const ENTRYPOINT = "zyx/gateway/decision";

/** The part of opa-wasm's LoadedPolicy that the engine uses (a seam for fault-injection tests). */
export interface WasmPolicy {
  evaluate(input: unknown, entrypoint?: number | string): unknown;
  setData(data: object): void;
}

/** WebAssembly memory, in pages of 64 KiB. */
export interface MemoryPages {
  initial: number;
  maximum?: number;
}

export type WasmLoader = (wasm: Uint8Array, memory: MemoryPages) => Promise<WasmPolicy>;

export type PolicyOutcome =
  | { readonly ok: true; readonly decision: Decision }
  | { readonly ok: false; readonly code: PolicyErrorCode; readonly message: string };

export interface PolicyEngine {
  /** The bundle's revision, or undefined when no policy is loaded. */
  readonly revision: string | undefined;
  /** Null when the policy is loaded; otherwise why not (every evaluation then denies). */
  readonly loadError: PolicyError | null;
  /** The bundle's data (catalog and default state), when loaded. */
  readonly data: PolicyBundle["data"] | undefined;
  /** In-process engines answer at once; a policy server answers asynchronously. */
  evaluate(input: DecisionInput): PolicyOutcome | Promise<PolicyOutcome>;
  /** Replaces data.zyx.state (the kill switch) for every following evaluation. */
  setState(state: PolicyState): void | Promise<void>;
}

/** The in-process engine answers synchronously. */
export interface InProcessPolicyEngine extends PolicyEngine {
  evaluate(input: DecisionInput): PolicyOutcome;
  setState(state: PolicyState): void;
}

export interface LoadOptions {
  bundlePath: string;
  /** The bundle's bytes, when the caller already read them from bundlePath. */
  bundleBytes?: Buffer;
  /**
   * PEM public key the bundle's signature must verify with. Default: the development key that
   * `make policy` signs with, .state/keys/policy-bundle.public.pem (relative to the cwd).
   */
  publicKeyPath?: string;
  /** WebAssembly memory pages of 64 KiB: initial and maximum (bounds a runaway input). */
  memory?: MemoryPages;
  loader?: WasmLoader;
}

const defaultLoader: WasmLoader = (wasm, memory) => loadOpaPolicy(wasm, memory);

/** An engine that denies every evaluation with `error` (no policy loaded). */
export function failedEngine(error: PolicyError): InProcessPolicyEngine {
  return {
    revision: undefined,
    loadError: error,
    data: undefined,
    evaluate: () => ({ ok: false, code: error.code, message: error.message }),
    setState: () => undefined,
  };
}

/** Loads the bundle. Never throws: a failed load yields an engine that denies everything. */
export async function loadPolicyEngine(options: LoadOptions): Promise<InProcessPolicyEngine> {
  const memory = options.memory ?? { initial: 8, maximum: 256 };
  let bundle: PolicyBundle;
  let policy: WasmPolicy;
  try {
    const key = await readBundleKey(options.publicKeyPath ?? policySigningKeyPaths().publicPem);
    bundle = await readPolicyBundle(options.bundlePath, key, options.bundleBytes);
    if (!bundle.entrypoints.includes(ENTRYPOINT)) {
      throw new PolicyError("policy_bundle_corrupt", `bundle has no ${ENTRYPOINT} entrypoint`);
    }
    policy = await (options.loader ?? defaultLoader)(bundle.wasm, memory);
    policy.setData(bundle.data);
  } catch (thrown) {
    return failedEngine(
      thrown instanceof PolicyError
        ? thrown
        : new PolicyError(
            "policy_bundle_corrupt",
            `cannot load policy.wasm: ${describeThrown(thrown)}`,
            {
              cause: thrown,
            },
          ),
    );
  }
  return new WasmPolicyEngine(bundle, policy);
}

class WasmPolicyEngine implements InProcessPolicyEngine {
  readonly revision: string;
  readonly loadError = null;
  readonly data: PolicyBundle["data"];
  readonly #policy: WasmPolicy;

  constructor(bundle: PolicyBundle, policy: WasmPolicy) {
    this.revision = bundle.revision;
    this.data = bundle.data;
    this.#policy = policy;
  }

  evaluate(input: DecisionInput): PolicyOutcome {
    let resultSet: unknown;
    try {
      resultSet = this.#policy.evaluate(input, ENTRYPOINT);
    } catch (thrown) {
      return { ok: false, code: "policy_evaluation_failed", message: describeThrown(thrown) };
    }
    if (!Array.isArray(resultSet) || resultSet.length === 0) {
      return { ok: false, code: "policy_result_empty", message: "the policy gave no result" };
    }
    if (resultSet.length !== 1) {
      return {
        ok: false,
        code: "policy_result_malformed",
        message: `expected one result, got ${resultSet.length}`,
      };
    }
    const first: unknown = resultSet[0];
    const value =
      typeof first === "object" && first !== null && "result" in first ? first.result : undefined;
    if (value === undefined) {
      return { ok: false, code: "policy_result_empty", message: "the decision is undefined" };
    }
    const parsed = Decision.safeParse(value);
    if (!parsed.success) {
      return {
        ok: false,
        code: "policy_result_malformed",
        message: parsed.error.issues
          .map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`)
          .join("; "),
      };
    }
    if (parsed.data.policy_revision !== this.revision) {
      return {
        ok: false,
        code: "policy_result_malformed",
        message: `decision revision ${parsed.data.policy_revision} is not the bundle's ${this.revision}`,
      };
    }
    return { ok: true, decision: parsed.data };
  }

  setState(state: PolicyState): void {
    const checked = PolicyState.parse(state);
    this.#policy.setData({ ...this.data, zyx: { ...this.data.zyx, state: checked } });
  }
}
