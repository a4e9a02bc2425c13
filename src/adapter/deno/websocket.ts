/// <reference lib="deno.ns" />
/**
 * The `edgeq` command on Deno over WebSocket (`NATS_URL=ws://host:8080`), for edge hosts that
 * allow only WebSockets out. It and everything it imports stays clear of `node:` built-ins: the
 * tests bundle it for a neutral platform to keep it so. Its argument parser is therefore
 * @pkgjs/parseargs, the code of node:util's parseArgs published without Node's built-ins (its
 * declared result type is looser than the one edgeq reads, hence the cast).
 */
import { wsconnect } from "@nats-io/nats-core";
import { parseArgs } from "@pkgjs/parseargs";
import { type ParseArgs, runCli } from "../../cli/mod.ts";
import { denoPlatform } from "./platform.ts";
import { denoTerminal } from "./terminal.ts";

await runCli(Deno.args, { ...denoPlatform, name: "deno-websocket", connect: wsconnect, parseArgs: parseArgs as unknown as ParseArgs, terminal: denoTerminal });
