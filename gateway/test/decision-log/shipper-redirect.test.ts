// The shipper and a sink that redirects: an upload is never followed to another URL. A 302/303
// turns the POST into a GET without a body (the entries would be counted as sent and lost), a
// 307/308 re-posts the decisions (principals, arguments) to whatever host the Location names.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { createDecisionLogShipper } from "../../src/decision-log/shipper.ts";

const servers: Server[] = [];
async function listen(handler: Parameters<typeof createServer>[1]): Promise<string> {
  const server = createServer(handler);
  servers.push(server);
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  return `http://127.0.0.1:${String((server.address() as AddressInfo).port)}`;
}
afterEach(() => {
  for (const server of servers.splice(0)) server.close();
});

describe("the decision-log shipper and a redirecting sink", () => {
  it.each([302, 307])(
    "does not follow a %i to another host, nor count the entries as sent",
    async (status) => {
      const elsewhere: { method: string | undefined; bytes: number }[] = [];
      const other = await listen((req, res) => {
        let bytes = 0;
        req.on("data", (chunk: Buffer) => (bytes += chunk.length));
        req.on("end", () => {
          elsewhere.push({ method: req.method, bytes });
          res.end("ok");
        });
      });
      const sink = await listen((_req, res) => {
        res.writeHead(status, { location: `${other.replace("127.0.0.1", "localhost")}/collect` });
        res.end();
      });
      let sent = 0;
      const shipper = createDecisionLogShipper({
        url: new URL(`${sink}/logs`),
        token: "decision-log-sink-token",
        flushIntervalMs: 60_000,
        backoff: { minMs: 10_000, maxMs: 10_000 },
        log: () => undefined,
        events: { sent: (count) => (sent += count) },
      });
      shipper.enqueue({
        decision_id: "d-1",
        input: { principal: { sub: "alice@zyxbank.example" } },
      });
      await shipper.flush(500);
      expect({ elsewhere, sent, buffered: shipper.stats().buffered }).toEqual({
        elsewhere: [],
        sent: 0,
        buffered: 1,
      });
      shipper.close();
    },
  );
});
