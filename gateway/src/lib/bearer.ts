// A bearer token read from a file, as RFC 6750 allows it in an Authorization header (token68).
// Anything else (a second line, a space, a control character) is refused where the file is read,
// with a message that never repeats the token, rather than by fetch, whose error would quote the
// header it refused.

const TOKEN68 = /^[A-Za-z0-9\-._~+/]+=*$/;

/** Whether `token` is one bearer token (RFC 6750 token68). */
export function isBearerToken(token: string): boolean {
  return TOKEN68.test(token);
}
