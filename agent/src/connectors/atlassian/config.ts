// Reading an Atlassian site's configuration from the environment. Construction errors are plain
// Errors whose message names the variable at fault and never its value.

export interface AtlassianSite {
  /** Site root without a trailing slash, such as https://zyx-bank.atlassian.net */
  baseUrl: string;
  email: string;
  apiToken: string;
}
import { envValue } from "../env.ts";

export { envValue, readApiToken } from "../env.ts";

const LOOPBACK_HOSTS = new Set(["127.0.0.1", "localhost", "[::1]"]);

/**
 * Checks and normalises a site root URL: https (plain http only for a loopback test server:
 * Basic credentials never cross a network in clear), no user info, query or fragment, and no
 * trailing slash. `dropSuffix` removes a trailing path segment people often paste (Confluence's
 * "/wiki").
 */
export function normalizeBaseUrl(raw: string, variable: string, dropSuffix?: string): string {
  let url: URL;
  try {
    url = new URL(raw.trim());
  } catch {
    throw new Error(`${variable} is not a URL`);
  }
  const loopback = LOOPBACK_HOSTS.has(url.hostname);
  if (url.protocol !== "https:" && !(url.protocol === "http:" && loopback)) {
    throw new Error(
      `${variable} must be an https:// URL (http:// only for 127.0.0.1 or localhost)`,
    );
  }
  if (url.username !== "" || url.password !== "") {
    throw new Error(
      `${variable} must not carry credentials; use the email and API token variables`,
    );
  }
  if (url.search !== "" || url.hash !== "") {
    throw new Error(`${variable} must not have a query or a fragment`);
  }
  let path = url.pathname.replace(/\/+$/, "");
  if (dropSuffix !== undefined && path.endsWith(dropSuffix)) {
    path = path.slice(0, -dropSuffix.length);
  }
  return `${url.origin}${path}`;
}

/** A whole number from the environment within [min, max]; `fallback` when unset. */
export function integerFromEnv(
  env: NodeJS.ProcessEnv,
  name: string,
  fallback: number,
  min: number,
  max: number,
): number {
  const raw = envValue(env, name);
  if (raw === undefined) return fallback;
  if (!/^[0-9]{1,9}$/.test(raw)) throw new Error(`${name} must be a whole number`);
  const value = Number(raw);
  if (value < min || value > max) throw new Error(`${name} must be between ${min} and ${max}`);
  return value;
}

/** Whether a variable is set (non-blank): a sign that someone meant to configure it. */
export function isSet(env: NodeJS.ProcessEnv, ...names: string[]): boolean {
  return names.some((name) => envValue(env, name) !== undefined);
}
