// A local HTTP sink that receives decision-log batches as OPA's decision-log service does:
// POST, Content-Encoding gzip, a JSON array. Tests set the status it answers next.
import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import { gunzipSync } from "node:zlib";

export interface ReceivedBatch {
  headers: IncomingMessage["headers"];
  entries: Record<string, unknown>[];
}

export interface LogSink {
  url: URL;
  batches: ReceivedBatch[];
  entries(): Record<string, unknown>[];
  /** Statuses to answer, in order, before answering 200 again. */
  answer(...statuses: number[]): void;
  /** Requests answered with something else than 200. */
  refused: number;
  close(): Promise<void>;
}

export async function startLogSink(): Promise<LogSink> {
  const planned: number[] = [];
  const sink = {
    batches: [] as ReceivedBatch[],
    refused: 0,
  };
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      const status = planned.shift() ?? 200;
      if (status !== 200) {
        sink.refused++;
        response.writeHead(status).end();
        return;
      }
      const body = Buffer.concat(chunks);
      const text =
        request.headers["content-encoding"] === "gzip"
          ? gunzipSync(body).toString()
          : body.toString();
      sink.batches.push({
        headers: request.headers,
        entries: JSON.parse(text) as Record<string, unknown>[],
      });
      response.writeHead(200).end();
    });
  });
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  const { port } = server.address() as AddressInfo;
  return Object.assign(sink, {
    url: new URL(`http://127.0.0.1:${String(port)}/logs`),
    entries: () => sink.batches.flatMap((b) => b.entries),
    answer: (...statuses: number[]) => {
      planned.push(...statuses);
    },
    close: () =>
      new Promise<void>((done) => {
        server.closeAllConnections();
        server.close(() => {
          done();
        });
      }),
  });
}
