// The same policy port, answered by an OPA server over HTTP (`opa run --server` with
// policy-bundle/bundle-rego.tar.gz): the sidecar pattern, kept for comparison and for
// deployments that prefer it. Fails closed exactly like the in-process engine.
//
// The kill-switch state lives in the server's memory (PUT to data.zyx.state): a restarted server
// has none, and the policy then gives no decision (never one blind to the kill switch). The
// adapter keeps the last state it was handed, pushes it again when a decision comes back empty,
// and asks once more; pushes are serialised and each sends the newest state, so a re-push can
// never land after, and undo, a newer change. A push that fails leaves the call denied.
import { z } from "zod";
import type { PolicyBundle } from "./bundle.ts";
import { Decision, PolicyState, type DecisionInput } from "./decision.ts";
import type { PolicyEngine, PolicyOutcome } from "./engine.ts";
import { PolicyError, describeThrown } from "./errors.ts";

export interface OpaHttpOptions {
  /** The OPA server's base URL, e.g. http://127.0.0.1:8181/ */
  url: URL;
  timeoutMs?: number;
  /** The kill-switch state to push at start (the server's bundle leaves zyx/state to us). */
  state: PolicyState;
  fetch?: typeof fetch;
}

const Config = z.object({ result: z.looseObject({ tools: z.record(z.string(), z.unknown()) }) });
const Revision = z.object({ result: z.string().min(1) });

/** Connects to the OPA server, pushes the state, reads the catalog and revision. Never throws. */
export async function connectOpaServer(options: OpaHttpOptions): Promise<PolicyEngine> {
  const doFetch = options.fetch ?? fetch;
  const timeoutMs = options.timeoutMs ?? 2_000;
  const at = (path: string) => new URL(`v1/data/${path}`, options.url);
  const call = async (path: string, init: RequestInit = {}): Promise<unknown> => {
    const response = await doFetch(at(path), {
      ...init,
      headers: { "content-type": "application/json" },
      signal: AbortSignal.timeout(timeoutMs),
    });
    if (!response.ok) throw new Error(`OPA answered ${response.status} for ${path}`);
    return response.status === 204 ? undefined : response.json();
  };
  let latest: PolicyState = options.state;
  let pushes: Promise<void> = Promise.resolve();
  /** Pushes the newest state, after any push under way. */
  const pushLatest = (): Promise<void> => {
    const run = pushes.then(() =>
      call("zyx/state", { method: "PUT", body: JSON.stringify(latest) }).then(() => undefined),
    );
    pushes = run.catch(() => undefined);
    return run;
  };
  const putState = async (state: PolicyState) => {
    latest = PolicyState.parse(state);
    await pushLatest();
  };
  /** The server's decision document for `input` (undefined: none, e.g. its state was lost). */
  const ask = async (input: DecisionInput): Promise<unknown> => {
    const body = await call("zyx/gateway/decision", {
      method: "POST",
      body: JSON.stringify({ input }),
    });
    return typeof body === "object" && body !== null && "result" in body ? body.result : undefined;
  };

  let revision: string;
  let config: Record<string, unknown>;
  try {
    await putState(options.state);
    revision = Revision.parse(await call("zyx/bundle/revision")).result;
    config = Config.parse(await call("zyx/config")).result;
  } catch (thrown) {
    const error = new PolicyError(
      "policy_bundle_missing",
      `OPA server at ${options.url.href}: ${describeThrown(thrown)}`,
    );
    return {
      revision: undefined,
      loadError: error,
      data: undefined,
      evaluate: () => ({ ok: false, code: error.code, message: error.message }),
      setState: () => undefined,
    };
  }
  const data = {
    zyx: {
      config: config as PolicyBundle["data"]["zyx"]["config"],
      state: options.state,
      bundle: { revision },
    },
  };

  return {
    revision,
    loadError: null,
    data,
    async evaluate(input: DecisionInput): Promise<PolicyOutcome> {
      let result: unknown;
      try {
        result = await ask(input);
        if (result === undefined) {
          // A restarted server has lost the state: hand it the newest again and ask once more.
          await pushLatest();
          result = await ask(input);
        }
      } catch (thrown) {
        return { ok: false, code: "policy_evaluation_failed", message: describeThrown(thrown) };
      }
      if (result === undefined)
        return { ok: false, code: "policy_result_empty", message: "the decision is undefined" };
      const parsed = Decision.safeParse(result);
      if (!parsed.success) {
        return {
          ok: false,
          code: "policy_result_malformed",
          message: parsed.error.issues.map((i) => i.message).join("; "),
        };
      }
      if (parsed.data.policy_revision !== revision) {
        return {
          ok: false,
          code: "policy_result_malformed",
          message: "the decision's revision changed under us",
        };
      }
      return { ok: true, decision: parsed.data };
    },
    setState: putState,
  };
}
