/**
 * A tiny HTTP server for plain-text answers (a worker's `/metrics`), without Hono, which a worker
 * process does not load: Deno.serve on Deno, Bun.serve on Bun, node:http on Node. The runtime is
 * told by its global, as a worker may be started from any entry (the CLI, or a user's script).
 *
 * node:http is imported by a name held in a variable: the WebSocket entry bundles the worker for
 * hosts that have no Node built-ins, and a bundler follows only literal imports. Deno and Bun never
 * take that branch.
 */
import type { IncomingMessage, ServerResponse } from "node:http";

export interface TextAnswer {
  status: number;
  contentType: string;
  body: string;
}

/** Answers a GET of `path`. */
export type TextHandler = (path: string) => Promise<TextAnswer>;

export interface TextServer {
  port: number;
  close(): Promise<void>;
}

interface DenoLike {
  serve(options: { port: number; hostname: string; onListen: () => void }, handler: (req: Request) => Promise<Response>): {
    addr: { port: number };
    shutdown(): Promise<void>;
  };
}
interface BunLike {
  serve(options: { port: number; fetch: (req: Request) => Promise<Response> }): { port: number; stop(closeActive?: boolean): void };
}

const NODE_HTTP = "node:http";

/** Serves `handle` on `port` (0: any free one), on every interface. */
export async function serveText(port: number, handle: TextHandler): Promise<TextServer> {
  const { Deno, Bun } = globalThis as unknown as { Deno?: DenoLike; Bun?: BunLike };
  const fetch = async (req: Request) => {
    const answer = await handle(new URL(req.url).pathname);
    return new Response(answer.body, { status: answer.status, headers: { "Content-Type": answer.contentType } });
  };
  if (Deno?.serve) {
    const server = Deno.serve({ port, hostname: "0.0.0.0", onListen: () => {} }, fetch);
    return { port: server.addr.port, close: () => server.shutdown() };
  }
  if (Bun?.serve) {
    const server = Bun.serve({ port, fetch });
    return { port: server.port, close: async () => server.stop(true) };
  }
  const http = (await import(NODE_HTTP)) as typeof import("node:http");
  const server = http.createServer((req: IncomingMessage, res: ServerResponse) => {
    handle(new URL(req.url ?? "/", "http://localhost").pathname).then(
      (answer) => res.writeHead(answer.status, { "Content-Type": answer.contentType }).end(answer.body),
      () => res.writeHead(500).end(),
    );
  });
  await new Promise<void>((ready, fail) => {
    server.once("error", fail);
    server.listen(port, ready);
  });
  const address = server.address();
  return {
    port: typeof address === "object" && address ? address.port : port,
    close: () => new Promise((done) => server.close(() => done())),
  };
}
