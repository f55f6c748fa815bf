// A PostgreSQL LISTEN connection that stays open: the shared kill switch and the shared session
// signals hear the other replicas' NOTIFYs through it.
//
// Invariants: `onMessage(payload)` for every notification on `channel`, and `onMessage(undefined)`
// after every (re)connection, so that the caller re-reads what it may have missed while the
// connection was down (a notification is never replayed). At most one connection at a time.
//
// Failure modes: a connection that fails, errors or ends is dropped and opened again after
// `reconnectMs`, forever, until the returned stop function is called; nothing is thrown. The
// caller's periodic re-read is the safety net while no connection stands.
import pg from "pg";

/** Starts listening; resolves nothing, returns the function that stops (and closes) it. */
export function listenForever(
  clientOptions: pg.ClientConfig,
  channel: string,
  reconnectMs: number,
  onMessage: (payload: string | undefined) => void,
): () => Promise<void> {
  if (!/^[a-z_][a-z0-9_]*$/.test(channel)) throw new TypeError(`bad channel name: ${channel}`);
  let stopped = false;
  let current: pg.Client | undefined;
  let timer: NodeJS.Timeout | undefined;

  async function connect(): Promise<void> {
    const client = new pg.Client(clientOptions);
    let failed = false;
    const fail = (): void => {
      if (failed) return;
      failed = true;
      if (current === client) current = undefined;
      client.end().catch(() => undefined);
      if (stopped) return;
      timer = setTimeout(() => void connect(), reconnectMs);
      timer.unref();
    };
    client.on("error", fail);
    client.on("end", fail);
    client.on("notification", (message) => {
      onMessage(message.payload ?? "");
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${channel}`);
    } catch {
      fail();
      return;
    }
    if (stopped) {
      failed = true;
      await client.end().catch(() => undefined);
      return;
    }
    current = client;
    onMessage(undefined);
  }
  void connect();
  return async () => {
    stopped = true;
    if (timer !== undefined) clearTimeout(timer);
    const client = current;
    current = undefined;
    await client?.end().catch(() => undefined);
  };
}
