// The approver console's HTML: server-rendered, no script at all (the Content-Security-Policy
// forbids any), one stylesheet from /console/console.css. Every value from a request, a token or
// the audit log is escaped here; nothing is inserted unescaped but this file's own markup.
// Arguments wrap (white-space: break-spaces): a value padded with spaces cannot push its tail out
// of sight to the right; every space takes room. Accessible: landmarks, one h1 per page, labelled
// controls, tables with headers and captions, status in words (never colour alone), role="alert"
// for errors.
import { escapeHtml as escapeText } from "../../../common/html.ts";
import { isOpen, type ApprovalRequest } from "../approvals/request.ts";
import type { RequestEvidence, RulesView, Rule } from "./evidence.ts";

/** JSON text of a value; "" for undefined (which JSON cannot write). */
function jsonText(value: unknown): string {
  return value === undefined ? "" : JSON.stringify(value, null, 2);
}

/**
 * Characters that reorder or hide text (bidi embeddings, overrides and isolates, zero-width and
 * other format characters, Unicode tags, variation selectors): shown as \u{...} escapes so an
 * approver sees them, never applied by the browser.
 */
const HIDDEN = /[\p{Cf}\p{Variation_Selector}\u{E0000}-\u{E007F}\u115F\u1160\u3164\uFFA0]/gu;

export function revealHidden(text: string): string {
  return text.replace(
    HIDDEN,
    (ch) => `\\u{${(ch.codePointAt(0) ?? 0).toString(16).toUpperCase()}}`,
  );
}

/** A value as escaped HTML text (anything not a string as indented JSON). */
export function escapeHtml(value: unknown): string {
  return escapeText(revealHidden(typeof value === "string" ? value : jsonText(value)));
}

export interface Viewer {
  email: string;
  groups: readonly string[];
}

export function layout(
  title: string,
  body: string,
  viewer?: Viewer,
  options: { refreshSeconds?: number; csrf?: string } = {},
): string {
  const refresh =
    options.refreshSeconds === undefined
      ? ""
      : `<meta http-equiv="refresh" content="${String(options.refreshSeconds)}">`;
  const who =
    viewer === undefined
      ? ""
      : `<p class="who">Signed in as <strong>${escapeHtml(viewer.email)}</strong>
(${escapeHtml(viewer.groups.join(", "))})</p>
<form method="post" action="/console/logout"><input type="hidden" name="csrf" value="${escapeHtml(options.csrf ?? "")}">
<button type="submit">Sign out</button></form>`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)} · ZYX approver console</title>
<meta name="viewport" content="width=device-width, initial-scale=1">${refresh}
<link rel="stylesheet" href="/console/console.css"></head>
<body><header><p class="brand"><a href="/console/">ZYX approver console</a></p>${who}</header>
<main id="main">${body}</main></body></html>`;
}

function statusText(request: ApprovalRequest): string {
  const approvals = `${String(request.approvals.length)} of ${String(request.approvers_required)} approvals`;
  if (request.status === "escalated")
    return `Escalated to ${request.fallback_groups.join(", ")} (${approvals})`;
  if (request.status === "pending") return `Waiting for approvers (${approvals})`;
  return request.status.charAt(0).toUpperCase() + request.status.slice(1);
}

export function listPage(
  requests: readonly ApprovalRequest[],
  viewer: Viewer,
  csrf: string,
): string {
  const rows = requests
    .map(
      (r) => `<tr><td><a href="/console/requests/${escapeHtml(r.id)}">${escapeHtml(r.tool)}</a></td>
<td>${escapeHtml(r.requester.email ?? r.requester.subject)}</td><td>${escapeHtml(r.agent)}</td>
<td>${String(r.risk_score)}</td><td>${escapeHtml(statusText(r))}</td>
<td><time datetime="${escapeHtml(r.expires_at)}">${escapeHtml(r.expires_at)}</time></td></tr>`,
    )
    .join("\n");
  const table =
    requests.length === 0
      ? "<p>No request waits for you.</p>"
      : `<table><caption>Requests you may decide (never your own)</caption>
<thead><tr><th scope="col">Tool</th><th scope="col">Requester</th><th scope="col">Agent</th>
<th scope="col">Risk</th><th scope="col">Status</th><th scope="col">Escalates or expires</th></tr></thead>
<tbody>${rows}</tbody></table>`;
  return layout("Requests", `<h1>Requests waiting for you</h1>${table}`, viewer, {
    refreshSeconds: 15,
    csrf,
  });
}

function definition(term: string, value: string): string {
  return `<dt>${escapeHtml(term)}</dt><dd>${value}</dd>`;
}

function ruleRows(rules: readonly Rule[], change: Rule & { action: string }, side: string): string {
  const same = (r: Rule): boolean =>
    r.protocol === change.protocol && r.port_range === change.port_range && r.cidr === change.cidr;
  if (rules.length === 0) return `<tr><td colspan="4">No ingress rule</td></tr>`;
  return rules
    .map((r) => {
      const mark = same(r) ? (side === "before" ? "removed" : "added") : "";
      const label =
        same(r) && change.action === (side === "before" ? "revoke_ingress" : "authorize_ingress")
          ? mark
          : "";
      return `<tr${label === "" ? "" : ` class="${label}"`}><td>${escapeHtml(r.protocol)}</td><td>${escapeHtml(r.port_range)}</td>
<td>${escapeHtml(r.cidr)}</td><td>${escapeHtml(r.description ?? "")}${label === "" ? "" : ` <strong>(${label})</strong>`}</td></tr>`;
    })
    .join("\n");
}

function rulesSection(view: RulesView): string {
  if (view.kind === "none") return "";
  if (view.kind === "unavailable") {
    return `<section aria-labelledby="rules-h"><h2 id="rules-h">Security-group rules</h2>
<p role="alert">The current rules could not be read through the worker: ${escapeHtml(view.detail)}</p></section>`;
  }
  const table = (side: "before" | "after", rules: readonly Rule[]): string =>
    `<table id="rules-${side}"><caption>${side === "before" ? "Now (read through the worker)" : "After the change"}</caption>
<thead><tr><th scope="col">Protocol</th><th scope="col">Ports</th><th scope="col">Source</th><th scope="col">Description</th></tr></thead>
<tbody>${ruleRows(rules, view.change, side)}</tbody></table>`;
  return `<section aria-labelledby="rules-h"><h2 id="rules-h">Security-group rules of ${escapeHtml(view.groupName)}</h2>
<p>Change: <strong>${escapeHtml(view.change.action)}</strong> ${escapeHtml(view.change.protocol)}
${escapeHtml(view.change.port_range)} from ${escapeHtml(view.change.cidr)}</p>
<div class="rules">${table("before", view.before)}${table("after", view.after)}</div></section>`;
}

function decisionSection(evidence: RequestEvidence): string {
  const d = evidence.decision;
  if (d === undefined) {
    return `<section aria-labelledby="decision-h"><h2 id="decision-h">The decision</h2>
<p>${evidence.available ? "No decision record found in the audit log." : "The audit log could not be read."}</p></section>`;
  }
  const reasons = d.reasons
    .map((r) => `<li><code>${escapeHtml(r.code)}</code>: ${escapeHtml(r.message)}</li>`)
    .join("");
  const factors = d.factors
    .map((f) => `<li>${escapeHtml(f.factor)}: ${String(f.points)}</li>`)
    .join("");
  return `<section aria-labelledby="decision-h"><h2 id="decision-h">The decision</h2>
<dl>${definition("Risk band", escapeHtml(d.riskBand ?? "unknown"))}
${definition("Risk factors", factors === "" ? "none recorded" : `<ul>${factors}</ul>`)}
${definition("Reasons", reasons === "" ? "none" : `<ul>${reasons}</ul>`)}
${definition("Model", escapeHtml(d.model ?? "not given"))}
${definition("Agent's decision trace", d.decisionTrace === undefined ? "not given" : `<pre>${escapeHtml(d.decisionTrace)}</pre>`)}</dl></section>`;
}

function sessionSection(evidence: RequestEvidence): string {
  if (evidence.before.length === 0) {
    return `<section aria-labelledby="session-h"><h2 id="session-h">What the session did before</h2><p>Nothing recorded before this call.</p></section>`;
  }
  const rows = evidence.before
    .map((r) => {
      const flags = [
        r.injectionSuspected
          ? `prompt injection suspected (${r.injectionIndicators.join(", ")})`
          : "",
        r.sessionTainted ? "session tainted" : "",
        typeof r.redactions === "number" && r.redactions > 0
          ? `${String(r.redactions)} secret(s) redacted`
          : "",
      ].filter((f) => f !== "");
      return `<tr${r.injectionSuspected ? ' class="flagged"' : ""}><td>${escapeHtml(r.timestamp ?? "")}</td><td>${escapeHtml(r.tool ?? "")}</td>
<td><code>${escapeHtml(r.arguments)}</code></td><td>${escapeHtml(r.outcome ?? "")}</td>
<td>${flags.length === 0 ? "none" : `<strong>${escapeHtml(flags.join("; "))}</strong>`}</td></tr>`;
    })
    .join("\n");
  return `<section aria-labelledby="session-h"><h2 id="session-h">What the session did before</h2>
<table><caption>Earlier calls of this agent in the session, from the audit log</caption>
<thead><tr><th scope="col">When</th><th scope="col">Tool</th><th scope="col">Arguments</th><th scope="col">Outcome</th><th scope="col">Warnings</th></tr></thead>
<tbody>${rows}</tbody></table></section>`;
}

function decideSection(request: ApprovalRequest, csrf: string): string {
  if (!isOpen(request.status)) return "";
  const base = `/console/requests/${escapeHtml(request.id)}`;
  return `<section aria-labelledby="decide-h"><h2 id="decide-h">Your decision</h2>
<form method="post" action="${base}/approve"><input type="hidden" name="csrf" value="${escapeHtml(csrf)}">
<button type="submit" id="approve">Approve this exact call</button></form>
<form method="post" action="${base}/deny"><input type="hidden" name="csrf" value="${escapeHtml(csrf)}">
<p><label for="reason">Reason for denying</label><br><textarea id="reason" name="reason" rows="3" cols="60" required maxlength="2000"></textarea></p>
<button type="submit" id="deny">Deny</button></form></section>`;
}

export interface DetailPage {
  request: ApprovalRequest;
  evidence: RequestEvidence;
  rules: RulesView;
  viewer: Viewer;
  csrf: string;
  notice?: string | undefined;
}

export function detailPage(page: DetailPage): string {
  const { request: r } = page;
  const approvals = r.approvals
    .map((a) => `<li>${escapeHtml(a.email ?? a.subject)} at ${escapeHtml(a.at)}</li>`)
    .join("");
  const notice =
    page.notice === undefined
      ? ""
      : `<p role="status" class="notice">${escapeHtml(page.notice)}</p>`;
  const body = `<h1>${escapeHtml(r.tool)} for ${escapeHtml(r.requester.email ?? r.requester.subject)}</h1>${notice}
<p id="status" role="status">Status: <strong>${escapeHtml(statusText(r))}</strong></p>
<section aria-labelledby="call-h"><h2 id="call-h">The call</h2><dl>
${definition("Tool", `<code>${escapeHtml(r.tool)}</code>`)}
${definition("Requester", escapeHtml(`${r.requester.email ?? r.requester.subject} (${r.requester.groups.join(", ")})`))}
${definition("Acting agent", escapeHtml(r.agent))}
${definition("Session", `<code>${escapeHtml(r.session_id)}</code>`)}
${definition("Risk score", `${String(r.risk_score)} of 10`)}
${definition("Approvers", escapeHtml(`${String(r.approvers_required)} from ${r.approver_groups.join(", ")}; then ${r.fallback_groups.join(", ") || "nobody"}`))}
${definition("Approvals so far", approvals === "" ? "none" : `<ul>${approvals}</ul>`)}
${r.denial === undefined ? "" : definition("Denied", escapeHtml(`${r.denial.subject}: ${r.denial.reason}`))}
${definition("Created", escapeHtml(r.created_at))}
${definition(r.status === "escalated" ? "Expires" : "Escalates", `<time datetime="${escapeHtml(r.expires_at)}">${escapeHtml(r.expires_at)}</time>`)}
${r.escalated_at === undefined ? "" : definition("Escalated", escapeHtml(r.escalated_at))}
${definition("Arguments digest", `<code id="digest">${escapeHtml(r.arguments_digest)}</code>`)}
${definition("Exact arguments", `<pre id="arguments">${escapeHtml(r.arguments)}</pre>`)}
</dl></section>
${rulesSection(page.rules)}${decisionSection(page.evidence)}${sessionSection(page.evidence)}${decideSection(r, page.csrf)}`;
  return layout(r.tool, body, page.viewer, {
    ...(isOpen(r.status) ? { refreshSeconds: 10 } : {}),
    csrf: page.csrf,
  });
}

export function messagePage(title: string, message: string, code: string, signIn: boolean): string {
  return layout(
    title,
    `<h1>${escapeHtml(title)}</h1><p role="alert">${escapeHtml(message)} (<code>${escapeHtml(code)}</code>)</p>
${signIn ? '<p><a href="/console/login">Sign in</a></p>' : '<p><a href="/console/">Back to the requests</a></p>'}`,
  );
}

export const CONSOLE_CSS = `body{font-family:system-ui,sans-serif;margin:0;color:#1a1a1a;background:#fafafa}
header{display:flex;gap:1rem;align-items:center;justify-content:space-between;padding:.5rem 1rem;background:#0b3d6b;color:#fff}
header a{color:#fff}header form{margin:0}main{padding:1rem 2rem;max-width:80rem}
table{border-collapse:collapse;margin:.5rem 0 1rem}th,td{border:1px solid #bbb;padding:.3rem .6rem;text-align:left;vertical-align:top}
caption{text-align:left;font-weight:600;padding:.3rem 0}dt{font-weight:600;margin-top:.4rem}dd{margin-left:1rem}
pre{background:#eee;padding:.5rem;overflow:auto;max-width:70rem;white-space:break-spaces;overflow-wrap:anywhere}.rules{display:flex;gap:2rem;flex-wrap:wrap}
tr.removed{background:#fde2e2}tr.added{background:#e1f5e1}tr.flagged{background:#fff3cd}
button{font-size:1rem;padding:.4rem 1rem;margin:.3rem 0}#approve{background:#1d6b2a;color:#fff}#deny{background:#8a1c1c;color:#fff}
.notice{background:#e7f0fa;padding:.5rem}:focus{outline:3px solid #f5a623}`;
