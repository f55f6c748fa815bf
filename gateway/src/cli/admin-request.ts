// What the administrators' commands (killswitch.ts, taints.ts) share: the gateway's URL, the
// admin's tokens from options or the environment, and one request to an admin route that either
// answers JSON or says why not on stderr (the problem's code and detail, or the network error).
// Never throws for a refusal or an unreachable gateway: the caller exits 1.

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
): Promise<unknown> {
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
