// A PostgreSQL LISTEN connection that stays open: the shared kill switch and the shared session
// signals hear the other replicas' NOTIFYs through it.
//
// Invariants: `onMessage(payload)` for every notification on `channel`, and `onMessage(undefined)`
// after every (re)connection, so that the caller re-reads what it may have missed while the
// connection was down (a notification is never replayed). At most one connection at a time.
//
// Failure modes: a connection that fails, errors or ends is dropped and opened again after
// `reconnectMs`, forever, until the returned stop function is called; nothing is thrown. The
// caller's periodic re-read is the safety net while no connection stands. A connection that died
// silently (the server's end gone without a reset reaching this end: a failover, a lost host, a
// firewall dropping the idle flow) looks open and delivers nothing: a heartbeat (`SELECT 1`
// every `heartbeatMs`, answered within `heartbeatMs`) finds it, and it is dropped and opened again
// (and the caller re-reads) like any other.
import pg from "pg";

/** Starts listening; resolves nothing, returns the function that stops (and closes) it. */
export function listenForever(
  clientOptions: pg.ClientConfig,
  channel: string,
  reconnectMs: number,
  onMessage: (payload: string | undefined) => void,
  heartbeatMs = 2_000,
): () => Promise<void> {
  if (!/^[a-z_][a-z0-9_]*$/.test(channel)) throw new TypeError(`bad channel name: ${channel}`);
  let stopped = false;
  let current: pg.Client | undefined;
  let timer: NodeJS.Timeout | undefined;
  let beat: NodeJS.Timeout | undefined;

  async function connect(): Promise<void> {
    const client = new pg.Client(clientOptions);
    let failed = false;
    const fail = (): void => {
      if (failed) return;
      failed = true;
      if (current === client) current = undefined;
      if (beat !== undefined) clearInterval(beat);
      beat = undefined;
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
    let beating = false;
    beat = setInterval(() => {
      if (beating || failed) return;
      beating = true;
      let answered = false;
      const late = setTimeout(() => {
        if (!answered) fail();
      }, heartbeatMs);
      late.unref();
      client.query("SELECT 1").then(
        () => {
          answered = true;
          beating = false;
          clearTimeout(late);
        },
        () => {
          answered = true;
          clearTimeout(late);
          fail();
        },
      );
    }, heartbeatMs);
    beat.unref();
    onMessage(undefined);
  }
  void connect();
  return async () => {
    stopped = true;
    if (timer !== undefined) clearTimeout(timer);
    if (beat !== undefined) clearInterval(beat);
    const client = current;
    current = undefined;
    await client?.end().catch(() => undefined);
  };
}
