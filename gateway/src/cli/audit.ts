// npm run audit -- verify <file>    check the hash chain; exit 0 intact, 1 broken, 2 bad usage
// npm run audit -- summary <file>   counts per event, outcome, tool; denials per reason code
import { parseArgs } from "node:util";
import type { AuditSummary } from "../audit/verify.ts";
import { summarizeAuditFile, verifyAuditFile } from "../audit/verify.ts";

const USAGE = `usage: npm run audit -- <command> <file> [--json]

commands:
  verify <file>    check the hash chain; names the first altered, removed, inserted or moved record
  summary <file>   records per event, outcome and tool, denials per reason code, and the chain status

exit status: 0 ok, 1 chain broken or file unreadable, 2 bad usage`;

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

async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: { json: { type: "boolean" }, help: { type: "boolean", short: "h" } },
    });
  } catch (error) {
    console.error(`${describe(error)}\n\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help === true) {
    console.log(USAGE);
    return 0;
  }
  const [command, file, ...extra] = positionals;
  if (file === undefined || extra.length > 0 || (command !== "verify" && command !== "summary")) {
    console.error(USAGE);
    return 2;
  }
  const json = values.json === true;

  try {
    const result = await verifyAuditFile(file);
    if (command === "verify") {
      if (json) console.log(JSON.stringify(result));
      if (!result.ok) {
        console.error(result.message);
        return 1;
      }
      if (!json) {
        console.log(
          `ok: ${String(result.records)} records, chain intact (last hash ${result.lastHash})`,
        );
      }
      return 0;
    }
    const summary = await summarizeAuditFile(file);
    if (json) {
      console.log(
        JSON.stringify({
          ...summary,
          events: Object.fromEntries(summary.events),
          outcomes: Object.fromEntries(summary.outcomes),
          tools: Object.fromEntries(summary.tools),
          denialsByReason: Object.fromEntries(summary.denialsByReason),
          chain: result,
        }),
      );
    } else {
      console.log(summaryLines(file, summary).join("\n"));
      console.log(
        result.ok
          ? `chain: intact (last hash ${result.lastHash})`
          : `chain: BROKEN: ${result.message}`,
      );
    }
    return result.ok ? 0 : 1;
  } catch (error) {
    console.error(`cannot read ${file}: ${describe(error)}`);
    return 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
