// What the administrators' commands (killswitch.ts, taints.ts) share: the gateway's URL, the
// admin's tokens from options or the environment, and one request to an admin route that either
// answers JSON or says why not on stderr (the problem's code and detail, or the network error).
// Never throws for a refusal or an unreachable gateway: the caller exits 1. `runAdminCommand` is
// the whole command around a spec: options, usage errors (exit 2), the request, the printing.
import { parseArgs } from "node:util";

export interface AdminRequest {
  method: "GET" | "PUT" | "DELETE";
  path: string;
  body?: string;
}

export interface AdminCredentials {
  token: string;
  posture: string | undefined;
}

export function describe(error: unknown): string {
  if (error instanceof Error) {
    const cause = error.cause instanceof Error ? ` (${error.cause.message})` : "";
    return `${error.message}${cause}`;
  }
  return String(error);
}

/** The gateway's base URL, or why it is not one. */
export function gatewayUrl(value: string): URL | string {
  let gateway: URL;
  try {
    gateway = new URL(value);
  } catch {
    return `--gateway is not a URL: ${value}`;
  }
  if (gateway.protocol !== "http:" && gateway.protocol !== "https:") {
    return "--gateway must be an http or https URL";
  }
  return gateway;
}

/** --token / --posture, else $ZYX_ADMIN_TOKEN / $ZYX_ADMIN_POSTURE; a usage message without a token. */
export function adminCredentials(values: {
  token?: string | undefined;
  posture?: string | undefined;
}): AdminCredentials | string {
  const token = values.token ?? process.env["ZYX_ADMIN_TOKEN"];
  if (token === undefined || token === "") {
    return "no admin access token: pass --token or set ZYX_ADMIN_TOKEN";
  }
  return { token, posture: values.posture ?? process.env["ZYX_ADMIN_POSTURE"] };
}

/** Sends `request`; the JSON answer of a 2xx, or undefined after saying why on stderr. */
export async function sendAdminRequest(
  gateway: URL,
  request: AdminRequest,
  credentials: AdminCredentials,
): Promise<object | undefined> {
  const url = new URL(request.path, gateway);
  const headers: Record<string, string> = { authorization: `Bearer ${credentials.token}` };
  if (credentials.posture !== undefined && credentials.posture !== "") {
    headers["x-device-posture"] = credentials.posture;
  }
  if (request.body !== undefined) headers["content-type"] = "application/json";
  let response: Response;
  let text: string;
  try {
    response = await fetch(url, {
      method: request.method,
      headers,
      ...(request.body === undefined ? {} : { body: request.body }),
      signal: AbortSignal.timeout(15_000),
    });
    text = await response.text();
  } catch (error) {
    console.error(`cannot reach the gateway at ${url.origin}: ${describe(error)}`);
    return undefined;
  }
  let answer: unknown;
  try {
    answer = JSON.parse(text);
  } catch {
    answer = undefined;
  }
  if (!response.ok) {
    const problem = (answer ?? {}) as { code?: unknown; detail?: unknown };
    const detail = typeof problem.detail === "string" ? problem.detail : "";
    console.error(
      typeof problem.code === "string"
        ? `refused (${String(response.status)}): ${problem.code}: ${detail}`
        : `refused (${String(response.status)}): ${text.slice(0, 500)}`,
    );
    return undefined;
  }
  if (typeof answer !== "object" || answer === null) {
    console.error(`unexpected answer from ${url.href}: ${text.slice(0, 500)}`);
    return undefined;
  }
  return answer;
}

/** Option values as the admin commands read them (parseArgs, strings and booleans). */
export type AdminValues = Record<string, string | boolean | undefined>;

/** One admin command: its usage text, its own options, what to send, and how to print it. */
export interface AdminCommand {
  usage: string;
  options: Record<string, { type: "string" | "boolean" }>;
  /** What to send, or a usage error's message. */
  plan(command: string | undefined, args: string[], values: AdminValues): AdminRequest | string;
  /** Why an answer is not one this command understands (checked before any printing). */
  unexpected?(answer: object): string | undefined;
  /** Prints the answer (without --json). */
  print(answer: object, command: string | undefined, args: string[], values: AdminValues): void;
}

const COMMON_OPTIONS = {
  gateway: { type: "string", default: "http://127.0.0.1:8080" },
  token: { type: "string" },
  posture: { type: "string" },
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

/** Parses argv, checks the gateway and the tokens, sends, prints: the exit status (0, 1, 2). */
export async function runAdminCommand(argv: string[], spec: AdminCommand): Promise<number> {
  const usage = (message: string): number => {
    console.error(`${message}\n\n${spec.usage}`);
    return 2;
  };
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: { ...spec.options, ...COMMON_OPTIONS },
    });
  } catch (error) {
    return usage(describe(error));
  }
  const values = parsed.values as AdminValues & { gateway: string };
  if (values["help"] === true) {
    console.log(spec.usage);
    return 0;
  }
  const [command, ...args] = parsed.positionals;
  const gateway = gatewayUrl(values.gateway);
  if (typeof gateway === "string") return usage(gateway);
  const credentials = adminCredentials({
    token: values["token"] as string | undefined,
    posture: values["posture"] as string | undefined,
  });
  if (typeof credentials === "string") return usage(credentials);
  const planned = spec.plan(command, args, values);
  if (typeof planned === "string") return usage(planned);
  const answer = await sendAdminRequest(gateway, planned, credentials);
  if (answer === undefined) return 1;
  const unexpected = spec.unexpected?.(answer);
  if (unexpected !== undefined) {
    console.error(`unexpected answer from ${new URL(planned.path, gateway).href}: ${unexpected}`);
    return 1;
  }
  if (values["json"] === true) console.log(JSON.stringify(answer, null, 2));
  else spec.print(answer, command, args, values);
  return 0;
}
