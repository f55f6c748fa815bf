// The bench's tokens, minted with the development identity provider's own code and keys: lines
// of "access posture" for gateway/bench/calls.lua. "agent": a token for the gateway naming the
// change-reviewer agent (what an agent runtime presents); "user": the engineer's own token for
// the change-review runtime (no "act"), which the runtime exchanges at the identity provider.
// Every pair is for engineer@zyxbank.example on a compliant device, valid for an hour.
import {
  CHANGE_REVIEW_AUDIENCE,
  DEV_ISSUER,
  DEV_POSTURE_ISSUER,
  GATEWAY_AUDIENCE,
  readPrivateJwk,
  type DevKeyPaths,
} from "../../common/keys.ts";
import { mintAccessToken, mintPostureToken } from "../../idp/src/mint.ts";

const USER = "engineer@zyxbank.example";

export async function mintPairs(
  keys: DevKeyPaths["signers"],
  count: number,
  kind: "agent" | "user",
): Promise<string> {
  const idp = await readPrivateJwk(keys.idp.privateJwk);
  const device = await readPrivateJwk(keys["device-trust"].privateJwk);
  const now = Math.floor(Date.now() / 1000);
  const lines: string[] = [];
  for (let i = 0; i < count; i++) {
    const access = await mintAccessToken({
      privateJwk: idp,
      issuer: DEV_ISSUER,
      audience: kind === "agent" ? GATEWAY_AUDIENCE : CHANGE_REVIEW_AUDIENCE,
      user: USER,
      groups: ["grp-ai-users", "grp-ai-devops-readonly"],
      ...(kind === "agent" ? { agent: "change-reviewer" } : {}),
      ttlSec: 3_600,
      now,
    });
    const posture = await mintPostureToken({
      privateJwk: device,
      issuer: DEV_POSTURE_ISSUER,
      audience: GATEWAY_AUDIENCE,
      user: USER,
      compliant: true,
      checkedAt: now,
      ttlSec: 3_600,
      now,
    });
    lines.push(`${access} ${posture}`);
  }
  return `${lines.join("\n")}\n`;
}
