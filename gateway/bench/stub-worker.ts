// The benchmark's stub worker: answers every call at once with a small fixed result. The same
// stub sits behind every set-up, so differences are the set-ups' own.
import { createServer } from "node:http";

const port = Number(process.env["PORT"] ?? "0");
// The worker's envelope: the result and its output guard's verdict (the gateway requires it).
const body = JSON.stringify({
  result: { key: "CHG-18422", summary: "stub", status: "In Review" },
  evidence: { untrusted: true, redactions: 0, injection: { suspected: false, indicators: [] } },
});

const server = createServer((req, res) => {
  req.resume();
  req.on("end", () => {
    res.writeHead(200, {
      "content-type": "application/json",
      "content-length": Buffer.byteLength(body),
    });
    res.end(body);
  });
});
server.keepAliveTimeout = 60_000;
server.listen(port, "127.0.0.1", () => {
  const address = server.address();
  console.log(
    JSON.stringify({ port: typeof address === "object" && address !== null ? address.port : 0 }),
  );
});
process.on("SIGTERM", () => server.close(() => process.exit(0)));
