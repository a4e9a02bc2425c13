/** Loopback ports: one nobody listens on, and waiting until someone does. */
import { createServer, connect as tcpConnect } from "node:net";

export async function freePort(): Promise<number> {
  return (await freePorts(1))[0];
}

/** `n` distinct free ports: all are held open together before any is released. */
export async function freePorts(n: number): Promise<number[]> {
  const servers = Array.from({ length: n }, () => createServer());
  const ports = await Promise.all(servers.map((srv) =>
    new Promise<number>((resolve, reject) => {
      srv.once("error", reject);
      srv.listen(0, "127.0.0.1", () => resolve((srv.address() as { port: number }).port));
    })
  ));
  await Promise.all(servers.map((srv) => new Promise((done) => srv.close(done))));
  return ports;
}

export async function waitForPort(port: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const ok = await new Promise<boolean>((resolve) => {
      const sock = tcpConnect(port, "127.0.0.1");
      sock.once("connect", () => (sock.destroy(), resolve(true)));
      sock.once("error", () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nothing listens on 127.0.0.1:${port} after ${timeoutMs} ms`);
}
