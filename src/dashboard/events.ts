/**
 * Browser-only. The task events, read from the API's `GET /events` (server-sent events) with
 * fetch() and a stream reader: EventSource cannot send the Authorization header. Each message is
 * `event: <event>` and `data: <JSON>`; a dropped stream is opened again after a pause.
 */
import type { TaskEvent } from "../events/event.ts";
import { authHeaders } from "./api.ts";

export type { TaskEvent };

export type StreamState = "connecting" | "live" | "refused" | "down";

const RETRY_MS = 2000;

export class EventStream {
  readonly #listeners = new Set<(e: TaskEvent) => void>();
  #abort: AbortController | null = null;

  constructor(private readonly onState: (state: StreamState, detail?: string) => void) {}

  /** Calls `fn` with every event until the returned function is called. */
  on(fn: (e: TaskEvent) => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  /** (Re)opens the stream, with the token now stored. */
  start(): void {
    this.#abort?.abort();
    const abort = (this.#abort = new AbortController());
    void this.#run(abort.signal);
  }

  async #run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      this.onState("connecting");
      try {
        const res = await fetch("/events", { headers: { ...authHeaders(), Accept: "text/event-stream" }, signal });
        if (res.status === 401 || res.status === 403) {
          const body = await res.json().catch(() => ({}));
          return this.onState("refused", (body as { error?: string }).error);
        }
        if (!res.ok || !res.body) throw new Error(`GET /events answered ${res.status}`);
        this.onState("live");
        await this.#read(res.body, signal);
        this.onState("down", "the event stream ended");
      } catch (err) {
        if (signal.aborted) return;
        this.onState("down", (err as Error).message);
      }
      await new Promise((r) => setTimeout(r, RETRY_MS));
    }
  }

  async #read(body: ReadableStream<Uint8Array>, signal: AbortSignal): Promise<void> {
    const reader = body.getReader();
    const decoder = new TextDecoder();
    signal.addEventListener("abort", () => void reader.cancel().catch(() => {}), { once: true });
    let buffered = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffered += decoder.decode(value, { stream: true }).replace(/\r\n?/g, "\n");
      let end: number;
      while ((end = buffered.indexOf("\n\n")) >= 0) {
        this.#dispatch(buffered.slice(0, end));
        buffered = buffered.slice(end + 2);
      }
    }
  }

  /** One SSE message: its `data:` lines joined (comments and other fields ignored). */
  #dispatch(message: string): void {
    const data = message.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5).replace(/^ /, "")).join("\n");
    if (!data) return;
    let event: TaskEvent;
    try {
      event = JSON.parse(data);
    } catch {
      return;
    }
    for (const fn of this.#listeners) fn(event);
  }
}
