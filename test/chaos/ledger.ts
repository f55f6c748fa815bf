// What the chaos run saw, and what the audit log holds. Every 2xx answer's decision id is noted;
// the log is read incrementally (only the bytes added since the last look; a last line without
// its newline is left for the next look) and each decision id in it noted with its events. A 2xx
// is durable when its decision record and its outcome record are both in the log.
import { openSync, readSync, closeSync, fstatSync } from "node:fs";

export class AuditLedger {
  private offset = 0;
  private rest = "";
  private readonly events = new Map<string, Set<string>>();
  private readonly acknowledged = new Set<string>();

  private readonly path: string;

  constructor(path: string) {
    this.path = path;
  }

  /** A 2xx answer the client saw. */
  acknowledge(decisionId: string): void {
    this.acknowledged.add(decisionId);
  }

  /** Reads what was appended since the last look. */
  catchUp(): void {
    let fd: number;
    try {
      fd = openSync(this.path, "r");
    } catch {
      return;
    }
    try {
      const size = fstatSync(fd).size;
      if (size <= this.offset) return;
      const buffer = Buffer.alloc(size - this.offset);
      readSync(fd, buffer, 0, buffer.length, this.offset);
      this.offset = size;
      const lines = (this.rest + buffer.toString("utf8")).split("\n");
      this.rest = lines.pop() ?? "";
      for (const line of lines) this.note(line);
    } finally {
      closeSync(fd);
    }
  }

  private note(line: string): void {
    if (line === "") return;
    const record = JSON.parse(line) as { event?: string; decision_id?: string };
    if (record.decision_id === undefined || record.event === undefined) return;
    const seen = this.events.get(record.decision_id) ?? new Set<string>();
    seen.add(record.event);
    this.events.set(record.decision_id, seen);
  }

  /** Acknowledged decisions whose decision or outcome record is not in the log (yet). */
  undurable(): string[] {
    this.catchUp();
    return [...this.acknowledged].filter((id) => {
      const seen = this.events.get(id);
      return seen === undefined || !seen.has("decision") || !seen.has("outcome");
    });
  }

  get acknowledgedCount(): number {
    return this.acknowledged.size;
  }
}
