import { readdir, readFile, stat, writeFile, mkdir } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { KillSwitchError } from "../../src/killswitch/errors.ts";
import type { KillSwitchScope } from "../../src/killswitch/scopes.ts";
import type { KillSwitch } from "../../src/killswitch/service.ts";
import { createKillSwitch } from "../../src/killswitch/service.ts";
import type { KillSwitchStore } from "../../src/killswitch/port.ts";
import { startKillSwitchSync } from "../../src/killswitch/sync.ts";
import type { PolicyState } from "../../src/policy/decision.ts";
import type { Fixture } from "./support.ts";
import { clearState, fixture, T0 } from "./support.ts";

let f: Fixture;

beforeEach(async () => {
  f = await fixture();
});

afterEach(async () => {
  await f.cleanup();
});

const ADMIN = {
  by: { subject: "u-sec-admin", email: "sec.admin@zyxbank.example" },
  reason: "INC-4711",
};

async function fileJson(path: string): Promise<Record<string, unknown>> {
  return JSON.parse(await readFile(path, "utf8")) as Record<string, unknown>;
}

/** Rejection of `promise`, with its code and message. */
async function refusal(promise: Promise<unknown>): Promise<{ code: string; message: string }> {
  const error: unknown = await promise.then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  expect(error).toBeInstanceOf(KillSwitchError);
  const { code, message } = error as KillSwitchError;
  return { code, message };
}

const SCOPES: {
  scope: KillSwitchScope;
  value: string | undefined;
  key: keyof PolicyState["kill_switch"];
}[] = [
  { scope: "all_writes", value: undefined, key: "all_writes" },
  { scope: "read_only", value: "change-reviewer", key: "read_only_agents" },
  { scope: "connector", value: "jira", key: "connectors" },
  { scope: "user", value: "u-engineer", key: "users" },
  { scope: "user", value: "engineer@zyxbank.example", key: "users" },
  { scope: "agent", value: "change-remediator", key: "agents" },
  { scope: "workflow", value: "sg-remediation", key: "workflows" },
];

function stateWith(key: keyof PolicyState["kill_switch"], value: string | undefined): PolicyState {
  const state = clearState();
  if (key === "all_writes") state.kill_switch.all_writes = true;
  else state.kill_switch[key] = [value ?? ""];
  return state;
}

describe("kill switch: start", () => {
  it("starts all clear at version 0 from a missing file, writes it, and applies it", async () => {
    const ks = await f.open();
    expect(ks.state()).toEqual({
      version: 0,
      applied_version: 0,
      updated_at: null,
      updated_by: null,
      reason: null,
      state: clearState(),
      history: [],
    });
    expect(f.applied).toEqual([clearState()]);
    expect(f.audits).toEqual([]);
    expect(await fileJson(f.path)).toEqual({
      format: "zyx-kill-switch/1",
      version: 0,
      updated_at: null,
      updated_by: null,
      reason: null,
      state: clearState(),
      history: [],
    });
    expect((await stat(f.path)).mode & 0o777).toBe(0o600);
  });

  it("starts from `initial` when the file is missing, and ignores it once the file exists", async () => {
    const initial = stateWith("all_writes", undefined);
    const ks = await f.open({ initial });
    expect(ks.state().state).toEqual(initial);
    await ks.clear("all_writes", undefined, ADMIN);
    const again = await f.open({ initial });
    expect(again.state().state).toEqual(clearState());
    expect(again.state().version).toBe(1);
  });

  it("refuses an `initial` that is not a valid state", async () => {
    await expect(
      f.open({ initial: { kill_switch: { all_writes: "yes" } } as unknown as PolicyState }),
    ).rejects.toThrow(/^initial is not a kill-switch state/);
    const bad = stateWith("connectors", "jora");
    await expect(f.open({ initial: bad })).rejects.toThrow(
      "initial.kill_switch.connectors: unknown connector jora: the catalog has aws, confluence, github, jira, slack",
    );
  });

  it.each([
    ["not JSON", "{ this is not json", "not JSON"],
    ["truncated", '{"format":"zyx-kill-switch/1","version":3', "not JSON"],
    ["a wrong format tag", JSON.stringify({ format: "other" }), "format: Invalid input"],
    [
      "a state of the wrong shape",
      JSON.stringify({
        format: "zyx-kill-switch/1",
        version: 1,
        updated_at: null,
        updated_by: null,
        reason: null,
        state: { kill_switch: { ...clearState().kill_switch, all_writes: "yes" } },
        history: [],
      }),
      "state.kill_switch.all_writes: Invalid input: expected boolean, received string",
    ],
    [
      "an unknown member",
      JSON.stringify({
        format: "zyx-kill-switch/1",
        version: 0,
        updated_at: null,
        updated_by: null,
        reason: null,
        state: clearState(),
        history: [],
        extra: true,
      }),
      'Unrecognized key: "extra"',
    ],
    [
      "a history ahead of its version",
      JSON.stringify({
        format: "zyx-kill-switch/1",
        version: 1,
        updated_at: "2026-11-21T03:00:00.000Z",
        updated_by: "u-sec-admin",
        reason: "x",
        state: clearState(),
        history: [
          {
            version: 2,
            at: "2026-11-21T03:00:00.000Z",
            by: "u-sec-admin",
            reason: "x",
            action: "set",
            scope: "all_writes",
            value: null,
          },
        ],
      }),
      "history.0.version: history versions must increase and not exceed the file's version 1",
    ],
  ])("refuses to start on a corrupt file: %s", async (_name, text, why) => {
    await mkdir(join(f.dir, "state"), { recursive: true });
    await writeFile(f.path, text);
    const error = await refusal(f.open());
    expect(error.code).toBe("kill_switch_state_corrupt");
    expect(error.message).toContain(`the kill-switch state file ${f.path} is corrupt (`);
    expect(error.message).toContain(why);
    expect(error.message).toContain("refusing to start");
    expect(f.applied).toEqual([]);
    expect(await readFile(f.path, "utf8")).toBe(text);
  });

  it("refuses to start when the policy does not take the loaded state", async () => {
    f.fail.apply = true;
    const error = await refusal(f.open());
    expect(error.code).toBe("kill_switch_apply_failed");
    expect(error.message).toBe(
      `the policy did not take the kill-switch state (version 0) from ${f.path}: policy server answered 500; refusing to start`,
    );
  });

  it("refuses to start when the state directory cannot be written", async () => {
    f.fail.write = true;
    const error = await refusal(f.open());
    expect(error).toEqual({
      code: "kill_switch_unavailable",
      message: `cannot write the kill-switch state file ${f.path}: ENOSPC: no space left on device`,
    });
    expect(f.applied).toEqual([]);
  });

  it("removes the temporary files of a crashed writer", async () => {
    await mkdir(join(f.dir, "state"), { recursive: true });
    const stale = join(f.dir, "state", ".kill-switch.json.tmp-999-abcdef");
    await writeFile(stale, "half");
    await writeFile(join(f.dir, "state", "unrelated.txt"), "keep");
    await f.open();
    expect((await readdir(join(f.dir, "state"))).sort()).toEqual([
      "kill-switch.json",
      "unrelated.txt",
    ]);
  });

  it("checks its options", async () => {
    await expect(createKillSwitch({ ...f.options(), path: "" })).rejects.toThrow(
      "path is required",
    );
    await expect(
      createKillSwitch({ ...f.options(), audit: undefined as unknown as () => void }),
    ).rejects.toThrow("audit must be a function");
    await expect(
      createKillSwitch({ ...f.options(), apply: "no" as unknown as () => void }),
    ).rejects.toThrow("apply must be a function");
    await expect(createKillSwitch({ ...f.options(), historyLimit: 0 })).rejects.toThrow(
      "historyLimit must be an integer from 1 to 10000",
    );
  });

  it("takes the connectors from the catalog by default", async () => {
    const ks = await f.open({ connectors: undefined });
    await ks.set("connector", "slack", ADMIN);
    const error = await refusal(ks.set("connector", "jora", ADMIN));
    expect(error).toEqual({
      code: "kill_switch_value_invalid",
      message: "unknown connector jora: the catalog has aws, confluence, github, jira, slack",
    });
  });
});

describe.each(SCOPES)("kill switch scope $scope $value", ({ scope, value, key }) => {
  it("sets, audits, saves and applies; then clears the same way", async () => {
    const ks = await f.open();
    f.events.length = 0;
    f.clock.now = T0 + 60_000;

    const set = await ks.set(scope, value, ADMIN);
    const on = stateWith(key, value);
    expect(set).toMatchObject({ changed: true, version: 1, applied_version: 1, state: on });
    expect(ks.state()).toMatchObject({
      version: 1,
      applied_version: 1,
      updated_at: "2026-11-21T03:01:00.000Z",
      updated_by: "u-sec-admin",
      reason: "INC-4711",
      state: on,
    });
    expect(f.events).toEqual(["audit", "write", "apply"]);
    expect(f.applied.at(-1)).toEqual(on);
    expect(f.audits).toEqual([
      {
        event: "kill_switch",
        timestamp: "2026-11-21T03:01:00.000Z",
        user: { subject: "u-sec-admin", email: "sec.admin@zyxbank.example" },
        details: {
          action: "set",
          scope,
          value: value ?? null,
          reason: "INC-4711",
          old_version: 0,
          new_version: 1,
        },
      },
    ]);
    expect((await fileJson(f.path))["state"]).toEqual(on);

    f.clock.now = T0 + 120_000;
    const cleared = await ks.clear(scope, value, { by: "u-other-admin", reason: "resolved" });
    expect(cleared).toMatchObject({ changed: true, version: 2, state: clearState() });
    expect(f.applied.at(-1)).toEqual(clearState());
    expect(f.audits[1]).toMatchObject({
      user: { subject: "u-other-admin" },
      details: { action: "clear", scope, value: value ?? null, old_version: 1, new_version: 2 },
    });
    expect(ks.state().history).toEqual([
      {
        version: 1,
        at: "2026-11-21T03:01:00.000Z",
        by: "u-sec-admin",
        reason: "INC-4711",
        action: "set",
        scope,
        value: value ?? null,
      },
      {
        version: 2,
        at: "2026-11-21T03:02:00.000Z",
        by: "u-other-admin",
        reason: "resolved",
        action: "clear",
        scope,
        value: value ?? null,
      },
    ]);
    expect((await fileJson(f.path))["state"]).toEqual(clearState());
  });

  it("setting what is set (or clearing what is clear) is a no-op: same version, not audited", async () => {
    const ks = await f.open();
    const first = await ks.clear(scope, value, ADMIN);
    expect(first).toMatchObject({ changed: false, version: 0 });
    await ks.set(scope, value, ADMIN);
    const bytes = await readFile(f.path, "utf8");
    f.events.length = 0;
    const again = await ks.set(scope, value, { by: "u-other-admin", reason: "again" });
    expect(again).toMatchObject({ changed: false, version: 1, updated_by: "u-sec-admin" });
    expect(f.events).toEqual([]);
    expect(await readFile(f.path, "utf8")).toBe(bytes);
  });
});

describe("kill switch: persistence and versions", () => {
  it("reloads every scope, the version and the history from the file, and applies them", async () => {
    const ks = await f.open();
    for (const { scope, value } of SCOPES) {
      f.clock.now += 1_000;
      await ks.set(scope, value, ADMIN);
    }
    const before = ks.state();
    expect(before.version).toBe(SCOPES.length);
    expect(before.state).toEqual({
      kill_switch: {
        all_writes: true,
        read_only_agents: ["change-reviewer"],
        connectors: ["jira"],
        users: ["u-engineer", "engineer@zyxbank.example"],
        agents: ["change-remediator"],
        workflows: ["sg-remediation"],
      },
    });

    f.applied.length = 0;
    const reloaded = await f.open();
    expect(reloaded.state()).toEqual(before);
    expect(f.applied).toEqual([before.state]);

    await reloaded.clear("user", "u-engineer", ADMIN);
    expect(reloaded.state().version).toBe(SCOPES.length + 1);
    expect(reloaded.state().state.kill_switch.users).toEqual(["engineer@zyxbank.example"]);
  });

  it("versions only increase, one per change, across reloads", async () => {
    let ks = await f.open();
    const versions: number[] = [];
    for (let round = 0; round < 3; round++) {
      versions.push((await ks.set("agent", `agent-${String(round)}`, ADMIN)).version);
      versions.push((await ks.set("all_writes", undefined, ADMIN)).version);
      versions.push((await ks.clear("all_writes", undefined, ADMIN)).version);
      ks = await f.open();
    }
    expect(versions).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it("keeps a bounded history, the newest last, in memory and in the file", async () => {
    const ks = await f.open({ historyLimit: 3 });
    for (let n = 1; n <= 5; n++) await ks.set("user", `u-${String(n)}`, ADMIN);
    const history = ks.state().history;
    expect(history.map((entry) => [entry.version, entry.value])).toEqual([
      [3, "u-3"],
      [4, "u-4"],
      [5, "u-5"],
    ]);
    expect((await fileJson(f.path))["history"]).toEqual(history);
    expect(ks.state().state.kill_switch.users).toEqual(["u-1", "u-2", "u-3", "u-4", "u-5"]);
  });

  it("serializes concurrent changes: no lost update", async () => {
    const ks = await f.open();
    const agents = Array.from({ length: 25 }, (_, n) => `agent-${String(n)}`);
    const results = await Promise.all(agents.map((agent) => ks.set("agent", agent, ADMIN)));
    expect(results.map((result) => result.version)).toEqual(agents.map((_, n) => n + 1));
    expect(ks.state().state.kill_switch.agents).toEqual(agents);
    expect(ks.state().version).toBe(25);
    const file = await fileJson(f.path);
    expect(file["version"]).toBe(25);
    expect((file["state"] as PolicyState).kill_switch.agents).toEqual(agents);
    expect(f.applied.at(-1)?.kill_switch.agents).toEqual(agents);
    expect(
      f.audits.map((record) => (record.details as { new_version: number }).new_version),
    ).toEqual(agents.map((_, n) => n + 1));
  });

  it("serializes a set and a clear of the same value in call order", async () => {
    const ks = await f.open();
    const [set, clear, setAgain] = await Promise.all([
      ks.set("workflow", "change-review", ADMIN),
      ks.clear("workflow", "change-review", ADMIN),
      ks.set("workflow", "change-review", ADMIN),
    ]);
    expect([set.version, clear.version, setAgain.version]).toEqual([1, 2, 3]);
    expect(ks.state().state.kill_switch.workflows).toEqual(["change-review"]);
  });
});

describe("kill switch: failures", () => {
  it("audits BEFORE it saves and applies", async () => {
    const ks = await f.open();
    f.events.length = 0;
    await ks.set("connector", "aws", ADMIN);
    expect(f.events).toEqual(["audit", "write", "apply"]);
  });

  it("a failing audit refuses the change: state, file and policy unchanged", async () => {
    const ks = await f.open();
    await ks.set("connector", "aws", ADMIN);
    const before = ks.state();
    const bytes = await readFile(f.path, "utf8");
    f.events.length = 0;
    f.fail.audit = true;

    const error = await refusal(ks.set("all_writes", undefined, ADMIN));
    expect(error).toEqual({
      code: "audit_unavailable",
      message:
        "the audit record of this change could not be written, so nothing changed: EIO: i/o error, fdatasync",
    });
    expect(f.events).toEqual(["audit"]);
    expect(ks.state()).toEqual(before);
    expect(await readFile(f.path, "utf8")).toBe(bytes);

    // The queue is not stuck: the next change goes through once the audit works again.
    f.fail.audit = false;
    expect((await ks.set("all_writes", undefined, ADMIN)).version).toBe(2);
  });

  it("a failing save refuses the change, applies nothing, and audits the failure", async () => {
    const ks = await f.open();
    const before = ks.state();
    f.events.length = 0;
    f.fail.write = true;
    const error = await refusal(ks.set("user", "u-intern", ADMIN));
    expect(error).toEqual({
      code: "kill_switch_unavailable",
      message: `cannot write the kill-switch state file ${f.path}: ENOSPC: no space left on device`,
    });
    expect(f.events).toEqual(["audit", "write", "audit-failed"]);
    expect(ks.state()).toEqual(before);
    expect(f.audits.at(-1)).toMatchObject({
      event: "kill_switch",
      details: { action: "set", scope: "user", value: "u-intern", new_version: 1 },
      outcome: { status: "failed", code: "kill_switch_unavailable" },
    });
    expect((await f.open()).state().version).toBe(0);
  });

  // The file is the source of truth: a change the policy did not take stays saved (and audited),
  // is reported, and is applied at the next operation or the next start. See service.ts.
  it("a failing apply is reported; the saved change stands and is applied again", async () => {
    const ks = await f.open();
    f.events.length = 0;
    f.fail.apply = true;
    const error: unknown = await ks.set("agent", "change-reviewer", ADMIN).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(KillSwitchError);
    const failure = error as KillSwitchError;
    expect(failure.code).toBe("kill_switch_apply_failed");
    expect(failure.message).toBe(
      `version 1 is saved in ${f.path} but the policy did not take it (policy server answered 500); ` +
        "the policy still runs version 0: repeat the command to apply it again",
    );
    expect(failure.extensions).toEqual({ version: 1, applied_version: 0 });
    expect(f.events).toEqual(["audit", "write", "apply", "audit-failed"]);
    expect(f.audits.at(-1)).toMatchObject({
      outcome: { status: "failed", code: "kill_switch_apply_failed" },
      details: { new_version: 1 },
    });
    expect(ks.state()).toMatchObject({ version: 1, applied_version: 0 });
    expect(ks.state().state.kill_switch.agents).toEqual(["change-reviewer"]);
    expect(((await fileJson(f.path))["state"] as PolicyState).kill_switch.agents).toEqual([
      "change-reviewer",
    ]);

    // Repeating the command is a no-op for the state, but applies the saved version.
    const stillFailing = await refusal(ks.set("agent", "change-reviewer", ADMIN));
    expect(stillFailing.code).toBe("kill_switch_apply_failed");
    f.fail.apply = false;
    const retried = await ks.set("agent", "change-reviewer", ADMIN);
    expect(retried).toMatchObject({ changed: false, version: 1, applied_version: 1 });
    expect(f.applied.at(-1)?.kill_switch.agents).toEqual(["change-reviewer"]);

    // And a restart applies what the file holds.
    f.applied.length = 0;
    const reloaded = await f.open();
    expect(reloaded.state()).toMatchObject({ version: 1, applied_version: 1 });
    expect(f.applied).toEqual([stateWith("agents", "change-reviewer")]);
  });

  it("a failing follow-up audit does not hide the original error", async () => {
    const ks = await f.open();
    f.fail.apply = true;
    f.fail.auditFollowUp = true;
    expect((await refusal(ks.set("all_writes", undefined, ADMIN))).code).toBe(
      "kill_switch_apply_failed",
    );
  });

  it("waits for an asynchronous apply before it answers", async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let started = false;
    const applied: PolicyState[] = [];
    const ks = await f.open({
      apply: async (state) => {
        if (started) await gate;
        applied.push(state);
      },
    });
    started = true;
    let answered = false;
    const pending = ks.set("all_writes", undefined, ADMIN).then(() => {
      answered = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(answered).toBe(false);
    release();
    await pending;
    expect(applied.at(-1)?.kill_switch.all_writes).toBe(true);
  });
});

describe("kill switch: validation", () => {
  let ks: KillSwitch;
  beforeEach(async () => {
    ks = await f.open();
    f.events.length = 0;
  });

  it.each([
    [
      "an unknown scope",
      "everything",
      "x",
      ADMIN,
      "kill_switch_scope_unknown",
      "unknown kill-switch scope everything",
    ],
    [
      "a value for all_writes",
      "all_writes",
      "jira",
      ADMIN,
      "kill_switch_value_invalid",
      "the all_writes scope takes no value",
    ],
    [
      "no value for a connector",
      "connector",
      undefined,
      ADMIN,
      "kill_switch_value_invalid",
      "the connector scope needs a value",
    ],
    [
      "a connector outside the catalog",
      "connector",
      "jora",
      ADMIN,
      "kill_switch_value_invalid",
      "unknown connector jora: the catalog has aws, confluence, github, jira, slack",
    ],
    [
      "an empty user",
      "user",
      "",
      ADMIN,
      "kill_switch_value_invalid",
      "a user must be 1 to 320 characters (a subject or an email)",
    ],
    [
      "a user of 321 characters",
      "user",
      `${"a".repeat(310)}@zyxbank.ex`,
      ADMIN,
      "kill_switch_value_invalid",
      "a user must be 1 to 320 characters (a subject or an email)",
    ],
    [
      "a padded user",
      "user",
      " u-engineer",
      ADMIN,
      "kill_switch_value_invalid",
      "a user must not contain control characters or surrounding whitespace",
    ],
    [
      "an agent with a space",
      "agent",
      "change reviewer",
      ADMIN,
      "kill_switch_value_invalid",
      "an agent name must be 1 to 200 characters without whitespace or control characters",
    ],
    [
      "a read-only agent with a newline",
      "read_only",
      "change-reviewer\n",
      ADMIN,
      "kill_switch_value_invalid",
      "an agent name must be 1 to 200 characters without whitespace or control characters",
    ],
    [
      "a workflow of 201 characters",
      "workflow",
      "w".repeat(201),
      ADMIN,
      "kill_switch_value_invalid",
      "a workflow name must be 1 to 200 characters without whitespace or control characters",
    ],
    [
      "no reason",
      "all_writes",
      undefined,
      { by: "u-sec-admin", reason: " " },
      "kill_switch_reason_invalid",
      "a reason is required",
    ],
    [
      "a reason of 501 characters",
      "all_writes",
      undefined,
      { by: "u-sec-admin", reason: "r".repeat(501) },
      "kill_switch_reason_invalid",
      "the reason is longer than 500 characters",
    ],
    [
      "nobody",
      "all_writes",
      undefined,
      { by: "", reason: "why" },
      "kill_switch_actor_invalid",
      "who made the change must be 1 to 320 printable characters",
    ],
  ] as const)(
    "refuses %s, changing nothing",
    async (_name, scope, value, options, code, message) => {
      const error = await refusal(ks.set(scope as KillSwitchScope, value, options));
      expect(error).toEqual({ code, message });
      expect(f.events).toEqual([]);
      expect(ks.state().version).toBe(0);
    },
  );

  it("accepts a user of exactly 320 characters and a reason of exactly 500", async () => {
    const user = `${"a".repeat(309)}@zyxbank.ex`;
    expect(user).toHaveLength(320);
    const result = await ks.set("user", user, { by: "u-sec-admin", reason: "r".repeat(500) });
    expect(result.state.kill_switch.users).toEqual([user]);
  });

  it("clears a connector the catalog no longer has, but never sets one", async () => {
    await f.cleanup();
    await mkdir(join(f.dir, "state"), { recursive: true });
    await writeFile(
      f.path,
      JSON.stringify({
        format: "zyx-kill-switch/1",
        version: 4,
        updated_at: "2026-11-20T03:00:00.000Z",
        updated_by: "u-sec-admin",
        reason: "legacy",
        state: stateWith("connectors", "servicenow"),
        history: [],
      }),
    );
    const legacy = await f.open();
    expect((await refusal(legacy.set("connector", "servicenow", ADMIN))).code).toBe(
      "kill_switch_value_invalid",
    );
    const cleared = await legacy.clear("connector", "servicenow", ADMIN);
    expect(cleared).toMatchObject({ changed: true, version: 5, state: clearState() });
  });
});

describe("kill switch: automatic suspension", () => {
  it("suspends an agent as system:auto-suspension, audited", async () => {
    const ks = await f.open();
    const result = await ks.suspendAgent("change-reviewer", {
      reason: "10 denials within 300 s",
    });
    expect(result).toMatchObject({
      changed: true,
      version: 1,
      updated_by: "system:auto-suspension",
      reason: "10 denials within 300 s",
      state: stateWith("agents", "change-reviewer"),
    });
    expect(f.audits).toEqual([
      {
        event: "kill_switch",
        timestamp: new Date(T0).toISOString(),
        user: { subject: "system:auto-suspension" },
        details: {
          action: "set",
          scope: "agent",
          value: "change-reviewer",
          reason: "10 denials within 300 s",
          old_version: 0,
          new_version: 1,
        },
      },
    ]);
    // A second trigger while suspended changes nothing and writes nothing.
    const again = await ks.suspendAgent("change-reviewer", { reason: "11 denials" });
    expect(again).toMatchObject({ changed: false, version: 1 });
    expect(f.audits).toHaveLength(1);
    // An admin lifts it.
    await ks.clear("agent", "change-reviewer", ADMIN);
    expect(ks.state().state).toEqual(clearState());
  });
});

describe("a lost store whose all_writes the policy did not take", () => {
  it("is applied again on the next call, not remembered as done", async () => {
    const killSwitch = await f.open();
    f.fail.apply = true;
    await expect(killSwitch.setStoreLost(true)).rejects.toThrow("policy server answered 500");
    // Readiness says the store is lost at once, whatever the policy took.
    expect(killSwitch.storeStatus().healthy).toBe(false);
    f.fail.apply = false;
    await killSwitch.setStoreLost(true);
    expect(killSwitch.storeStatus().healthy).toBe(false);
    expect(f.applied.at(-1)?.kill_switch.all_writes).toBe(true);
  });

  it("is handed to the policy again by the sync loop until it takes it", async () => {
    const lostCalls: boolean[] = [];
    let failing = true;
    const sync = startKillSwitchSync({
      killSwitch: {
        sync: () => Promise.reject(new Error("connection refused")),
        setStoreLost: (lost: boolean) => {
          lostCalls.push(lost);
          return failing
            ? Promise.reject(new Error("policy server answered 500"))
            : Promise.resolve();
        },
      } as unknown as KillSwitch,
      store: { location: "postgres://test" } as unknown as KillSwitchStore,
      intervalMs: 10,
      staleAfterMs: 20,
    });
    await vi.waitFor(() => {
      expect(lostCalls.length).toBeGreaterThanOrEqual(2);
    });
    failing = false;
    const taken = lostCalls.length;
    await vi.waitFor(() => {
      expect(lostCalls.length).toBeGreaterThan(taken);
    });
    // Taken: asked no more.
    await new Promise((resolve) => setTimeout(resolve, 60));
    const settled = lostCalls.length;
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(lostCalls.length).toBe(settled);
    expect(lostCalls.every((lost) => lost)).toBe(true);
    await sync.stop();
  });
});
