/// <reference lib="deno.ns" />
/**
 * The `edgeq` command on Deno over WebSocket (`NATS_URL=ws://host:8080`), for edge hosts that
 * allow only WebSockets out. It and everything it imports stays clear of `node:` built-ins: the
 * tests bundle it for a neutral platform to keep it so.
 */
import { wsconnect } from "@nats-io/nats-core";
import { runCli } from "../../cli.ts";
import { denoPlatform } from "./platform.ts";

await runCli(Deno.args, { ...denoPlatform, name: "deno-websocket", connect: wsconnect });
