/**
 * `edgeq dev` needs a NATS server. It uses one already listening on the port, or starts a
 * `nats-server -js` from the PATH with its store under `.edgeq/`, or says how to get one.
 */
import type { Child, Runtime } from "../adapter/mod.ts";
import { UnavailableError } from "../wire/mod.ts";

export interface LocalNats {
  url: string;
  /** The server we started, if we did. */
  child?: Child;
}

const HOW_TO_GET_ONE = [
  "edgeq dev needs nats-server on the PATH, or NATS_URL pointing at a running server with JetStream.",
  "  Debian/Ubuntu: sudo apt-get install nats-server",
  "  macOS:         brew install nats-server",
  "  or run one:    docker run -p 4222:4222 nats -js",
].join("\n");

export async function ensureLocalNats(runtime: Runtime, port: number, storeDir: string): Promise<LocalNats> {
  const url = `nats://127.0.0.1:${port}`;
  if (await runtime.isListening("127.0.0.1", port)) return { url };
  await runtime.makeDir(storeDir);
  const child = runtime.spawn("nats-server", ["-a", "127.0.0.1", "-p", String(port), "-js", "-sd", storeDir]);
  const failed = child.exited.then(
    (code) => new UnavailableError(`nats-server exited with code ${code} before listening on ${port}`),
    () => new UnavailableError(`could not start nats-server.\n${HOW_TO_GET_ONE}`),
  );
  for (let waited = 0; waited < 10_000; waited += 100) {
    const early = await Promise.race([failed, new Promise<null>((r) => setTimeout(() => r(null), 100))]);
    if (early) throw early;
    if (await runtime.isListening("127.0.0.1", port)) return { url, child };
  }
  child.kill();
  throw new UnavailableError(`nats-server did not listen on ${port} within 10 s`);
}
