// The approver console in a real browser (Debian's Chromium, driven by playwright-core; installed
// by scripts/chromium.sh from `make setup`, never downloaded here) against real processes: the
// identity provider, the gateway and the worker. The remediation agent asks for a security-group
// change; approvers sign in through the identity provider's login page, open the request, see
// the group's rules before and after (read through the worker), and approve; the agent's call
// then runs once. A screenshot of the request page goes to the temp folder, and to
// docs/console.png when UPDATE_SCREENSHOT=1 (the README shows it).
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { REPO_ROOT, startStack, type Stack } from "../support/processes.ts";
import {
  REMEDIATOR as REMEDIATOR_PERSON,
  SG_CHANGE as ARGS,
  tokenArgs,
} from "../support/fixtures.ts";

const REQUESTER = tokenArgs(REMEDIATOR_PERSON);

const CHROMIUM = process.env["CHROMIUM_PATH"] ?? "/usr/bin/chromium";

describe("the approver console in a browser", () => {
  let stack: Stack;
  let browser: Browser;
  const started = Date.now();

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: run make setup`);
    [stack, browser] = await Promise.all([
      startStack({ idp: true }),
      chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] }),
    ]);
  });
  afterAll(async () => {
    await Promise.all([browser.close(), stack.stop()]);
    process.stderr.write(`console browser suite: ${String(Date.now() - started)} ms\n`);
  });

  const headers = () => ({
    authorization: `Bearer ${stack.token("access", ...REQUESTER)}`,
    "x-device-posture": stack.token("posture", "--user", "cloud@zyxbank.example"),
    "content-type": "application/json",
  });
  const call = (extra: Record<string, unknown> = {}) =>
    fetch(`${stack.gatewayUrl}/v1/tools/aws_modify_security_group`, {
      method: "POST",
      headers: headers(),
      body: JSON.stringify({ arguments: ARGS, session_id: "sg-browser", ...extra }),
    });

  async function signIn(email: string): Promise<Page> {
    const context = await browser.newContext({ viewport: { width: 1280, height: 1400 } });
    context.setDefaultTimeout(8_000);
    const page = await context.newPage();
    await page.goto(`${stack.gatewayUrl}/console/login`);
    await page.getByLabel("E-mail address").fill(email);
    const password = readFileSync(join(stack.stateDir, "users", `${email}.password`), "utf8");
    await page.getByLabel("Password").fill(password.trim());
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.waitForURL(`${stack.gatewayUrl}/console/`).catch(async (error: unknown) => {
      throw new Error(`sign-in ended on ${page.url()}: ${await page.content()}`, { cause: error });
    });
    return page;
  }

  it(
    "signs in, shows the before/after rules, approves; the agent's call then runs once",
    { timeout: 60_000 },
    async () => {
      const requested = await call();
      expect(requested.status).toBe(202);
      const { approval_id: id, approvers_required: required } = (await requested.json()) as {
        approval_id: string;
        approvers_required: number;
      };

      const approvers = ["approver.one@zyxbank.example", "approver.two@zyxbank.example"];
      for (const [index, email] of approvers.slice(0, required).entries()) {
        const page = await signIn(email);
        await page.getByRole("link", { name: "aws_modify_security_group" }).click();
        await page.waitForURL(`${stack.gatewayUrl}/console/requests/${id}`);
        const before = page.locator("#rules-before");
        const after = page.locator("#rules-after");
        await expect.poll(() => before.textContent()).toContain("0.0.0.0/0");
        expect(await after.textContent()).not.toContain("0.0.0.0/0");
        expect(await page.locator("#status").textContent()).toContain(
          `${String(index)} of ${String(required)} approvals`,
        );
        if (index === required - 1) {
          const shot = await page.screenshot({ fullPage: true });
          expect(shot.length).toBeGreaterThan(10_000);
          if (process.env["UPDATE_SCREENSHOT"] === "1") {
            await page.screenshot({ path: join(REPO_ROOT, "docs/console.png"), fullPage: false });
          }
        }
        await page.getByRole("button", { name: "Approve this exact call" }).click();
        await page.waitForURL(/done=approved/).catch(async (error: unknown) => {
          throw new Error(`approving ended on ${page.url()}: ${await page.content()}`, {
            cause: error,
          });
        });
        expect(await page.locator(".notice").textContent()).toContain("approval is recorded");
        await page.context().close();
      }

      const executed = await call({ approval_id: id });
      expect(executed.status).toBe(200);
      const replay = await call({ approval_id: id });
      expect(replay.status).toBe(409);
      const writes = readFileSync(join(stack.stateDir, "fixture-writes.jsonl"), "utf8")
        .trim()
        .split("\n")
        .map((line) => JSON.parse(line) as { connector: string; action: string });
      expect(writes.filter((w) => w.connector === "aws")).toHaveLength(1);
    },
  );
});
