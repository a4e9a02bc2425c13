/** edgeq on Deno over TCP: the npm transport, which Deno runs through its Node compatibility. */
import { connect } from "@nats-io/transport-node";
import type { Runtime } from "../runtime.ts";
import { denoPlatform } from "./platform.ts";

export const denoRuntime: Runtime = { ...denoPlatform, name: "deno", connect };
