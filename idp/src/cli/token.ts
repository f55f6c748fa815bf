// Mints a development token with the local identity provider's or device-trust service's key and
// prints it (one compact JWT on stdout, nothing else). Usage errors: message on stderr, exit 2.
//
//   npm run -s token -- access --user engineer@zyxbank.example --groups grp-ai-users --agent change-reviewer
//   npm run -s token -- posture --user engineer@zyxbank.example --compliant true
import { parseArgs } from "node:util";
import {
  DEV_ISSUER,
  DEV_POSTURE_ISSUER,
  GATEWAY_AUDIENCE,
  ensureDevKeys,
  readPrivateJwk,
  resolveStateDir,
} from "../../../common/keys.ts";
import { mintAccessToken, mintPostureToken } from "../mint.ts";

const USAGE = `usage:
  token access  --user <id> [--groups a,b] (--agent <id> | --no-agent)
                [--ttl <s>=900] [--not-before <s from now>] [--aud <aud>] [--iss <iss>] [--state-dir <dir>]
  token posture --user <id> [--compliant true|false] [--checked-at <epoch s> | --age <s ago>]
                [--device-id <id>] [--ttl <s>=600] [--aud <aud>] [--iss <iss>] [--state-dir <dir>]
Keys come from <state dir>/keys (created when absent); state dir default $ZYX_STATE_DIR or .state.`;

const OPTIONS = {
  user: { type: "string" },
  groups: { type: "string" },
  agent: { type: "string" },
  "no-agent": { type: "boolean" },
  ttl: { type: "string" },
  "not-before": { type: "string" },
  compliant: { type: "string" },
  "checked-at": { type: "string" },
  age: { type: "string" },
  "device-id": { type: "string" },
  aud: { type: "string" },
  iss: { type: "string" },
  "state-dir": { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

type Values = ReturnType<
  typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>
>["values"];

const ONLY_FOR: Record<string, "access" | "posture"> = {
  groups: "access",
  agent: "access",
  "no-agent": "access",
  "not-before": "access",
  compliant: "posture",
  "checked-at": "posture",
  age: "posture",
  "device-id": "posture",
};

class UsageError extends Error {}

function integer(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^-?\d+$/.test(value)) throw new UsageError(`--${name} must be an integer`);
  return Number(value);
}

function positive(name: string, value: string | undefined, fallback: number): number {
  const parsed = integer(name, value) ?? fallback;
  if (parsed <= 0) throw new UsageError(`--${name} must be positive`);
  return parsed;
}

async function access(values: Values, stateDir: string, now: number): Promise<string> {
  if (values.user === undefined) throw new UsageError("--user is required");
  if (values.agent !== undefined && values["no-agent"] === true) {
    throw new UsageError("--agent and --no-agent exclude each other");
  }
  if (values.agent === undefined && values["no-agent"] !== true) {
    throw new UsageError("--agent <id> is required (or --no-agent for a token without act)");
  }
  const groups = (values.groups ?? "")
    .split(",")
    .map((group) => group.trim())
    .filter((group) => group !== "");
  const notBefore = integer("not-before", values["not-before"]);
  const ttlSec = positive("ttl", values.ttl, 900);
  const keys = await ensureDevKeys(stateDir);
  return mintAccessToken({
    privateJwk: await readPrivateJwk(keys.signers.idp.privateJwk),
    issuer: values.iss ?? DEV_ISSUER,
    audience: values.aud ?? GATEWAY_AUDIENCE,
    user: values.user,
    groups,
    ...(values.agent === undefined ? {} : { agent: values.agent }),
    ttlSec,
    now,
    ...(notBefore === undefined ? {} : { notBefore: now + notBefore }),
  });
}

async function posture(values: Values, stateDir: string, now: number): Promise<string> {
  if (values.user === undefined) throw new UsageError("--user is required");
  const compliant = values.compliant ?? "true";
  if (compliant !== "true" && compliant !== "false") {
    throw new UsageError("--compliant must be true or false");
  }
  if (values["checked-at"] !== undefined && values.age !== undefined) {
    throw new UsageError("--checked-at and --age exclude each other");
  }
  const checkedAt = integer("checked-at", values["checked-at"]);
  const age = integer("age", values.age);
  if (checkedAt !== undefined && checkedAt < 0) throw new UsageError("--checked-at must be >= 0");
  if (age !== undefined && age < 0) throw new UsageError("--age must be >= 0");
  const ttlSec = positive("ttl", values.ttl, 600);
  const keys = await ensureDevKeys(stateDir);
  return mintPostureToken({
    privateJwk: await readPrivateJwk(keys.signers["device-trust"].privateJwk),
    issuer: values.iss ?? DEV_POSTURE_ISSUER,
    audience: values.aud ?? GATEWAY_AUDIENCE,
    user: values.user,
    compliant: compliant === "true",
    checkedAt: checkedAt ?? now - (age ?? 0),
    ttlSec,
    now,
    ...(values["device-id"] === undefined ? {} : { deviceId: values["device-id"] }),
  });
}

async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (error) {
    console.error(`${error instanceof Error ? error.message : String(error)}\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help === true) {
    console.log(USAGE);
    return 0;
  }
  const [kind, ...extra] = positionals;
  try {
    if (kind !== "access" && kind !== "posture") {
      throw new UsageError(kind === undefined ? "missing command" : `unknown command: ${kind}`);
    }
    if (extra.length > 0) throw new UsageError(`unexpected argument: ${extra.join(" ")}`);
    for (const [option, only] of Object.entries(ONLY_FOR)) {
      if (only !== kind && option in values) {
        throw new UsageError(`--${option} applies to "${only}" tokens only`);
      }
    }
    const stateDir = values["state-dir"] ?? resolveStateDir();
    const now = Math.floor(Date.now() / 1000);
    const token =
      kind === "access"
        ? await access(values, stateDir, now)
        : await posture(values, stateDir, now);
    process.stdout.write(`${token}\n`);
    return 0;
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(`${error.message}\n${USAGE}`);
      return 2;
    }
    console.error(`token: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
