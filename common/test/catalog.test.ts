import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  CATALOG_PATH,
  CatalogError,
  externalAgentIds,
  isToolName,
  loadCatalog,
  parseCatalog,
  TOOL_NAMES,
} from "../catalog.ts";
import { TOOL_ARGUMENT_SCHEMAS } from "../tool-arguments.ts";

function rawCatalog(): { tools: Record<string, unknown> } & Record<string, unknown> {
  return JSON.parse(readFileSync(CATALOG_PATH, "utf8")) as {
    tools: Record<string, unknown>;
  } & Record<string, unknown>;
}

describe("tool catalog", () => {
  it("loads rego/zyx/config/data.json, the file the policy reads", () => {
    expect(CATALOG_PATH.endsWith("rego/zyx/config/data.json")).toBe(true);
    const catalog = loadCatalog();
    expect(Object.keys(catalog.tools).sort()).toEqual([...TOOL_NAMES].sort());
  });

  it("has one argument schema per catalog tool, and no other", () => {
    const catalogTools = Object.keys(rawCatalog().tools).sort();
    expect(Object.keys(TOOL_ARGUMENT_SCHEMAS).sort()).toEqual(catalogTools);
    expect([...TOOL_NAMES].sort()).toEqual(catalogTools);
  });

  it("refuses post-hoc review on a tool that always needs approval, or on a read", () => {
    for (const tool of ["aws_modify_security_group", "jira_read"]) {
      const raw = rawCatalog();
      raw.tools[tool] = { ...(raw.tools[tool] as object), post_hoc: "always" };
      expect(() => parseCatalog(raw)).toThrow(new RegExp(`tools\\.${tool}\\.post_hoc`));
    }
  });

  it("lists as external agents every agent but the gateway's own", () => {
    const agents = externalAgentIds(loadCatalog());
    expect(agents).toContain("change-reviewer");
    expect(agents).not.toContain("post-hoc-reviewer");
    expect(loadCatalog().agents["post-hoc-reviewer"]?.system).toBe(true);
  });

  it("refuses a catalog with a tool that has no schema", () => {
    const raw = rawCatalog();
    raw.tools["iam_attach_policy"] = raw.tools["jira_read"];
    expect(() => parseCatalog(raw)).toThrow(/tools\.iam_attach_policy: no argument schema/);
  });

  it("refuses a catalog missing a tool that has a schema", () => {
    const raw = rawCatalog();
    const tools = { ...raw.tools };
    delete tools["jira_read"];
    expect(() => parseCatalog({ ...raw, tools })).toThrow(
      /tools\.jira_read: missing from the catalog/,
    );
  });

  it("refuses a misspelt key in a tool entry", () => {
    const raw = rawCatalog();
    raw.tools["slack_post_message"] = {
      ...(raw.tools["slack_post_message"] as object),
      allowed_channel: ["general"],
    };
    expect(() => parseCatalog(raw)).toThrow(CatalogError);
  });

  it("refuses an account alias that aws_accounts does not define", () => {
    const raw = rawCatalog();
    raw.tools["aws_dev_read"] = {
      ...(raw.tools["aws_dev_read"] as object),
      allowed_accounts: ["sandbox"],
    };
    expect(() => parseCatalog(raw)).toThrow(/account alias sandbox/);
  });

  it("refuses an unreadable or non-JSON file", () => {
    expect(() => loadCatalog("/nonexistent/catalog.json")).toThrow(CatalogError);
    expect(() => loadCatalog(import.meta.filename)).toThrow(/not JSON/);
  });

  it("isToolName accepts catalog names only", () => {
    expect(isToolName("jira_read")).toBe(true);
    expect(isToolName("iam_attach_policy")).toBe(false);
    expect(isToolName("__proto__")).toBe(false);
    expect(isToolName(undefined)).toBe(false);
  });
});
