/**
 * OpenTelemetry traces, through `@opentelemetry/api` only: the application registers an SDK, or not.
 *
 * A submission is a PRODUCER span, and its W3C trace context (`traceparent`, `tracestate`, written
 * by the global propagator) travels in the task message's headers; a worker's run is a CONSUMER
 * span, child of that context, with the handler running inside it. Being headers, the link survives
 * whatever carries the message and copies them: the delayed stream, a dead letter and its requeue.
 *
 * With no SDK registered the global tracer provider is the API's proxy with no delegate: then
 * nothing is made, no span, no header, no context read; the check is one global lookup per task.
 */
import {
  type Attributes,
  context,
  type Context,
  propagation,
  ProxyTracerProvider,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  type TextMapGetter,
  trace,
  type Tracer,
} from "@opentelemetry/api";
import { Match, type Msg, type MsgHdrs } from "@nats-io/nats-core";
import { headerLines } from "./encoded-headers.ts";
import { headersOf } from "./message.ts";

const TRACER_NAME = "edgeq";
/** The API's own no-op provider: what the global proxy delegates to until an SDK is registered. */
const NO_SDK = new ProxyTracerProvider().getDelegate();

/** Whether an SDK is registered. A provider from another copy of the API counts as one: tracing then works, at the usual cost. */
function tracing(): boolean {
  const provider = trace.getTracerProvider();
  return !(provider instanceof ProxyTracerProvider) || provider.getDelegate() !== NO_SDK;
}

/** Asked for each span, not kept: an application may register another provider later (the SDK caches its tracers). */
const tracerOf = (): Tracer => trace.getTracer(TRACER_NAME);

/** The context a submission continues (the caller's active one); undefined when no SDK is registered. */
export function submitContext(): Context | undefined {
  return tracing() ? context.active() : undefined;
}

/** A submission's span, and the header lines that carry its context to the worker. */
export interface SubmitTrace {
  span: Span;
  lines: string;
  /** The same as header names and values: what a waiting task's record keeps until its release. */
  headers: Record<string, string>;
}

export function startSubmit(parent: Context, task: { type: string; queue: string; id: string }): SubmitTrace {
  const span = tracerOf().startSpan(`edgeq.submit ${task.type}`, { kind: SpanKind.PRODUCER, attributes: attributesOf(task) }, parent);
  const carrier: Record<string, string> = {};
  propagation.inject(trace.setSpan(parent, span), carrier);
  return { span, lines: headerLines(Object.entries(carrier)), headers: carrier };
}

/** Ends the spans of submissions: with the error, if they failed. */
export function endSubmits(traces: readonly (SubmitTrace | undefined)[], err?: unknown): void {
  for (const t of traces) if (t) endSpan(t.span, err);
}

/** Runs `submit`, then ends the spans `traces` gives (with its error, if it fails). */
export async function traced<T>(traces: () => readonly (SubmitTrace | undefined)[], submit: () => Promise<T>): Promise<T> {
  try {
    const done = await submit();
    endSubmits(traces());
    return done;
  } catch (err) {
    endSubmits(traces(), err);
    throw err;
  }
}

/**
 * Runs `submit` in the trace context of an HTTP request's headers (`header(name)` reads one), unless
 * a span is active already (an HTTP instrumentation's server span, itself the request's child).
 */
export function withRequestContext<T>(header: (name: string) => string | undefined, submit: () => T): T {
  if (!tracing()) return submit();
  const active = context.active();
  return trace.getSpan(active) ? submit() : context.with(propagation.extract(active, header, requestGetter), submit);
}

const requestGetter: TextMapGetter<(name: string) => string | undefined> = {
  keys: () => propagation.fields(),
  get: (header, key) => header(key),
};

/** A run's span, child of the context its message carries; undefined when no SDK is registered. */
export function startRun(msg: Msg, task: { type: string; queue: string; id: string; priority: string }, attempt: number): Span | undefined {
  if (!tracing()) return undefined;
  const parent = propagation.extract(ROOT_CONTEXT, headersOf(msg), natsGetter);
  const attributes = { ...attributesOf(task), "edgeq.priority": task.priority, "edgeq.attempt": attempt, "messaging.operation.type": "process" };
  return tracerOf().startSpan(`edgeq.run ${task.type}`, { kind: SpanKind.CONSUMER, attributes }, parent);
}

/** Calls `fn` with `span` active, so that what the handler traces is its child. */
export function inSpan<T>(span: Span, fn: () => T): T {
  return context.with(trace.setSpan(context.active(), span), fn);
}

/** Ends a span, recording `err` (an exception event, status ERROR) when there is one. */
export function endSpan(span: Span, err?: unknown): void {
  if (err !== undefined) {
    span.recordException(err instanceof Error ? err : String(err));
    span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? `${err.name}: ${err.message}` : String(err) });
  }
  span.end();
}

function attributesOf(task: { type: string; queue: string; id: string }): Attributes {
  return {
    "messaging.system": "edgeq",
    "messaging.destination.name": task.queue,
    "messaging.message.id": task.id,
    "edgeq.task.id": task.id,
    "edgeq.task.type": task.type,
    "edgeq.queue": task.queue,
  };
}

/** Reads trace headers whatever their case: a raw publisher may send `Traceparent`. */
const natsGetter: TextMapGetter<MsgHdrs | undefined> = {
  keys: (headers) => headers?.keys() ?? [],
  get: (headers, key) => headers?.get(key, Match.IgnoreCase) || undefined,
};
