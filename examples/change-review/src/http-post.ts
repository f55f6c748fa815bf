// One POST and its JSON answer: how the runtime reaches the gateway (every tool call) and the
// identity provider (the token exchange). Two adapters of one contract
// (examples/change-review/test/http-post.test.ts runs it over both, on a real socket):
//   - undici's `request`, the default: no WHATWG Request, Response, Headers or stream objects per
//     call. The runtime is in the path of every call of a review, and fetch's layers cost about
//     three times its client CPU here (issue 18, measured side by side);
//   - any `fetch`, for tests and in-process apps (an app's own `fetch`).
// Invariants: the answer's body is always read to its end (the connection goes back to the pool)
// and given as parsed JSON, or undefined when it is not JSON; header names are case-insensitive;
// a redirect is not followed (its 3xx is the answer: the body holds tokens).
// Failure modes: no answer within `timeoutMs` rejects with an error named "TimeoutError" (the
// signal's reason, as fetch does); an unreachable server rejects with the client's own error.
import { request } from "undici";

export interface PostAnswer {
  status: number;
  /** A response header's value, or null. */
  header(name: string): string | null;
  /** The body parsed as JSON, or undefined if it is not JSON. */
  body: unknown;
}

export type PostJson = (
  url: string,
  headers: Readonly<Record<string, string>>,
  body: string,
  timeoutMs: number,
) => Promise<PostAnswer>;

async function parsed(read: () => Promise<unknown>): Promise<unknown> {
  try {
    return await read();
  } catch {
    return undefined;
  }
}

/** The default: undici's request on its global pool. */
export const postWithUndici: PostJson = async (url, headers, body, timeoutMs) => {
  const response = await request(url, {
    method: "POST",
    headers,
    body,
    signal: AbortSignal.timeout(timeoutMs),
  });
  const answer = await parsed(() => response.body.json());
  return {
    status: response.statusCode,
    header(name) {
      const value = response.headers[name.toLowerCase()];
      return Array.isArray(value) ? value.join(", ") : (value ?? null);
    },
    body: answer,
  };
};

/** Over a fetch function (tests, or an app served in process). */
export function postWithFetch(fetchImpl: typeof fetch): PostJson {
  return async (url, headers, body, timeoutMs) => {
    const response = await fetchImpl(url, {
      method: "POST",
      headers,
      body,
      // As undici's request: a redirect is an answer, never a second POST of the tokens elsewhere.
      redirect: "manual",
      signal: AbortSignal.timeout(timeoutMs),
    });
    const answer = await parsed(() => response.json());
    return { status: response.status, header: (name) => response.headers.get(name), body: answer };
  };
}
