// Reads the bundle that `opa build -t wasm --signing-key` makes: policy.wasm, data.json, .manifest
// and .signatures.json. The signature is verified (signature.ts) before any file is parsed:
// an unsigned, re-signed or altered bundle is refused whole. Only regular files are accepted
// (no links, devices, or a name twice), each at most 32 MiB, at most 64 MiB and 100 files in all:
// the bundle is inflated before its signature can be checked, so these bounds, not the signature,
// are what stand between a bundle server (or whoever answers for it) and the gateway's memory.
// Reading stops at the first bound crossed.
// data.json's zyx.bundle.serial (a positive safe integer, signed like the rest) is the build
// serial the reloader's anti-rollback check orders bundles by (rollback.ts); it is optional
// here so that an archived bundle from before serials can still be read (audit replay), and the
// reloader refuses to serve a bundle without one.
import { createReadStream } from "node:fs";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { Parser, type ReadEntry } from "tar";
import { z } from "zod";
import { PolicyError, describeThrown } from "./errors.ts";
import { verifyBundleSignature, type BundleKey } from "./signature.ts";

const MAX_ENTRY_BYTES = 32 * 1024 * 1024;
/** The whole bundle, inflated (a built one is about 250 KiB in 5 files). */
const MAX_BUNDLE_BYTES = 64 * 1024 * 1024;
const MAX_BUNDLE_FILES = 100;

const Manifest = z.looseObject({
  revision: z.string().min(1),
  wasm: z.array(z.looseObject({ entrypoint: z.string(), module: z.string() })).min(1),
});

const BundleData = z.looseObject({
  zyx: z.looseObject({
    config: z.looseObject({ tools: z.record(z.string(), z.unknown()) }),
    state: z.unknown(),
    bundle: z.strictObject({
      revision: z.string().min(1),
      serial: z.number().int().positive().max(Number.MAX_SAFE_INTEGER).optional(),
    }),
  }),
});

export interface PolicyBundle {
  readonly wasm: Uint8Array;
  readonly data: z.infer<typeof BundleData>;
  readonly revision: string;
  /** The signed build serial (data.json zyx.bundle.serial); undefined in a pre-serial bundle. */
  readonly serial: number | undefined;
  readonly entrypoints: readonly string[];
}

/** The regular files of a .tar.gz by name (leading "/" dropped). Throws on anything else. */
export async function readTarGz(source: string | Buffer): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  let problem: string | undefined;
  let entries = 0;
  let total = 0;
  const parser = new Parser({
    strict: true,
    onReadEntry: (entry: ReadEntry) => {
      const name = entry.path.replace(/^\/+/, "");
      if (entry.type === "Directory") {
        entry.resume();
        return;
      }
      if (entry.type !== "File" && entry.type !== "OldFile") problem = `${name} is a ${entry.type}`;
      else if (files.has(name)) problem = `${name} appears twice`;
      else if (++entries > MAX_BUNDLE_FILES)
        stop(`the bundle has more than ${String(MAX_BUNDLE_FILES)} files`);
      const chunks: Buffer[] = [];
      let size = 0;
      entry.on("data", (chunk: Buffer) => {
        size += chunk.length;
        total += chunk.length;
        if (size > MAX_ENTRY_BYTES)
          problem = `${entry.path} is larger than ${MAX_ENTRY_BYTES} bytes`;
        else if (total > MAX_BUNDLE_BYTES)
          stop(`the bundle inflates past ${String(MAX_BUNDLE_BYTES)} bytes`);
        else chunks.push(chunk);
      });
      entry.on("end", () => files.set(name, Buffer.concat(chunks)));
    },
  });
  /** Refuses the bundle and stops inflating it (the rest is never read). */
  const stop = (why: string) => {
    problem ??= why;
    parser.abort(new Error(why));
  };
  await pipeline(
    typeof source === "string" ? createReadStream(source) : Readable.from([source]),
    parser,
  ).catch((thrown: unknown) => {
    throw problem === undefined ? thrown : new Error(problem, { cause: thrown });
  });
  if (problem !== undefined) throw new Error(problem);
  return files;
}

/**
 * Reads and verifies the bundle at `path` (or its bytes, already read from there); throws a
 * PolicyError when it cannot be used.
 */
export async function readPolicyBundle(
  path: string,
  key: BundleKey,
  bytes?: Buffer,
): Promise<PolicyBundle> {
  let files: Map<string, Buffer>;
  try {
    files = await readTarGz(bytes ?? path);
  } catch (thrown) {
    if ((thrown as NodeJS.ErrnoException | undefined)?.code === "ENOENT") {
      throw new PolicyError(
        "policy_bundle_missing",
        `no policy bundle at ${path}: run make policy`,
      );
    }
    throw new PolicyError(
      "policy_bundle_corrupt",
      `cannot read ${path}: ${describeThrown(thrown)}`,
      {
        cause: thrown,
      },
    );
  }
  await verifyBundleSignature(files, key);
  const wasm = files.get("policy.wasm");
  const dataJson = files.get("data.json");
  const manifestJson = files.get(".manifest");
  if (wasm === undefined || dataJson === undefined || manifestJson === undefined) {
    throw new PolicyError(
      "policy_bundle_corrupt",
      `${path} lacks ${["policy.wasm", "data.json", ".manifest"].filter((n) => !files.has(n)).join(", ")}`,
    );
  }
  try {
    const manifest = Manifest.parse(JSON.parse(manifestJson.toString("utf8")));
    const data = BundleData.parse(JSON.parse(dataJson.toString("utf8")));
    if (data.zyx.bundle.revision !== manifest.revision) {
      throw new Error(
        `data revision ${data.zyx.bundle.revision} differs from manifest revision ${manifest.revision}`,
      );
    }
    return {
      wasm,
      data,
      revision: manifest.revision,
      serial: data.zyx.bundle.serial,
      entrypoints: manifest.wasm.map((m) => m.entrypoint),
    };
  } catch (thrown) {
    throw new PolicyError("policy_bundle_corrupt", `${path}: ${describeThrown(thrown)}`, {
      cause: thrown,
    });
  }
}
