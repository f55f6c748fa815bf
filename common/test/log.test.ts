// The processes' log lines (common/service.ts jsonLog, through pino): one JSON object per line,
// with the level as a word, an ISO time, the service, the message and the event's fields.
import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { jsonLog } from "../service.ts";

function capture() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(
        ...chunk
          .toString()
          .split("\n")
          .filter((l) => l !== ""),
      );
      done();
    },
  });
  return { lines, stream };
}

describe("jsonLog", () => {
  it("writes one JSON line per event: level, time, service, message and the fields", () => {
    const { lines, stream } = capture();
    const log = jsonLog("gateway", stream);
    log("error", "policy bundle refused: the previous revision keeps serving", {
      code: "policy_signature_invalid",
      serving_revision: "817709a47d6f447a",
    });
    log("info", "listening", { port: 8080 });
    expect(lines).toHaveLength(2);
    const [refused, listening] = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(refused).toMatchObject({
      level: "error",
      service: "gateway",
      message: "policy bundle refused: the previous revision keeps serving",
      code: "policy_signature_invalid",
      serving_revision: "817709a47d6f447a",
    });
    expect(new Date(refused?.["time"] as string).toISOString()).toBe(refused?.["time"]);
    expect(listening).toMatchObject({ level: "info", message: "listening", port: 8080 });
  });
});
