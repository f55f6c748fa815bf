// docker-compose.yml, checked statically: every image names one release, so that `docker compose
// pull` next month runs what was reviewed. A tag such as 1.27-alpine or 1.37 moves with every
// patch release (the load balancer in front of the gateways, the one-shot that copies the
// runtime's client secret) and a rebuilt host could run an image nobody looked at.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { REPO_ROOT } from "../support/processes.ts";

const compose = parse(readFileSync(join(REPO_ROOT, "docker-compose.yml"), "utf8")) as {
  services: Record<string, { image?: string }>;
};

/** A release's version at the start of the tag: x.y.z, or PostgreSQL's own x.y (17.2). */
const RELEASE: Record<string, RegExp> = { postgres: /^\d+\.\d+(-|$)/ };
const DEFAULT_RELEASE = /^\d+\.\d+\.\d+(-|$)/;

describe("compose images", () => {
  it.each(Object.entries(compose.services).filter(([, service]) => service.image !== undefined))(
    "pins %s to one release",
    (_, service) => {
      const image = service.image ?? "";
      const digest = image.includes("@sha256:");
      const [name = "", tag = ""] = image.split("@")[0]?.split(":") ?? [];
      expect(tag, `${image}: a tag`).not.toBe("");
      if (!digest) expect(tag, image).toMatch(RELEASE[name] ?? DEFAULT_RELEASE);
    },
  );
});
