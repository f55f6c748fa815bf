// A gateway with the approver console, wired to the real development identity provider app
// (OIDC code flow + PKCE, dev device-trust) reached in-process, and a small cookie-keeping
// "browser" that signs people in through the real pages.
import type { Hono } from "hono";
import { createDevIdpApp } from "../../../idp/src/server.ts";
import { hashClientSecret } from "../../../idp/src/clients.ts";
import { DEV_PEOPLE, type RegisteredPerson } from "../../../idp/src/users.ts";
import {
  CHANGE_REVIEW_AUDIENCE,
  DEV_ISSUER,
  DEV_POSTURE_ISSUER,
  GATEWAY_AUDIENCE,
  publicJwk,
} from "../../../common/keys.ts";
import { createConsoleIdentity } from "../../src/console/identity.ts";
import { createHarness, type Harness } from "../support/harness.ts";
import { SG_CHANGE as SG_ARGS } from "../../../test/support/fixtures.ts";
export { SG_ARGS };

export const GATEWAY_ORIGIN = "http://gateway.test";
export const IDP = "http://idp.test";
const CHEAP = { N: 1_024, r: 8, p: 1 };
const CLIENT_SECRET = "console-secret-for-tests-only-0123456789";

export const CLOUD = {
  user: "cloud@zyxbank.example",
  groups: ["grp-ai-users", "grp-ai-cloud-change-reviewers"],
  agent: "change-remediator",
};

export interface ConsoleHarness extends Harness {
  idp: Hono;
  /** Each person's password (generated here). */
  passwords: Map<string, string>;
}

export async function createConsoleHarness(): Promise<ConsoleHarness> {
  const passwords = new Map<string, string>();
  const users: RegisteredPerson[] = [];
  for (const person of DEV_PEOPLE) {
    const password = `pw-${person.email}-${String(Math.random()).slice(2)}`;
    passwords.set(person.email, password);
    users.push({
      email: person.email,
      groups: [...person.groups],
      device: { ...person.device },
      password: await hashClientSecret(password, CHEAP),
    });
  }
  let idp: Hono | undefined;
  const harness = await createHarness({
    console: async ({ keys, nowSec, auditPath }) => {
      idp = createDevIdpApp({
        keys: keys.idp,
        issuer: DEV_ISSUER,
        clients: [
          {
            client_id: "approvals-console",
            agent: "approvals-console",
            secret: await hashClientSecret(CLIENT_SECRET, CHEAP),
          },
        ],
        engineerAudience: CHANGE_REVIEW_AUDIENCE,
        gatewayAudience: GATEWAY_AUDIENCE,
        maxTtlSec: 300,
        now: nowSec,
        oidc: {
          users,
          consoleClients: [
            {
              client_id: "approvals-console",
              redirect_uris: [`${GATEWAY_ORIGIN}/console/callback`],
            },
          ],
          deviceTrust: { keys: keys.device, issuer: DEV_POSTURE_ISSUER },
        },
      });
      const idpApp = idp;
      return {
        identity: createConsoleIdentity({
          authorizationEndpoint: `${IDP}/oauth/authorize`,
          tokenEndpoint: `${IDP}/oauth/token`,
          postureEndpoint: `${IDP}/device-trust/posture`,
          issuer: DEV_ISSUER,
          keys: { kind: "jwks", jwks: { keys: [publicJwk(keys.idp)] } },
          clientId: "approvals-console",
          clientSecret: () => Promise.resolve(CLIENT_SECRET),
          redirectUri: `${GATEWAY_ORIGIN}/console/callback`,
          fetch: async (url, init) =>
            idpApp.request(url instanceof Request ? url.url : url.toString(), init),
          now: nowSec,
        }),
        secure: false,
        origin: GATEWAY_ORIGIN,
        auditFiles: [auditPath],
      };
    },
  });
  if (idp === undefined) throw new Error("the console was not built");
  return { ...harness, idp, passwords };
}

/** Cookies as a browser keeps them (name → value), from Set-Cookie headers. */
export class Browser {
  readonly cookies = new Map<string, string>();
  private readonly h: ConsoleHarness;
  constructor(h: ConsoleHarness) {
    this.h = h;
  }

  private keep(response: Response): Response {
    for (const line of response.headers.getSetCookie()) {
      const [pair] = line.split(";");
      const eq = (pair ?? "").indexOf("=");
      const name = (pair ?? "").slice(0, eq);
      const value = (pair ?? "").slice(eq + 1);
      if (value === "" || /max-age=0/i.test(line)) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    return response;
  }

  private cookieHeader(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join("; ");
  }

  async get(path: string): Promise<Response> {
    return this.keep(
      await this.h.app.request(`${GATEWAY_ORIGIN}${path}`, {
        headers: { cookie: this.cookieHeader() },
      }),
    );
  }

  /** `env`: what the server hands the app (support/harness.ts fromPeer: the socket's peer). */
  async post(
    path: string,
    form: Record<string, string>,
    headers: Record<string, string> = {},
    env?: object,
  ) {
    return this.keep(
      await this.h.app.request(
        `${GATEWAY_ORIGIN}${path}`,
        {
          method: "POST",
          headers: {
            cookie: this.cookieHeader(),
            "content-type": "application/x-www-form-urlencoded",
            ...headers,
          },
          body: new URLSearchParams(form).toString(),
        },
        env,
      ),
    );
  }

  /** The whole sign-in: console → IdP login page → password → callback. */
  async signIn(email: string): Promise<Response> {
    const start = await this.get("/console/login");
    const authorize = start.headers.get("location") ?? "";
    const page = await (await this.h.idp.request(authorize)).text();
    const form: Record<string, string> = {};
    for (const match of page.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)) {
      form[match[1] ?? ""] = (match[2] ?? "").replaceAll("&amp;", "&");
    }
    form["username"] = email;
    form["password"] = this.h.passwords.get(email) ?? "";
    const login = await this.h.idp.request(`${IDP}/oauth/authorize`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams(form).toString(),
    });
    const callback = new URL(login.headers.get("location") ?? "");
    return this.get(`${callback.pathname}${callback.search}`);
  }
}

/** The form token of a console page. */
export function csrfOf(html: string): string {
  const match = /name="csrf" value="([^"]+)"/.exec(html);
  if (match?.[1] === undefined) throw new Error("no form token on the page");
  return match[1];
}

/** The security-group change, asked by the remediation agent for the cloud engineer: its id. */
export async function pendingSecurityGroupChange(
  h: Harness,
  sessionId = "sg-console",
): Promise<string> {
  const response = await h.callAs("aws_modify_security_group", SG_ARGS, { as: CLOUD, sessionId });
  const body = (await response.json()) as { approval_id?: string };
  if (response.status !== 202 || body.approval_id === undefined) {
    throw new Error(
      `expected 202 with an approval id, got ${String(response.status)} ${JSON.stringify(body)}`,
    );
  }
  return body.approval_id;
}
