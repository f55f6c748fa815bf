// Reading a connector's configuration from the environment, for every connector alike: a
// blank variable is unset; a token comes from its variable or from a file, never both.
import { readFileSync } from "node:fs";

/** A variable's value, or undefined when it is unset or blank. */
export function envValue(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const value = env[name];
  return value === undefined || value.trim() === "" ? undefined : value.trim();
}

/**
 * The API token from `tokenVariable`, or read from the file named by `fileVariable` (trailing
 * newline dropped). Undefined when neither is set; an error when both are, or the file is
 * unreadable or empty.
 */
export function readApiToken(
  env: NodeJS.ProcessEnv,
  tokenVariable: string,
  fileVariable: string,
): string | undefined {
  const token = envValue(env, tokenVariable);
  const file = envValue(env, fileVariable);
  if (token !== undefined && file !== undefined) {
    throw new Error(`set ${tokenVariable} or ${fileVariable}, not both`);
  }
  if (file === undefined) return token;
  let content: string;
  try {
    content = readFileSync(file, "utf8");
  } catch (error) {
    const code =
      error instanceof Error && "code" in error && typeof error.code === "string"
        ? ` (${error.code})`
        : "";
    throw new Error(`cannot read the file named by ${fileVariable}${code}`, { cause: error });
  }
  const value = content.trim();
  if (value === "") throw new Error(`the file named by ${fileVariable} is empty`);
  if (/\s/.test(value)) {
    throw new Error(`the file named by ${fileVariable} must hold one token and nothing else`);
  }
  return value;
}
