// Signed checkpoints of the audit chain: the gateway's own Ed25519 key (never the call-token key)
// signs the chain head, as a record in the chain itself, every N records, every T seconds when
// records arrived meanwhile, when the log is closed, and when a log left unclosed is reopened.
//
// Invariants. A checkpoint record is `{event: "checkpoint", timestamp, replica?, checkpoint: {v,
// covers_seq, covers_hash, reason, every_records, every_seconds, kid, alg, sig}}`; it directly
// follows the record it covers (covers_seq = its own seq - 1, covers_hash = its prev_hash), and
// `sig` is the Ed25519 signature of SIGNING_DOMAIN + the canonical JSON of everything but `sig`
// (timestamp and replica included). `kid` is the RFC 7638 thumbprint of the public key, so a key
// set (JWKS) published beside the key lets a verifier elsewhere check it.
//
// Failure modes. A key file that is absent, unreadable or not an Ed25519 private JWK throws
// CheckpointKeyError (`checkpoint_key_unavailable`, `checkpoint_key_invalid`): the gateway must
// not start without its key when checkpoints are configured. Signing is synchronous, so the log
// can order checkpoints among records without awaiting.
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync } from "node:crypto";
import type { KeyObject } from "node:crypto";
import { sign, verify } from "node:crypto";
import { chmod, link, mkdir, readFile, unlink, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { canonicalJson } from "../../../common/canonical.ts";

export const CHECKPOINT_EVENT = "checkpoint";
export const CHECKPOINT_ALG = "EdDSA";
export const SIGNING_DOMAIN = "zyx-audit-checkpoint-v1\n";
/** Defaults of the gateway (and of a verifier before it has seen the first checkpoint). */
export const DEFAULT_EVERY_RECORDS = 1000;
export const DEFAULT_EVERY_SECONDS = 60;

/** Why a checkpoint was written. "open": the log was found not closed by a checkpoint. */
export type CheckpointReason = "records" | "interval" | "close" | "open";
export const CHECKPOINT_REASONS: readonly CheckpointReason[] = [
  "records",
  "interval",
  "close",
  "open",
];

export interface PublicCheckpointJwk {
  kty: "OKP";
  crv: "Ed25519";
  x: string;
  kid: string;
  alg: typeof CHECKPOINT_ALG;
  use: "sig";
}

export interface CheckpointSigner {
  readonly kid: string;
  readonly publicJwk: PublicCheckpointJwk;
  /** Base64url Ed25519 signature of `message`. */
  sign(message: string): string;
}

export interface CheckpointBody {
  v: 1;
  covers_seq: number;
  covers_hash: string;
  reason: CheckpointReason;
  every_records: number;
  every_seconds: number;
  kid: string;
  alg: typeof CHECKPOINT_ALG;
}

export interface Checkpoint extends CheckpointBody {
  sig: string;
}

export type CheckpointKeyErrorCode = "checkpoint_key_unavailable" | "checkpoint_key_invalid";

export class CheckpointKeyError extends Error {
  readonly code: CheckpointKeyErrorCode;
  constructor(code: CheckpointKeyErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "CheckpointKeyError";
    this.code = code;
  }
}

/** RFC 7638 thumbprint (SHA-256, base64url) of an Ed25519 public key. */
export function checkpointKid(x: string): string {
  return createHash("sha256")
    .update(JSON.stringify({ crv: "Ed25519", kty: "OKP", x }))
    .digest("base64url");
}

/** The exact bytes a checkpoint's signature covers. */
export function signingInput(
  body: CheckpointBody,
  timestamp: string,
  replica: string | undefined,
): string {
  return SIGNING_DOMAIN + canonicalJson({ ...body, timestamp, replica: replica ?? null });
}

export function signerFromPrivateJwk(jwk: unknown): CheckpointSigner {
  const { x, d } = (jwk ?? {}) as { x?: unknown; d?: unknown };
  const shape = jwk as { kty?: unknown; crv?: unknown } | null;
  if (shape?.kty !== "OKP" || shape.crv !== "Ed25519" || typeof x !== "string" || !d) {
    throw new CheckpointKeyError("checkpoint_key_invalid", "not an Ed25519 private JWK");
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey({
      key: { kty: "OKP", crv: "Ed25519", x, d } as never,
      format: "jwk",
    });
  } catch (cause) {
    throw new CheckpointKeyError(
      "checkpoint_key_invalid",
      "the Ed25519 private JWK does not load",
      {
        cause,
      },
    );
  }
  const kid = checkpointKid(x);
  return {
    kid,
    publicJwk: { kty: "OKP", crv: "Ed25519", x, kid, alg: CHECKPOINT_ALG, use: "sig" },
    sign: (message) => sign(null, Buffer.from(message, "utf8"), privateKey).toString("base64url"),
  };
}

/** A fresh key pair as a private JWK (kid included). Keys are generated, never committed. */
export function generateCheckpointJwk(): Record<string, string> {
  const { privateKey } = generateKeyPairSync("ed25519");
  const jwk = privateKey.export({ format: "jwk" }) as { x: string; d: string };
  return {
    kty: "OKP",
    crv: "Ed25519",
    x: jwk.x,
    d: jwk.d,
    kid: checkpointKid(jwk.x),
    alg: CHECKPOINT_ALG,
    use: "sig",
  };
}

/** Where the development checkpoint key and its public key set live under the state folder. */
export function checkpointKeyPaths(stateDir: string): { privateJwk: string; jwks: string } {
  return {
    privateJwk: join(stateDir, "keys", "checkpoint.private.jwk.json"),
    jwks: join(stateDir, "keys", "checkpoint.jwks.json"),
  };
}

export async function readCheckpointSigner(path: string): Promise<CheckpointSigner> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (cause) {
    throw new CheckpointKeyError(
      "checkpoint_key_unavailable",
      `cannot read the checkpoint key ${path}`,
      { cause },
    );
  }
  let jwk: unknown;
  try {
    jwk = JSON.parse(text);
  } catch (cause) {
    throw new CheckpointKeyError("checkpoint_key_invalid", `${path} is not JSON`, { cause });
  }
  return signerFromPrivateJwk(jwk);
}

/**
 * Development: creates the private key (mode 0600) when absent, never replacing one (link(2)),
 * then (re)writes the public key set beside it. Returns the signer.
 */
export async function ensureCheckpointKey(
  privatePath: string,
  jwksPath: string,
): Promise<CheckpointSigner> {
  await mkdir(dirname(privatePath), { recursive: true, mode: 0o700 });
  const temp = `${privatePath}.${String(process.pid)}.${String(Date.now())}.tmp`;
  await writeFile(temp, `${JSON.stringify(generateCheckpointJwk())}\n`, { mode: 0o600 });
  try {
    await link(temp, privatePath);
  } catch (error) {
    if ((error as { code?: unknown }).code !== "EEXIST") throw error;
  } finally {
    await unlink(temp).catch(() => undefined);
  }
  await chmod(privatePath, 0o600);
  const signer = await readCheckpointSigner(privatePath);
  await writeFile(jwksPath, `${JSON.stringify({ keys: [signer.publicJwk] }, null, 2)}\n`, {
    mode: 0o644,
  });
  return signer;
}

/**
 * The gateway's signer: `keyFile` when given; otherwise the state folder's key, generated there
 * first in development (devKeys), and required to exist otherwise (fail closed).
 */
export async function checkpointSignerFor(
  keyFile: string | undefined,
  stateDir: string,
  devKeys: boolean,
): Promise<CheckpointSigner> {
  const paths = checkpointKeyPaths(stateDir);
  if (keyFile === undefined && devKeys) return ensureCheckpointKey(paths.privateJwk, paths.jwks);
  return readCheckpointSigner(keyFile ?? paths.privateJwk);
}

/** The checkpoint record's body for the head (seq, hash), signed. */
export function makeCheckpoint(
  signer: CheckpointSigner,
  head: { seq: number; hash: string },
  reason: CheckpointReason,
  every: { records: number; seconds: number },
  timestamp: string,
  replica: string | undefined,
): Checkpoint {
  const body: CheckpointBody = {
    v: 1,
    covers_seq: head.seq,
    covers_hash: head.hash,
    reason,
    every_records: every.records,
    every_seconds: every.seconds,
    kid: signer.kid,
    alg: CHECKPOINT_ALG,
  };
  return { ...body, sig: signer.sign(signingInput(body, timestamp, replica)) };
}

/** Public keys by kid, from a JWKS document. Keys that are not Ed25519 are ignored. */
export function keysFromJwks(jwks: unknown): Map<string, KeyObject> {
  const keys = new Map<string, KeyObject>();
  const list = (jwks as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(list)) {
    throw new CheckpointKeyError("checkpoint_key_invalid", 'a key set is {"keys": [...]}');
  }
  for (const entry of list as unknown[]) {
    const { kty, crv, x } = (entry ?? {}) as { kty?: unknown; crv?: unknown; x?: unknown };
    if (kty !== "OKP" || crv !== "Ed25519" || typeof x !== "string") continue;
    try {
      // The kid is recomputed from the key: a key set cannot claim another key's id.
      keys.set(checkpointKid(x), createPublicKey({ key: { kty, crv, x }, format: "jwk" }));
    } catch {
      // An unusable entry verifies nothing.
    }
  }
  return keys;
}

export async function readCheckpointKeys(path: string): Promise<Map<string, KeyObject>> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (cause) {
    throw new CheckpointKeyError("checkpoint_key_unavailable", `cannot read the key set ${path}`, {
      cause,
    });
  }
  try {
    return keysFromJwks(JSON.parse(text));
  } catch (cause) {
    if (cause instanceof CheckpointKeyError) throw cause;
    throw new CheckpointKeyError("checkpoint_key_invalid", `${path} is not JSON`, { cause });
  }
}

export type SignatureCheck = "valid" | "unknown_key" | "invalid";

export function checkSignature(
  checkpoint: Checkpoint,
  timestamp: string,
  replica: string | undefined,
  keys: ReadonlyMap<string, KeyObject>,
): SignatureCheck {
  const key = keys.get(checkpoint.kid);
  if (key === undefined) return "unknown_key";
  const { sig, ...body } = checkpoint;
  try {
    const ok = verify(
      null,
      Buffer.from(signingInput(body, timestamp, replica), "utf8"),
      key,
      Buffer.from(sig, "base64url"),
    );
    return ok ? "valid" : "invalid";
  } catch {
    return "invalid";
  }
}
