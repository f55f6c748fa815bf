// A fault-injecting file layer for the chaos run, loaded into a real gateway with
// `node --import ./test/chaos/fs-faults.ts`. Never loaded otherwise: it does nothing unless
// CHAOS_FS_CONTROL names a control file.
//
// The control file holds one word, read at every write and fdatasync of a FileHandle (the audit
// log's path to the disk): "ok" passes through; "disk-full" fails writes with ENOSPC before a
// byte is written; "fsync-fails" lets writes through and fails the sync with EIO (the bytes may
// or may not be on disk: the case the audit log must treat as unknown). The audit log opens its
// file O_DSYNC, where the sync is part of the write: on such a descriptor (its flags read from
// /proc/self/fdinfo) "fsync-fails" lets the write reach the file and then fails it with EIO,
// as a failed synchronous write does; elsewhere it fails fdatasync.
import { constants, readFileSync } from "node:fs";
import { open } from "node:fs/promises";

const control = process.env["CHAOS_FS_CONTROL"];

function mode(path: string): string {
  try {
    return readFileSync(path, "utf8").trim();
  } catch {
    return "ok";
  }
}

/** Whether the descriptor was opened O_DSYNC (Linux: the octal `flags:` line of its fdinfo). */
function isDsync(fd: number): boolean {
  try {
    const flags = /^flags:\s+([0-7]+)$/m.exec(
      readFileSync(`/proc/self/fdinfo/${String(fd)}`, "utf8"),
    );
    return flags?.[1] !== undefined && (parseInt(flags[1], 8) & constants.O_DSYNC) !== 0;
  } catch {
    return false;
  }
}

function failure(code: string, syscall: string): Error {
  const message = code === "ENOSPC" ? "no space left on device" : "i/o error";
  return Object.assign(new Error(`${code}: ${message}, ${syscall}`), { code, syscall });
}

if (control !== undefined && control !== "") {
  const probe = await open(control, "r");
  const proto = Object.getPrototypeOf(probe) as {
    write: (...args: unknown[]) => Promise<unknown>;
    datasync: () => Promise<void>;
  };
  await probe.close();
  const { write, datasync } = proto;
  proto.write = function (this: { fd: number }, ...args: unknown[]) {
    const now = mode(control);
    if (now === "disk-full") return Promise.reject(failure("ENOSPC", "write"));
    if (now === "fsync-fails" && isDsync(this.fd)) {
      return write.apply(this, args).then(() => Promise.reject(failure("EIO", "write")));
    }
    return write.apply(this, args);
  };
  proto.datasync = function (this: unknown) {
    if (mode(control) === "fsync-fails") return Promise.reject(failure("EIO", "fdatasync"));
    return datasync.apply(this);
  };
}
