/**
 * Makes docs/dashboard.png, the README's picture of the dashboard: a nats-server, `edgeq serve`,
 * a Node and a Deno worker, and the overview in headless Chromium, open while a few minutes of
 * traffic swell and ebb (some tasks failing, some slow, some delayed); then the picture.
 *
 *   node --import tsx scripts/dashboard-screenshot.ts [seconds of traffic, default 300]
 */
import { launchChromium, openPage } from "../test/helpers/browser.ts";
import { freePort, NatsServer, waitForPort } from "../test/helpers/nats-server.ts";
import { ROOT, runEdgeq } from "../test/helpers/processes.ts";

const seconds = Number(process.argv[2] ?? 300);
const TOKEN = "screenshot-token-0123456789";
const server = await NatsServer.start();
const port = await freePort();
const origin = `http://127.0.0.1:${port}`;
const env = { NATS_URL: server.url, PORT: String(port), EDGEQ_API_TOKENS: `${TOKEN}:read,submit,admin` };
const procs = [
  runEdgeq("node", ["serve"], env),
  runEdgeq("node", ["worker", "workers/demo.ts", "--queues", "default,emails"], { NATS_URL: server.url }),
  runEdgeq("deno", ["worker", "workers/demo.ts", "--queues", "default,emails"], { NATS_URL: server.url }),
];
try {
  await procs[0].waitFor(/API listening/, 60_000);
  await waitForPort(port);
  const post = (body: unknown) =>
    fetch(`${origin}/tasks`, { method: "POST", headers: { Authorization: `Bearer ${TOKEN}` }, body: JSON.stringify(body) }).then((r) => r.json());
  const browser = await launchChromium();
  const { page } = await openPage(browser, origin);
  await page.setViewportSize({ width: 1360, height: 640 });
  await page.goto(`${origin}/dashboard`);
  await page.fill("#token-form input", TOKEN);
  await page.click("#token-form button");
  await page.waitForSelector("#workers table");
  await page.waitForSelector("#live.live");
  await post({ type: "sleep", data: { ms: 600_000 }, queue: "emails", delay_ms: 600_000 });
  for (let s = 0; s < seconds; s++) {
    const rate = Math.round(18 + 12 * Math.sin(s / 25) + 6 * Math.sin(s / 7));
    const batch = Array.from({ length: rate }, (_, i) => {
      const queue = i % 3 ? "default" : "emails";
      const priority = (["high", "normal", "normal", "low"] as const)[i % 4];
      if ((i + s) % 23 === 0) return { type: "fail", data: { attempt: s }, max_attempts: 1, queue };
      if (i % 11 === 3) return { type: "sleep", data: { ms: 1500 + (i % 5) * 400 }, queue, priority };
      return { type: "process", data: `task ${s}.${i}`, queue, priority };
    });
    await post(batch);
    if (s % 40 === 0) await post({ type: "process", data: "later", delay_ms: 3_600_000 });
    await new Promise((r) => setTimeout(r, 1000));
  }
  await post(Array.from({ length: 30 }, (_, i) => ({ type: "sleep", data: { ms: 4000 }, priority: i % 2 ? "high" : "low" })));
  await page.waitForTimeout(2500);
  await page.screenshot({ path: `${ROOT}docs/dashboard.png`, fullPage: true });
  await browser.close();
  console.log("wrote docs/dashboard.png");
} finally {
  await Promise.all(procs.map((p) => p.stop()));
  await server.stop();
}
