/**
 * The package as a user gets it: `npm pack`, installed into a fresh project from the tarball, then a
 * worker and a submission through the installed `edgeq` command on Node, and through the library
 * (`import "edgeq"`) on Node, Deno (`npm:edgeq`, from that project's node_modules) and Bun. The
 * declarations type-check in the user's project, and the JSR dry run passes.
 * Needs `npm run build` first (npm test does it); the install reaches the npm registry.
 */
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, expect, test } from "vitest";
import { DENO, ROOT } from "../deploy/commands.ts";
import { EdgeqProcess } from "./helpers/processes.ts";
import { freePort } from "./helpers/nats-server.ts";
import { useNats } from "./helpers/setup.ts";
import { spawn } from "node:child_process";

const run = promisify(execFile);
const env = useNats();
const dir = mkdtempSync(join(tmpdir(), "edgeq-package-"));
const project = join(dir, "project");
const BUN = `${ROOT}node_modules/.bin/bun`;
let installOutput = "";

/** Runs a command in the project; resolves with its output, both streams. */
async function inProject(command: string, args: string[], extraEnv: Record<string, string> = {}): Promise<string> {
  const { stdout, stderr } = await run(command, args, { cwd: project, env: { ...process.env, NATS_URL: env.server.url, ...extraEnv }, timeout: 60_000 });
  return stdout + stderr;
}

beforeAll(async () => {
  // The tarball of what is built; `npm test` has just built it (prepack would build it again).
  const { stdout } = await run("npm", ["pack", "--ignore-scripts", "--json", "--pack-destination", dir], { cwd: ROOT });
  const tarball = join(dir, JSON.parse(stdout)[0].filename);
  mkdirSync(project);
  writeFileSync(join(project, "package.json"), JSON.stringify({ name: "try-edgeq", private: true, type: "module" }));
  // Deno takes `npm:` packages from this node_modules rather than downloading them.
  writeFileSync(join(project, "deno.json"), JSON.stringify({ nodeModulesDir: "manual" }));
  const { stdout: out, stderr } = await run("npm", ["install", tarball, "--no-audit", "--no-fund"], { cwd: project, timeout: 80_000 });
  installOutput = out + stderr;
}, 90_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test("npm install of the tarball on this Node warns nothing", () => {
  expect(process.version).toMatch(/^v\d+/);
  expect(installOutput).toMatch(/added \d+ packages/);
  expect(installOutput).not.toMatch(/warn|EBADENGINE/i);
});

test("the installed `edgeq` command runs a worker and a submission on Node", async () => {
  writeFileSync(join(project, "worker.mjs"), 'export const handlers = { greet: (name) => ({ hello: name }) };\n');
  const worker = new EdgeqProcess(
    spawn(join(project, "node_modules/.bin/edgeq"), ["worker", "worker.mjs", "--queues", "cli"], {
      cwd: project, env: { ...process.env, NATS_URL: env.server.url }, stdio: ["ignore", "pipe", "pipe"], detached: true,
    }),
  );
  try {
    await worker.waitFor(/worker \S+ \(node\) serving cli/);
    const out = await inProject(join(project, "node_modules/.bin/edgeq"), ["submit", "greet", "npm", "--queue", "cli", "--wait", "--json"]);
    expect(JSON.parse(out)).toMatchObject({ status: "completed", result: { hello: "npm" } });
  } finally {
    await worker.stop();
  }
});

test("the README's first commands run from the install: npx edgeq dev, then submit --wait and top --once", async () => {
  const [port, natsPort] = [await freePort(), await freePort()];
  const dev = new EdgeqProcess(
    spawn("npx", ["edgeq", "dev", "--port", String(port), "--nats-port", String(natsPort)], {
      cwd: project, env: { ...process.env, NATS_URL: "" }, stdio: ["ignore", "pipe", "pipe"], detached: true,
    }),
  );
  try {
    await dev.waitFor(new RegExp(`started nats-server at nats://127.0.0.1:${natsPort}`));
    await dev.waitFor(/worker \S+ \(node\)/);
    const local = { NATS_URL: `nats://127.0.0.1:${natsPort}` };
    const out = await inProject("npx", ["edgeq", "submit", "process", "Hello Distributed Systems!", "--wait"], local);
    expect(out).toMatch(/^result +{"original":"Hello Distributed Systems!","processed":"HELLO DISTRIBUTED SYSTEMS!"/m);
    await dev.waitFor(/demo: process \S+ attempt 1: "Hello Distributed Systems!"/);
    expect(await inProject("npx", ["edgeq", "top", "--once"], local)).toMatch(/^edgeq top — .* healthy$/m);
  } finally {
    dev.kill("SIGTERM");
    await dev.exited;
    await dev.stop();
  }
});

/** A worker and a submission with the library, written as a user would; prints its runtime and the outcome. */
const LIBRARY_SCRIPT = (edgeqModule: string, natsModule: string) => `
import { connect } from "${natsModule}";
import { Edgeq } from "${edgeqModule}";
const runtime = typeof Deno !== "undefined" ? "deno" : typeof Bun !== "undefined" ? "bun" : "node";
const api = await import("${edgeqModule}/api");
const cli = await import("${edgeqModule}/cli");
const nc = await connect({ servers: process.env.NATS_URL });
const edgeq = await Edgeq.open(nc);
const queue = "lib-" + runtime;
const worker = await edgeq.worker({ twice: (n) => n * 2 }, { queues: [queue] });
const { id } = await edgeq.queue(queue).submit("twice", 21);
const record = await edgeq.tasks.waitFor(id, 20000);
// The dashboard's bundle ships with the package, where the installed API looks for it.
const dashboard = (await api.createApi(edgeq).request("/dashboard/dashboard.js")).status;
console.log(JSON.stringify({ runtime, status: record?.status, result: record?.result, api: typeof api.createApi, cli: typeof cli.runCli, dashboard }));
await worker.stop();
await nc.drain();
`;

test.each([
  ["node", () => inProject(process.execPath, ["lib.mjs"])],
  ["deno", () => inProject(DENO, ["run", "-A", "lib-deno.mjs"])],
  ["bun", () => inProject(BUN, ["lib.mjs"])],
])("the library from the tarball runs a worker and a submission on %s", async (runtime, runIt) => {
  writeFileSync(join(project, "lib.mjs"), LIBRARY_SCRIPT("edgeq", "@nats-io/transport-node"));
  writeFileSync(join(project, "lib-deno.mjs"), LIBRARY_SCRIPT("npm:edgeq", "npm:@nats-io/transport-node"));
  const out = await runIt();
  expect(JSON.parse(out.trim().split("\n").at(-1)!)).toEqual({ runtime, status: "completed", result: 42, api: "function", cli: "function", dashboard: 200 });
});

test.each([
  ["node", () => inProject(process.execPath, ["try.mjs"])],
  ["deno", () => inProject(DENO, ["run", "-A", "try.mjs"])],
  ["bun", () => inProject(BUN, ["try.mjs"])],
])("the README's library program runs as written on %s: prints the outcome, stops and exits", async (_runtime, runIt) => {
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");
  const program = /## The library[\s\S]*?```js\n([\s\S]*?)```/.exec(readme)![1];
  writeFileSync(join(project, "try.mjs"), program);
  expect(await runIt()).toMatch(/^completed \{\s*url: ["']a\.png["'],\s*width: 200,?\s*\}\n$/);
});

test("the .d.ts files type-check in the user's project, and catch a wrong type", async () => {
  writeFileSync(
    join(project, "check.ts"),
    `import { Edgeq, type TaskRecord, ValidationError } from "edgeq";
import { createApi } from "edgeq/api";
import { runCli } from "edgeq/cli";
const open: typeof Edgeq.open = Edgeq.open;
const record: TaskRecord | null = null;
void [open, record, createApi, runCli, ValidationError];
// @ts-expect-error: the declarations are real types, not any
const wrong: number = Edgeq.open;
void wrong;
`,
  );
  const compilerOptions = { noEmit: true, strict: true, module: "nodenext", moduleResolution: "nodenext", target: "es2022", lib: ["es2023", "dom"], types: [], skipLibCheck: true };
  writeFileSync(join(project, "tsconfig.json"), JSON.stringify({ compilerOptions, files: ["check.ts"] }));
  await expect(inProject(process.execPath, [`${ROOT}node_modules/typescript/bin/tsc`, "-p", "."])).resolves.toBe("");
});

test("deno.json publishes to JSR (dry run), at package.json's version", async () => {
  const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8"));
  const deno = JSON.parse(readFileSync(join(ROOT, "deno.json"), "utf8"));
  expect(deno.version).toBe(pkg.version);
  expect(Object.keys(deno.exports)).toEqual(Object.keys(pkg.exports).filter((k) => k !== "./package.json"));
  const { stdout, stderr } = await run(DENO, ["publish", "--dry-run", "--allow-dirty", "--allow-slow-types"], { cwd: ROOT, timeout: 60_000 });
  expect(stdout + stderr).toMatch(/Dry run complete/);
});
