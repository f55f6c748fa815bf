// The approver console under /console/: server-rendered pages for people, no script.
//
//   GET  /console/                         the open requests this person may decide (not their own)
//   GET  /console/login                    starts OpenID Connect sign-in (code + PKCE) at the IdP
//   GET  /console/callback                 finishes it; a server-side session, cookie HttpOnly,
//                                          SameSite=Strict, Secure over TLS
//   GET  /console/requests/{id}            one request in full (refreshes itself while open)
//   POST /console/requests/{id}/approve    CSRF token; the device posture fetched now from the
//   POST /console/requests/{id}/deny       device-trust service and verified; reason required
//                                          (a denial without a verified device only stops a
//                                          waiting call: a post-hoc rejection needs one)
//   POST /console/logout
//
// Invariants: the person is verified on every request from the access token held server side,
// with the gateway's own verifier (an expired one ends the session: console_session_stale), and
// must act through a human console (requireHumanConsole). Decisions go through the same
// ApprovalService as the REST routes, with the same approver checks (checkApprover, fresh
// compliant posture for an approval), so every refusal and audit record takes one path; refusals
// of a verified person the service did not record are recorded here (door "console").
// Every state change needs the session's CSRF token and, when the browser sends one, a
// same-origin Origin header. Errors render as HTML pages with the stable code and its status.
import { Hono, type Context } from "hono";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import type { ApprovalRequest } from "../approvals/request.ts";
import { isOpen } from "../approvals/request.ts";
import { trustedDevice } from "../approvals/routes.ts";
import { approverAt, type ApprovalService } from "../approvals/service.ts";
import type { SourceOf } from "../lib/client-address.ts";
import type {
  AccessTokenVerifier,
  PostureVerifier,
  VerifiedPosture,
  VerifiedPrincipal,
} from "../identity/types.ts";
import { GatewayError, isGatewayError } from "../lib/errors.ts";
import { limitBody } from "../lib/body.ts";
import { asGatewayError } from "../lib/problem.ts";
import type { RefusalRecorder } from "../pipeline/refusals.ts";
import { requestEvidence, securityGroupRules, type RulesReader } from "./evidence.ts";
import type { ConsoleIdentity } from "./identity.ts";
import { CONSOLE_CSS, detailPage, listPage, messagePage } from "./pages.ts";
import { createConsoleSessions, sameSecret, type ConsoleSession } from "./sessions.ts";

export interface ConsoleOptions {
  identity: ConsoleIdentity;
  /** Served over TLS: cookies are Secure and use the __Host- prefix. */
  secure: boolean;
  /** The console's public origin (Origin checks); e.g. http://127.0.0.1:8080. */
  origin: string;
  /** Audit log files read for the session's history. */
  auditFiles: readonly string[];
  /** Longest session, whatever the access token says (default 8 hours). */
  sessionMaxAgeSeconds?: number;
}

export interface ConsoleDeps {
  approvals: ApprovalService;
  accessTokens: AccessTokenVerifier;
  posture: PostureVerifier;
  rules: RulesReader;
  refusals: RefusalRecorder;
  now: () => number;
  /** The REST approval routes' own checks (human console, kill switch; posture freshness). */
  checkApprover: (principal: VerifiedPrincipal) => void;
  checkApproverDevice: (posture: VerifiedPosture) => void;
  requireHumanConsole: (principal: VerifiedPrincipal) => void;
  /** Where a request came from (lib/client-address.ts sourceOf), recorded with the approval. */
  sourceOf?: SourceOf | undefined;
  /** Runs after a denial (the post-hoc review's compensation); absent: nothing more. */
  afterDeny?: (request: ApprovalRequest, approver: VerifiedPrincipal) => Promise<ApprovalRequest>;
  /** Groups that may read any request. */
  readerGroups?: readonly string[];
}

/** Where the console lives; the routes carry it whole (the app mounts them at "/"). */
const BASE = "/console";
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const LIST_LIMIT = 200;
/**
 * Open requests read to find this person's LIST_LIMIT: every group's requests come first in
 * deadline order, so reading only LIST_LIMIT would let other groups' (post-hoc reviews are not
 * bounded) push this person's out of the list.
 */
const LIST_SCAN = 10_000;
/** The largest console form (a CSRF token and a reason). */
const CONSOLE_FORM_BYTES = 16_384;

function securityHeaders(c: Context): void {
  c.header(
    "content-security-policy",
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; " +
      "frame-ancestors 'none'; base-uri 'none'",
  );
  c.header("x-content-type-options", "nosniff");
  // same-origin, not no-referrer: with no-referrer a form's Origin is "null", and the Origin
  // check would refuse every form; other sites still never see a console URL.
  c.header("referrer-policy", "same-origin");
  c.header("cache-control", "no-store");
  c.header("x-frame-options", "DENY");
}

function checkOptions(options: ConsoleOptions, deps: ConsoleDeps): void {
  if (typeof options.identity !== "object") throw new TypeError("console.identity is required");
  if (typeof options.secure !== "boolean") throw new TypeError("console.secure must be a boolean");
  const origin = new URL(options.origin);
  if (origin.origin !== options.origin) throw new TypeError("console.origin must be an origin");
  if (!Array.isArray(options.auditFiles)) throw new TypeError("console.auditFiles is required");
  for (const name of ["approvals", "accessTokens", "posture", "rules", "refusals"] as const) {
    if (typeof deps[name] !== "object") throw new TypeError(`console deps.${name} is required`);
  }
}

export function createConsoleRoutes(options: ConsoleOptions, deps: ConsoleDeps): Hono {
  checkOptions(options, deps);
  const { identity } = options;
  const sessions = createConsoleSessions({
    maxAgeMs: (options.sessionMaxAgeSeconds ?? 8 * 3600) * 1000,
    now: deps.now,
  });
  const readers = new Set(deps.readerGroups ?? ["grp-ai-security-admins"]);
  const cookieName = options.secure ? "__Host-zyx_console" : "zyx_console";
  const cookiePath = options.secure ? "/" : "/console";
  const signInCookie = options.secure ? "__Secure-zyx_console_signin" : "zyx_console_signin";
  const seen = new WeakMap<Request, VerifiedPrincipal>();
  const app = new Hono();

  /** The signed-in person, verified now from the token held server side. */
  async function person(
    c: Context,
  ): Promise<{ session: ConsoleSession; principal: VerifiedPrincipal }> {
    const session = sessions.get(getCookie(c, cookieName));
    let principal: VerifiedPrincipal;
    try {
      principal = await deps.accessTokens.verify(session.accessToken);
    } catch (error) {
      if (isGatewayError(error) && error.code === "token_expired") {
        sessions.end(session.id);
        throw new GatewayError(
          "console_session_stale",
          "the console session expired: sign in again",
        );
      }
      throw error;
    }
    seen.set(c.req.raw, principal);
    deps.requireHumanConsole(principal);
    return { session, principal };
  }

  /** The form of a state change, after its CSRF token and Origin are checked. */
  async function changeForm(c: Context, session: ConsoleSession): Promise<URLSearchParams> {
    const origin = c.req.header("origin");
    if (origin !== undefined && origin !== options.origin) {
      throw new GatewayError("console_csrf_invalid", "the form was sent from another origin");
    }
    const form = new URLSearchParams(await c.req.text());
    if (!sameSecret(form.get("csrf") ?? "", session.csrf)) {
      throw new GatewayError("console_csrf_invalid", "the form token is not this session's");
    }
    return form;
  }

  function requestId(c: Context): string {
    const id = c.req.param("id") ?? "";
    if (!UUID.test(id)) throw new GatewayError("request_malformed", "an approval id is a UUID");
    return id;
  }

  function eligible(request: ApprovalRequest, principal: VerifiedPrincipal): boolean {
    const groups =
      request.status === "escalated"
        ? [...request.approver_groups, ...request.fallback_groups]
        : request.approver_groups;
    return principal.groups.some((g) => groups.includes(g));
  }

  function isRequester(request: ApprovalRequest, principal: VerifiedPrincipal): boolean {
    const email = principal.email?.toLowerCase();
    return (
      request.requester.subject === principal.subject ||
      (email !== undefined && request.requester.email?.toLowerCase() === email)
    );
  }

  function viewerOf(principal: VerifiedPrincipal) {
    return { email: principal.email ?? principal.subject, groups: principal.groups };
  }

  app.use(`${BASE}/*`, async (c: Context, next) => {
    securityHeaders(c);
    await next();
  });

  app.onError(async (error, c) => {
    const problem = asGatewayError(error);
    const principal = seen.get(c.req.raw);
    if (principal !== undefined) {
      await deps.refusals.refused(problem, principal, {
        door: "console",
        route: `${c.req.method} ${c.req.path.replace(/[0-9a-f-]{36}/, "{id}")}`,
        details: { path: c.req.path.slice(0, 256) },
      });
    }
    const signIn = [
      "console_session_missing",
      "console_session_stale",
      "console_sign_in_failed",
    ].includes(problem.code);
    securityHeaders(c);
    return c.html(
      messagePage(
        problem.status >= 500 ? "Unavailable" : "Refused",
        problem.message,
        problem.code,
        signIn,
      ),
      problem.status as 400,
    );
  });

  // Every form is bounded before it is read (413, request_body_too_large).
  app.on("POST", `${BASE}/*`, limitBody(CONSOLE_FORM_BYTES));
  app.get(`${BASE}/console.css`, (c) => {
    c.header("content-type", "text/css; charset=utf-8");
    c.header("cache-control", "public, max-age=300");
    return c.body(CONSOLE_CSS);
  });

  app.get(`${BASE}/login`, (c) => {
    const start = identity.start();
    const id = sessions.beginSignIn({
      state: start.state,
      nonce: start.nonce,
      verifier: start.verifier,
    });
    // Lax, not Strict: it must come back on the identity provider's redirect to the callback.
    setCookie(c, signInCookie, id, {
      httpOnly: true,
      secure: options.secure,
      sameSite: "Lax",
      path: "/console/callback",
      maxAge: 600,
    });
    return c.redirect(start.url, 303);
  });

  app.get(`${BASE}/callback`, async (c) => {
    const signIn = sessions.takeSignIn(getCookie(c, signInCookie), c.req.query("state"));
    deleteCookie(c, signInCookie, { path: "/console/callback", secure: options.secure });
    const code = c.req.query("code");
    if (code === undefined || code === "") {
      throw new GatewayError(
        "console_sign_in_failed",
        `the identity provider answered ${c.req.query("error") ?? "no code"}`,
      );
    }
    const signedIn = await identity.finish(code, signIn.verifier, signIn.nonce);
    const principal = await deps.accessTokens.verify(signedIn.accessToken);
    if (principal.subject !== signedIn.subject) {
      throw new GatewayError(
        "console_sign_in_failed",
        "the ID token and the access token disagree",
      );
    }
    seen.set(c.req.raw, principal);
    deps.requireHumanConsole(principal);
    const session = sessions.create(signedIn.accessToken, principal.subject);
    setCookie(c, cookieName, session.id, {
      httpOnly: true,
      secure: options.secure,
      sameSite: "Strict",
      path: cookiePath,
    });
    // A page, not a redirect: a Strict cookie is not sent on a redirect chain that began on
    // the identity provider's site; this same-site refresh sends it.
    return c.html(
      `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Signed in</title>
<meta http-equiv="refresh" content="0;url=/console/"></head><body><main><h1>Signed in</h1>
<p><a href="/console/">Continue to the requests</a></p></main></body></html>`,
    );
  });

  app.get(BASE, (c) => c.redirect(`${BASE}/`, 308));
  app.get(`${BASE}/`, async (c) => {
    const { session, principal } = await person(c);
    // A person the kill switch disables reads no requests, as on the REST route.
    deps.checkApprover(principal);
    const open = await deps.approvals.listAllOpen(LIST_SCAN);
    const mine = open
      .filter((r) => isOpen(r.status) && eligible(r, principal) && !isRequester(r, principal))
      .slice(0, LIST_LIMIT);
    return c.html(listPage(mine, viewerOf(principal), session.csrf));
  });

  app.get(`${BASE}/requests/:id`, async (c) => {
    const { session, principal } = await person(c);
    deps.checkApprover(principal);
    const request = await deps.approvals.get(requestId(c));
    if (request === undefined)
      throw new GatewayError("approval_not_found", "no such approval request");
    const reader = principal.groups.some((g) => readers.has(g));
    const approverGroups = [...request.approver_groups, ...request.fallback_groups];
    if (
      isRequester(request, principal) ||
      !(reader || principal.groups.some((g) => approverGroups.includes(g)))
    ) {
      throw new GatewayError(
        "approval_not_yours",
        "only this request's approvers may open it here",
      );
    }
    const [evidence, rules] = await Promise.all([
      requestEvidence(request, options.auditFiles),
      isOpen(request.status)
        ? securityGroupRules(request, deps.rules, principal.subject)
        : Promise.resolve({ kind: "none" } as const),
    ]);
    const notice = c.req.query("done");
    return c.html(
      detailPage({
        request,
        evidence,
        rules,
        viewer: viewerOf(principal),
        csrf: session.csrf,
        notice:
          notice === "approved"
            ? "Your approval is recorded."
            : notice === "denied"
              ? "Your denial is recorded."
              : undefined,
      }),
    );
  });

  app.post(`${BASE}/requests/:id/approve`, async (c) => {
    const { session, principal } = await person(c);
    await changeForm(c, session);
    const id = requestId(c);
    deps.checkApprover(principal);
    // The posture of the person's device now, from the device-trust service, verified.
    const posture = await deps.posture.verify(
      await identity.posture(session.accessToken),
      principal.subject,
    );
    deps.checkApproverDevice(posture);
    await deps.approvals.approve(id, approverAt(principal, deps.sourceOf?.(c)), posture.compliant);
    return c.redirect(`/console/requests/${id}?done=approved`, 303);
  });

  app.post(`${BASE}/requests/:id/deny`, async (c) => {
    const { session, principal } = await person(c);
    const form = await changeForm(c, session);
    const id = requestId(c);
    deps.checkApprover(principal);
    const reason = (form.get("reason") ?? "").trim();
    if (reason === "" || reason.length > 2_000) {
      throw new GatewayError("request_malformed", "give a reason of 1 to 2000 characters");
    }
    // Stopping a waiting call needs no device: a device-trust service that fails leaves the
    // device untrusted, never the denial refused (a post-hoc review's rejection, a write, is).
    const deviceTrusted = await identity
      .posture(session.accessToken)
      .then((token) => deps.posture.verify(token, principal.subject))
      .then(
        (posture) => trustedDevice(deps.checkApproverDevice, posture),
        () => false,
      );
    const approver = approverAt(principal, deps.sourceOf?.(c));
    const denied = await deps.approvals.deny(id, approver, reason, deviceTrusted);
    if (deps.afterDeny !== undefined) await deps.afterDeny(denied, principal);
    return c.redirect(`/console/requests/${id}?done=denied`, 303);
  });

  app.post(`${BASE}/logout`, async (c) => {
    const session = sessions.get(getCookie(c, cookieName));
    await changeForm(c, session);
    sessions.end(session.id);
    deleteCookie(c, cookieName, { path: cookiePath, secure: options.secure });
    return c.html(messagePage("Signed out", "You are signed out", "signed_out", true));
  });

  return app;
}
