/**
 * How the command reports a failure: one line saying what is wrong, and a hint saying what to do.
 * A stack trace is for bugs only.
 */
import { EdgeqError, NotFoundError, UnavailableError, ValidationError } from "../wire/mod.ts";

/** The command line itself is wrong; found before anything connects. */
export class UsageError extends ValidationError {
  override name = "UsageError";

  /** `command`: whose help the hint points at (none: the top-level help). */
  constructor(message: string, readonly command?: string) {
    super(message);
  }
}

/** The HTTP port is taken: what `EADDRINUSE` (Node, Bun) or `AddrInUse` (Deno) becomes. */
export function portInUse(err: unknown, port: number): EdgeqError | undefined {
  const e = err as { code?: string; name?: string } | undefined;
  if (e?.code !== "EADDRINUSE" && e?.name !== "AddrInUse") return undefined;
  return new UsageError(`port ${port} is in use; set PORT or --port`);
}

/** The lines to print for an error: `edgeq: <message>` and, where one helps, `hint: …`. */
export function describeFailure(err: unknown): string {
  if (!(err instanceof EdgeqError)) return `edgeq: unexpected error (a bug: please report it)\n${(err as Error)?.stack ?? err}`;
  const hint = err instanceof UsageError
    ? err.message.includes("--port") ? undefined : `see \`edgeq ${err.command ? `${err.command} ` : ""}--help\``
    : err instanceof UnavailableError
    ? "is nats-server running with -js? NATS_URL says where it is (edgeq dev starts one)"
    : err instanceof NotFoundError
    ? "`edgeq tasks` lists the tasks edgeq still keeps"
    : undefined;
  return `edgeq: ${err.message}${hint ? `\n  hint: ${hint}` : ""}`;
}
