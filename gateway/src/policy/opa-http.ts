// The same policy port, answered by an OPA server over HTTP (`opa run --server` with
// policy-bundle/bundle-rego.tar.gz): the sidecar pattern, kept for comparison and for
// deployments that prefer it. Fails closed exactly like the in-process engine.
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
  const putState = async (state: PolicyState) => {
    await call("zyx/state", { method: "PUT", body: JSON.stringify(PolicyState.parse(state)) });
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
      let body: unknown;
      try {
        body = await call("zyx/gateway/decision", {
          method: "POST",
          body: JSON.stringify({ input }),
        });
      } catch (thrown) {
        return { ok: false, code: "policy_evaluation_failed", message: describeThrown(thrown) };
      }
      const result =
        typeof body === "object" && body !== null && "result" in body ? body.result : undefined;
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
