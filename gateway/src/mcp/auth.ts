// The MCP door as an OAuth 2.1 resource server (MCP authorization; RFC 9728, RFC 8707, RFC 6750).
//
// - Protected Resource Metadata (RFC 9728) at /.well-known/oauth-protected-resource/mcp (the
//   resource is the MCP endpoint's URI) and at /.well-known/oauth-protected-resource (the
//   resource is the gateway's origin), naming the identity provider as authorization server.
// - Every request to /mcp is authenticated before the MCP layer sees it: the same access-token
//   and posture verification as the REST door. Refused → 401 problem document whose
//   WWW-Authenticate names the metadata: `Bearer resource_metadata="…"` (and error=
//   "invalid_token" with a description unless the token was simply missing).
// - Audience (RFC 8707): a token for the REST audience or for the MCP resource URI is accepted,
//   nothing else. The resource verifier is tried only when the REST one refused the token as
//   invalid (an expired or unreachable-key failure is final), and its refusal is the answer.
import type { AccessTokenVerifier } from "../identity/types.ts";
import type { GatewayError } from "../lib/errors.ts";
import { challengeDescription } from "../../../common/challenge.ts";
import { problemResponse } from "../lib/problem.ts";

export const MCP_PATH = "/mcp";
export const PRM_PATH = "/.well-known/oauth-protected-resource";
export const PRM_MCP_PATH = `${PRM_PATH}${MCP_PATH}`;

export interface McpDoorOptions {
  /**
   * The MCP endpoint's absolute URI, its RFC 8707 resource identifier (also an accepted
   * audience when `resourceAccessTokens` is given). Default: the request's origin + /mcp.
   */
  resource?: string;
  /** The authorization servers (issuer URLs) that the metadata names. */
  authorizationServers?: readonly string[];
  /** Verifies access tokens whose audience is `resource` (same issuer, keys, algorithms). */
  resourceAccessTokens?: AccessTokenVerifier;
}

/** Accepts a token for the REST audience or, failing that as invalid, for the MCP resource. */
export function eitherAudience(
  rest: AccessTokenVerifier,
  resource: AccessTokenVerifier | undefined,
): AccessTokenVerifier {
  if (resource === undefined) return rest;
  return {
    verify: async (token) => {
      try {
        return await rest.verify(token);
      } catch (thrown) {
        const code = (thrown as Partial<GatewayError>).code;
        if (code !== "token_invalid") throw thrown;
        return resource.verify(token);
      }
    },
  };
}

/** The public URIs of this request: its origin, the resource, and the metadata. */
export function publicUris(requestUrl: string, options: McpDoorOptions) {
  const resource = options.resource ?? `${new URL(requestUrl).origin}${MCP_PATH}`;
  const origin = new URL(resource).origin;
  return { origin, resource, metadata: `${origin}${PRM_MCP_PATH}` };
}

/** RFC 9728 metadata for `resource`. */
export function protectedResourceMetadata(resource: string, options: McpDoorOptions) {
  return {
    resource,
    authorization_servers: [...(options.authorizationServers ?? [])],
    bearer_methods_supported: ["header"],
    resource_name: "ZYX agent gateway",
    resource_documentation: `${new URL(resource).origin}/openapi.json`,
  };
}

/** The refusal of an unauthenticated MCP request: the problem document, with the challenge. */
export function challengeResponse(error: GatewayError, metadataUrl: string): Response {
  const response = problemResponse(error);
  if (error.status !== 401) return response;
  const parts = [`Bearer resource_metadata="${metadataUrl}"`];
  if (error.code !== "token_missing") {
    parts.push(
      `error="invalid_token"`,
      `error_description="${challengeDescription(error.message)}"`,
    );
  }
  response.headers.set("www-authenticate", parts.join(", "));
  return response;
}
