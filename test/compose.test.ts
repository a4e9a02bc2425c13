/**
 * docker-compose.yml, checked against the project (no Docker engine needed): the NATS services boot
 * the deploy/nats/ files with every variable those files read, the routes name the three nodes,
 * images are pinned, and every file and npm script a service runs exists.
 */
import { existsSync, readFileSync } from "node:fs";
import { join, posix } from "node:path";
import { expect, test } from "vitest";
import { parse } from "yaml";
import { NATS_CONFIG_DIR } from "../deploy/nats-node.ts";
import { ENV_NAMES } from "../src/client/settings.ts";
import { ROOT } from "./helpers/processes.ts";

interface Service {
  image?: string;
  command?: string[];
  environment?: Record<string, string>;
  volumes?: string[];
  ports?: string[];
  working_dir?: string;
  healthcheck?: { test?: string[]; disable?: boolean };
  container_name?: string;
  depends_on?: Record<string, { condition: string }>;
  profiles?: string[];
}

const compose = parse(readFileSync(join(ROOT, "docker-compose.yml"), "utf8"), { merge: true }) as {
  services: Record<string, Service>;
  volumes: Record<string, unknown>;
};
const services = Object.entries(compose.services);
const natsServices = services.filter(([, s]) => s.image?.startsWith("nats:"));
const clusterNodes = natsServices.filter(([, s]) => s.environment?.NATS_ROUTES);
const edgeqServices = services.filter(([, s]) => s.environment?.NATS_URL);

/** The host path a container path maps to through the service's bind mounts (relative to ROOT), if any. */
function hostPath(service: Service, path: string): string | undefined {
  const absolute = posix.isAbsolute(path) ? path : posix.join(service.working_dir ?? "/", path);
  for (const volume of service.volumes ?? []) {
    const [source, target] = volume.split(":");
    if (!source.startsWith(".")) continue;
    if (absolute === target || absolute.startsWith(`${target}/`)) return join(ROOT, source, absolute.slice(target.length));
  }
  return undefined;
}

/** The variables a deploy/nats file reads, following its includes. */
function configVariables(file: string): Set<string> {
  const text = readFileSync(join(NATS_CONFIG_DIR, file), "utf8").replace(/#.*$/gm, "");
  const included = [...text.matchAll(/^\s*include\s+\.\/(\S+)/gm)].flatMap((m) => [...configVariables(m[1])]);
  return new Set([...text.matchAll(/\$([A-Z_]+)/g)].map((m) => m[1]).concat(included));
}

/** `[a, b]` as nats-server reads a list from a variable. */
const list = (value: string) => value.replace(/^\[|\]$/g, "").split(",").map((s) => s.trim());
const hostPort = (url: string) => new URL(url.replace(/^[a-z-]+:/, "http:")).host;

test("three NATS nodes form the cluster, each with a name, a named volume and monitoring on 8222", () => {
  expect(clusterNodes.map(([name]) => name)).toEqual(["nats-1", "nats-2", "nats-3"]);
  for (const [name, service] of clusterNodes) {
    const env = service.environment!;
    expect(env.NATS_NAME, name).toBe(name);
    expect(env.NATS_MONITOR, name).toMatch(/:8222$/);
    const store = service.volumes!.map((v) => v.split(":")).find(([, target]) => target === env.NATS_STORE);
    expect(store, `${name} keeps ${env.NATS_STORE} in a named volume`).toBeDefined();
    expect(Object.keys(compose.volumes)).toContain(store![0]);
  }
  expect(new Set(clusterNodes.map(([, s]) => s.volumes!.find((v) => v.endsWith(":/data"))))).toHaveProperty("size", 3);
});

test("each node's routes name the three nodes on their cluster port", () => {
  for (const [name, service] of clusterNodes) {
    const env = service.environment!;
    const port = env.NATS_CLUSTER_LISTEN.split(":").pop();
    expect(list(env.NATS_ROUTES).map(hostPort), name).toEqual(clusterNodes.map(([node]) => `${node}:${port}`));
  }
});

test("every NATS service boots a deploy/nats file and sets every variable that file reads", () => {
  expect(natsServices.length).toBeGreaterThanOrEqual(3);
  for (const [name, service] of natsServices) {
    const [flag, config] = service.command!;
    expect(flag, name).toBe("-c");
    const file = hostPath(service, config);
    expect(file && existsSync(file), `${name}: ${config} is a file in deploy/`).toBe(true);
    expect(file!.startsWith(NATS_CONFIG_DIR), name).toBe(true);
    const missing = [...configVariables(file!.slice(NATS_CONFIG_DIR.length))].filter((v) => !service.environment?.[v]);
    expect(missing, name).toEqual([]);
  }
  const websocket = clusterNodes.filter(([, s]) => s.environment!.NATS_WS_LISTEN);
  expect(websocket.map(([, s]) => s.command![1])).toEqual(["/etc/nats/cluster-websocket.conf"]);
});

test("images are pinned to exact versions: NATS 2.10 or newer, Deno as in package.json, Node 20 or newer", () => {
  const deno = JSON.parse(readFileSync(join(ROOT, "node_modules/deno/package.json"), "utf8")).version;
  for (const [name, { image }] of services) {
    expect(image, name).toMatch(/^[a-z0-9/._-]+:\d+\.\d+\.\d+(-[a-z0-9.-]+)?$/);
    const [repo, tag] = image!.split(":");
    const [major, minor] = tag.split(/[.-]/).map(Number);
    if (repo === "nats") expect(major * 100 + minor, name).toBeGreaterThanOrEqual(210);
    else if (repo === "denoland/deno") expect(tag, name).toBe(deno);
    else if (repo === "node") expect(major, name).toBeGreaterThanOrEqual(20);
    else if (repo === "jaegertracing/all-in-one") expect(major, name).toBeGreaterThanOrEqual(1);
    else throw new Error(`${name}: unexpected image ${image}`);
  }
});

test("the files and npm scripts the services run exist in the project", () => {
  const scripts = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).scripts;
  for (const [name, service] of services.filter(([, s]) => s.working_dir === "/app")) {
    const command = service.command!;
    const files = command.filter((arg) => /\.(ts|js)$/.test(arg));
    expect(files.length + (command[0] === "npm" ? 1 : 0), `${name} runs something`).toBeGreaterThan(0);
    for (const file of files) expect(existsSync(hostPath(service, file) ?? ""), `${name}: ${file}`).toBe(true);
    if (command[0] === "npm" && command[1] === "run") expect(scripts, name).toHaveProperty(command[2]);
  }
});

test("the API and workers: replicas 3, NATS URLs that point at the NATS services, known variables only", () => {
  expect(edgeqServices.map(([name]) => name)).toEqual(expect.arrayContaining(["api", "worker-node", "worker-deno", "worker-websocket"]));
  const listens = new Map(natsServices.flatMap(([name, s]) => [
    [`${name}:${s.environment!.NATS_LISTEN.split(":").pop()}`, "nats"],
    ...(s.environment!.NATS_WS_LISTEN ? [[`${name}:${s.environment!.NATS_WS_LISTEN.split(":").pop()}`, "ws"]] : []),
  ] as [string, string][]));
  for (const [name, service] of edgeqServices) {
    const env = service.environment!;
    expect(env.EDGEQ_REPLICAS, name).toBe("3");
    for (const url of env.NATS_URL.split(",")) expect(listens.get(hostPort(url)), `${name}: ${url}`).toBe(url.split(":")[0]);
    expect(Object.keys(env).filter((v) => !(ENV_NAMES as string[]).includes(v) && !v.startsWith("OTEL_")), name).toEqual([]);
  }
  expect(compose.services["worker-websocket"].environment!.NATS_URL).toMatch(/^ws:\/\//);
  expect(compose.services.api.healthcheck?.test?.join(" ")).toMatch(/\/health/);
  const scalable = compose.services["worker-node"];
  expect([scalable.container_name, scalable.ports]).toEqual([undefined, undefined]);
});

test("Jaeger takes OTLP/HTTP on 4318, and the Deno services export their traces to it", () => {
  const jaeger = services.filter(([, s]) => s.image?.startsWith("jaegertracing/"));
  expect(jaeger.map(([name]) => name)).toEqual(["jaeger"]);
  expect(jaeger[0][1].ports).toEqual(expect.arrayContaining(["4318:4318", "16686:16686"]));
  const traced = edgeqServices.filter(([, s]) => s.environment!.OTEL_DENO === "true");
  expect(traced.map(([name]) => name).sort()).toEqual(["api", "worker-deno"]);
  for (const [name, service] of traced) {
    expect(service.image, name).toMatch(/^denoland\/deno:/);
    expect(service.environment, name).toMatchObject({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://jaeger:4318", OTEL_SERVICE_NAME: expect.any(String) });
  }
});

test("the edge site's leaf node dials the three nodes' leaf port, and its worker names the hub's JetStream domain", () => {
  const leaf = compose.services["nats-leaf"];
  const port = clusterNodes[0][1].environment!.NATS_LEAF_LISTEN.split(":").pop();
  expect(list(leaf.environment!.NATS_HUB_URLS).map(hostPort)).toEqual(clusterNodes.map(([node]) => `${node}:${port}`));
  const domain = /domain:\s*(\S+)/.exec(readFileSync(join(NATS_CONFIG_DIR, "server.conf"), "utf8"))![1];
  expect(compose.services["worker-edge"].environment).toMatchObject({ NATS_URL: "nats://nats-leaf:4222", NATS_JS_DOMAIN: domain });
});
