// npm run audit -- verify [--keys <jwks>] [--allow-unsealed] [--expect-head <seq>[:<hash>]] <file>…
//                                   the hash chain, a head kept elsewhere, then the signed
//                                   checkpoints when a key set is given; each file alone
// npm run audit -- summary <file>   counts per event, outcome, tool; denials per reason code
// npm run audit -- replay --bundle <bundle.tar.gz> [--fail-on-change] <log>…
//                                   every decision re-evaluated with another policy bundle
// npm run audit -- session <session id> <log>…   the session's timeline
// npm run audit -- detect [--rules <dir>] <log>…  the Sigma rules of detections/ over the logs
// npm run audit -- keygen <private.jwk.json> <jwks.json>  a checkpoint key (kept if it exists)
// Every command takes --json. Exit status: 0 ok; 1 a broken chain or checkpoint, a changed
// decision under --fail-on-change, a detection that fired under --fail-on-match, or anything
// that could not be read or evaluated (fail closed); 2 bad usage. The forensic commands
// (replay, session, detect) verify each log's hash chain first: a broken one is named on stderr
// and fails the command (1), its results still printed for the investigator. They then read each
// log no further than the lines verified (a live log grows; its last line may be half written).
import { parseArgs } from "node:util";
import { verifyCheckpoints } from "../audit/checkpoint-verify.ts";
import { ensureCheckpointKey, readCheckpointKeys } from "../audit/checkpoint.ts";
import type { LogSource } from "../audit/records.ts";
import { replayDecisions } from "../audit/replay.ts";
import type { ReplayReport } from "../audit/replay.ts";
import { sessionTimeline } from "../audit/session.ts";
import type { SessionTimeline, TimelineCall } from "../audit/session.ts";
import { DEFAULT_RULES_DIR, loadRuleSet, runDetections } from "../audit/sigma-rules.ts";
import type { AuditSummary } from "../audit/verify.ts";
import { hashAt, summarizeAuditFile, verifyAuditFile } from "../audit/verify.ts";

const USAGE = `usage: npm run audit -- <command> [options] <file>… [--json]

commands:
  verify <file>…     check the hash chain; names the first altered, removed, inserted or moved record
      --keys <jwks>      also check the signed checkpoints against this public key set: a log cut
                         after its last checkpoint, a missing checkpoint, a re-chained log, a
                         checkpoint signed by an unknown key
      --allow-unsealed   a live log may end without its closing checkpoint
      --every-seconds <n>
                         the gateway's checkpoint timer (AUDIT_CHECKPOINT_SECONDS, default 60),
                         held against a log before its first checkpoint says its own
      --expect-head <seq>[:<hash>]
                         a head kept off this host (the gateway logs each checkpoint's seq and
                         hash, "audit checkpoint"): the log must reach that seq, with that hash;
                         the one check that shows a log cut back to an earlier checkpoint (one file)
  summary <file>     records per event, outcome and tool, denials per reason code, and the chain status
  replay --bundle <bundle.tar.gz> <log>…
                     re-evaluate every recorded decision with that bundle; report what changes
      --fail-on-change   exit 1 when any decision changes (a policy pull request's CI)
  session <session id> <log>…
                     the session's calls in order: decision, risk, approvals, outcome, evidence
  detect <log>…      run the Sigma rules (detections/rules) over the logs
      --rules <dir>      another rules folder
      --fail-on-match    exit 1 when any rule fires
  keygen <private.jwk.json> <jwks.json>
                     create the gateway's checkpoint key (0600) unless it exists, and write its
                     public key set for verifiers (GATEWAY_CHECKPOINT_KEY_FILE, verify --keys)

replay, session and detect check each log's hash chain first (and its signed checkpoints with
--keys <jwks>): a problem is named on stderr and the command exits 1, its results still printed.

exit status: 0 ok, 1 a problem found (or anything unreadable), 2 bad usage`;

type Values = Partial<
  Record<"json" | "allow-unsealed" | "fail-on-change" | "fail-on-match" | "help", boolean>
> &
  Partial<Record<"keys" | "bundle" | "rules" | "expect-head" | "every-seconds", string>>;

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function table(title: string, rows: [string, string | number][]): string[] {
  if (rows.length === 0) return [`${title}: none`];
  const width = Math.max(...rows.map(([key]) => key.length));
  return [`${title}:`, ...rows.map(([key, value]) => `  ${key.padEnd(width)}  ${String(value)}`)];
}

function byCount(map: Map<string, number>): [string, number][] {
  return [...map].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
}

function summaryLines(file: string, summary: AuditSummary): string[] {
  const span =
    summary.firstTimestamp === undefined
      ? ""
      : `, ${summary.firstTimestamp} .. ${summary.lastTimestamp ?? summary.firstTimestamp}`;
  const tools = [...summary.tools]
    .sort((a, b) => b[1].decisions - a[1].decisions || a[0].localeCompare(b[0]))
    .map(([tool, counts]): [string, string] => [
      tool,
      `${String(counts.decisions)} decisions (${String(counts.allowed)} allowed, ${String(counts.denied)} denied)`,
    ]);
  return [
    `${file}: ${String(summary.records)} records${span}` +
      (summary.malformed > 0 ? `, ${String(summary.malformed)} malformed lines` : ""),
    ...table("events", byCount(summary.events)),
    ...table("outcomes", byCount(summary.outcomes)),
    ...table("tools", tools),
    ...table("denials by reason", byCount(summary.denialsByReason)),
  ];
}

interface ExpectedHead {
  seq: number;
  hash: string | undefined;
}

/** `--every-seconds` as verifyCheckpoints takes it (checked in main: a positive integer). */
function everySeconds(values: Values): { everySeconds?: number } {
  const text = values["every-seconds"];
  return text === undefined ? {} : { everySeconds: Number(text) };
}

/** `<seq>[:<hash>]`, or undefined when it is not one. */
function parseHead(text: string): ExpectedHead | undefined {
  const match = /^([1-9][0-9]{0,15})(?::([0-9a-f]{64}))?$/.exec(text);
  if (match === null) return undefined;
  return { seq: Number(match[1]), hash: match[2] };
}

/** A chain-verified log against a head kept elsewhere: cut before it, or another record there. */
async function headProblem(
  file: string,
  records: number,
  expected: ExpectedHead,
): Promise<{ code: string; message: string } | undefined> {
  if (records < expected.seq) {
    return {
      code: "log_truncated",
      message: `the log ends at seq ${String(records)}, before the head seq ${String(expected.seq)} kept elsewhere: records were cut`,
    };
  }
  if (expected.hash === undefined) return undefined;
  const hash = await hashAt(file, expected.seq);
  if (hash === expected.hash) return undefined;
  return {
    code: "head_mismatch",
    message: `seq ${String(expected.seq)} has hash ${(hash ?? "none").slice(0, 12)}…, not ${expected.hash.slice(0, 12)}… as kept elsewhere: the log was rewritten`,
  };
}

async function verifyOne(
  file: string,
  values: Values,
  prefix: string,
  expected: ExpectedHead | undefined,
): Promise<{ ok: boolean; json: unknown }> {
  const chain = await verifyAuditFile(file);
  if (!chain.ok) {
    console.error(`${prefix}${chain.message}`);
    return { ok: false, json: { file, ...chain } };
  }
  const head =
    expected === undefined ? undefined : await headProblem(file, chain.records, expected);
  if (head !== undefined) {
    if (values.json !== true) console.error(`${prefix}${head.code}: ${head.message}`);
    return { ok: false, json: { file, ...chain, ok: false, head } };
  }
  // In the text, "records" are the audit records; checkpoints are counted on their own.
  const sealed = chain.checkpoints ?? 0;
  const records = `${String(chain.records - sealed)} records, chain intact`;
  if (values.keys === undefined) {
    if (values.json !== true) {
      const unchecked =
        sealed === 0 ? "" : `, ${String(sealed)} checkpoint(s) not checked (no --keys)`;
      console.log(`${prefix}ok: ${records}${unchecked} (last hash ${chain.lastHash})`);
    }
    return { ok: true, json: { file, ...chain } };
  }
  const keys = await readCheckpointKeys(values.keys);
  const report = await verifyCheckpoints(file, {
    keys,
    allowUnsealed: values["allow-unsealed"] === true,
    ...everySeconds(values),
    lines: chain.records,
  });
  if (values.json !== true) {
    for (const note of report.notes) console.log(`${prefix}note: ${note}`);
    for (const problem of report.problems)
      console.error(`${prefix}${problem.code}: ${problem.message}`);
    if (report.ok) {
      console.log(
        `${prefix}ok: ${records}, ${String(report.checkpoints)} checkpoint(s) ` +
          `signed by ${report.keyIds.join(", ") || "no key"} (last hash ${chain.lastHash})`,
      );
    }
  }
  return { ok: report.ok, json: { file, ...chain, ok: report.ok, checkpoints: report } };
}

async function verify(files: string[], values: Values): Promise<number> {
  const headText = values["expect-head"];
  const expected = headText === undefined ? undefined : parseHead(headText);
  if (headText !== undefined && (expected === undefined || files.length !== 1)) {
    console.error(`--expect-head takes <seq>[:<64 hex>] and one file\n\n${USAGE}`);
    return 2;
  }
  let ok = true;
  const results: unknown[] = [];
  for (const file of files) {
    const prefix = files.length > 1 ? `${file}: ` : "";
    try {
      const result = await verifyOne(file, values, prefix, expected);
      ok &&= result.ok;
      results.push(result.json);
    } catch (error) {
      console.error(`cannot read ${file}: ${describe(error)}`);
      ok = false;
      results.push({ file, ok: false, error: describe(error) });
    }
  }
  if (values.json === true) console.log(JSON.stringify(files.length === 1 ? results[0] : results));
  return ok ? 0 : 1;
}

async function summary(file: string, values: Values): Promise<number> {
  const result = await verifyAuditFile(file);
  const counts = await summarizeAuditFile(file);
  if (values.json === true) {
    console.log(
      JSON.stringify({
        ...counts,
        events: Object.fromEntries(counts.events),
        outcomes: Object.fromEntries(counts.outcomes),
        tools: Object.fromEntries(counts.tools),
        denialsByReason: Object.fromEntries(counts.denialsByReason),
        chain: result,
      }),
    );
  } else {
    console.log(summaryLines(file, counts).join("\n"));
    console.log(
      result.ok
        ? `chain: intact (last hash ${result.lastHash})`
        : `chain: BROKEN: ${result.message}`,
    );
  }
  return result.ok ? 0 : 1;
}

function replayLines(report: ReplayReport): string[] {
  const lines = [
    `replay with ${report.bundle} (revision ${report.revision}); recorded under ${report.recorded_revisions.join(", ") || "no revision"}`,
    `${String(report.decisions)} decisions: ${String(report.replayed)} replayed, ${String(report.unchanged)} unchanged, ` +
      `${String(report.changed)} changed, ${String(report.errors.length)} error(s), ` +
      `${String(report.skipped.no_input + report.skipped.recorded_error)} skipped`,
  ];
  for (const group of report.groups) {
    lines.push(`  ${String(group.count)} × ${group.tool}: ${group.from} → ${group.to}`);
    lines.push(`      ${group.decision_ids.join(" ")}`);
  }
  for (const error of report.errors)
    lines.push(`  error ${error.decision_id ?? "?"}: ${error.code} ${error.message}`);
  if (report.masked_inputs > 0) {
    lines.push(
      `note: ${String(report.masked_inputs)} input(s) carried masked values; their replay may differ for that reason`,
    );
  }
  for (const note of report.notes) lines.push(`note: ${note}`);
  return lines;
}

/**
 * Forensics rest on the records: each log's hash chain, checked first, and with `--keys` its
 * signed checkpoints too (a live log may be unsealed: the gateway may be running). Each problem
 * is named on stderr (what follows may rest on altered, inserted or removed records). Without
 * --keys the chain alone: a log re-chained by someone who rewrote it still passes.
 *
 * `sources` are what the forensic step reads: each log up to the end of the lines verified here,
 * so that records appended meanwhile are never read unverified, and a live log's last line,
 * half written when it was read, is left out with a note rather than failing the command.
 */
async function verifiedSources(
  files: readonly string[],
  values: Values,
): Promise<{ intact: boolean; sources: LogSource[] }> {
  let intact = true;
  const sources: LogSource[] = [];
  const keys = values.keys === undefined ? undefined : await readCheckpointKeys(values.keys);
  const altered = "the results rest on records that may have been altered";
  // Each replica keeps its own chain: one whose first record is another file's is the same log
  // again (a copy, a backup, a file given twice), and its records would be counted twice.
  const chains = new Map<string, string>();
  for (const file of files) {
    const chain = await verifyAuditFile(file, { live: true });
    if (!chain.ok) {
      intact = false;
      console.error(`${file}: chain broken: ${chain.message}: ${altered}`);
      sources.push(file);
      continue;
    }
    const first = chain.records > 0 ? await hashAt(file, 1) : undefined;
    const same = first === undefined ? undefined : chains.get(first);
    if (same !== undefined) {
      intact = false;
      console.error(
        `${file}: the same chain as ${same} (a copy of that log, or the file given twice): not read again`,
      );
      continue;
    }
    if (first !== undefined) chains.set(first, file);
    sources.push({ file, bytes: chain.bytes });
    if (chain.unterminated !== undefined) {
      console.error(
        `${file}: note: line ${String(chain.unterminated.line)} has no newline yet (a write in progress, or cut short): not read`,
      );
    }
    if (keys === undefined) continue;
    const report = await verifyCheckpoints(file, {
      keys,
      allowUnsealed: true,
      ...everySeconds(values),
      lines: chain.records,
    });
    for (const problem of report.problems) {
      intact = false;
      console.error(`${file}: ${problem.code}: ${problem.message}: ${altered}`);
    }
  }
  return { intact, sources };
}

async function replay(files: string[], values: Values): Promise<number> {
  if (values.bundle === undefined) {
    console.error(`replay needs --bundle <bundle.tar.gz>\n\n${USAGE}`);
    return 2;
  }
  const { intact, sources } = await verifiedSources(files, values);
  const report = await replayDecisions(values.bundle, sources);
  if (values.json === true) console.log(JSON.stringify(report));
  else console.log(replayLines(report).join("\n"));
  if (!intact || report.errors.length > 0) return 1;
  return values["fail-on-change"] === true && report.changed > 0 ? 1 : 0;
}

function callLines(index: number, call: TimelineCall): string[] {
  const decision =
    call.decision === undefined
      ? "no decision"
      : call.decision.allow
        ? "allow"
        : `deny [${call.decision.reasons.map((r) => r.code).join(", ")}]`;
  const outcome = call.outcomes
    .map(
      (o) =>
        `${o.status}${o.code === undefined ? "" : ` ${o.code}`}${o.http_status === undefined ? "" : ` ${String(o.http_status)}`}`,
    )
    .join(" → ");
  const lines = [
    `${String(index + 1)}. ${call.timestamp ?? "?"}  ${call.tool ?? "?"}  ${decision}` +
      (call.risk_score === undefined ? "" : `  risk ${String(call.risk_score)}`) +
      `  ${outcome || "no outcome"}`,
    `   decision ${call.decision_id ?? "?"}, trace ${call.trace_id ?? "?"}, agent ${call.agent ?? "?"}, user ${call.user ?? "?"}`,
    `   arguments ${JSON.stringify(call.arguments ?? null)}`,
  ];
  for (const a of call.approvals) {
    lines.push(
      `   approval ${a.timestamp ?? "?"} ${a.action ?? "?"} by ${a.actor ?? "?"}: ${a.result ?? "?"}${a.code === undefined ? "" : ` (${a.code})`} → ${a.status ?? "?"}`,
    );
  }
  if (call.result_digest !== undefined) lines.push(`   result digest ${call.result_digest}`);
  if (call.evidence !== undefined) lines.push(`   evidence ${JSON.stringify(call.evidence)}`);
  if (call.model !== undefined || call.decision_trace !== undefined) {
    lines.push(
      `   model ${call.model ?? "?"}, decision trace ${JSON.stringify(call.decision_trace ?? null)}`,
    );
  }
  return lines;
}

function sessionLines(timeline: SessionTimeline): string[] {
  if (timeline.calls.length === 0) return [`session ${timeline.session_id}: no records`];
  return [
    `session ${timeline.session_id}: ${String(timeline.calls.length)} call(s), ${timeline.first ?? "?"} .. ${timeline.last ?? "?"}`,
    ...timeline.calls.flatMap((call, index) => callLines(index, call)),
  ];
}

async function session(id: string, files: string[], values: Values): Promise<number> {
  const { intact, sources } = await verifiedSources(files, values);
  const timeline = await sessionTimeline(id, sources);
  if (values.json === true) console.log(JSON.stringify(timeline));
  else console.log(sessionLines(timeline).join("\n"));
  return intact ? 0 : 1;
}

async function detect(files: string[], values: Values): Promise<number> {
  const { intact, sources } = await verifiedSources(files, values);
  const rules = await loadRuleSet(values.rules ?? DEFAULT_RULES_DIR);
  const matches = await runDetections(rules, sources);
  if (values.json === true) console.log(JSON.stringify(matches));
  else {
    console.log(
      `${String(rules.rules.length)} rule(s) over ${String(files.length)} log(s): ${String(matches.length)} rule(s) fired`,
    );
    for (const m of matches) {
      console.log(`  [${m.level}] ${m.title} (${m.id}): ${String(m.hits.length)} hit(s)`);
      for (const hit of m.hits.slice(0, 5)) console.log(`      ${hit.summary}`);
    }
  }
  if (!intact) return 1;
  return values["fail-on-match"] === true && matches.length > 0 ? 1 : 0;
}

function parse(argv: string[]): { values: Values; positionals: string[] } | undefined {
  try {
    return parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        json: { type: "boolean" },
        help: { type: "boolean", short: "h" },
        keys: { type: "string" },
        "allow-unsealed": { type: "boolean" },
        "expect-head": { type: "string" },
        "every-seconds": { type: "string" },
        bundle: { type: "string" },
        "fail-on-change": { type: "boolean" },
        rules: { type: "string" },
        "fail-on-match": { type: "boolean" },
      },
    });
  } catch (error) {
    console.error(`${describe(error)}\n\n${USAGE}`);
    return undefined;
  }
}

async function main(argv: string[]): Promise<number> {
  const parsed = parse(argv);
  if (parsed === undefined) return 2;
  const { values, positionals } = parsed;
  if (values.help === true) {
    console.log(USAGE);
    return 0;
  }
  const every = values["every-seconds"];
  if (every !== undefined && !/^[1-9][0-9]{0,5}$/.test(every)) {
    console.error(`--every-seconds takes a whole number of seconds\n\n${USAGE}`);
    return 2;
  }
  const [command, ...rest] = positionals;
  try {
    if (command === "verify" && rest.length > 0) return await verify(rest, values);
    if (command === "summary" && rest.length === 1 && rest[0] !== undefined)
      return await summary(rest[0], values);
    if (command === "replay" && rest.length > 0) return await replay(rest, values);
    const [id, ...logs] = rest;
    if (command === "session" && id !== undefined && logs.length > 0)
      return await session(id, logs, values);
    if (command === "detect" && rest.length > 0) return await detect(rest, values);
    if (command === "keygen" && id !== undefined && logs.length === 1 && logs[0] !== undefined) {
      const signer = await ensureCheckpointKey(id, logs[0]);
      console.log(`checkpoint key ${signer.kid}: private ${id}, public key set ${logs[0]}`);
      return 0;
    }
  } catch (error) {
    console.error(`${command ?? "audit"}: ${describe(error)}`);
    return 1;
  }
  console.error(USAGE);
  return 2;
}

process.exitCode = await main(process.argv.slice(2));
