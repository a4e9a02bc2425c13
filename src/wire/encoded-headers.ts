/**
 * Message headers whose wire bytes are made once, from text, for the publishes of the hot path.
 * nats.js's `headers()` validates and canonicalizes every `set` and rebuilds the text on every
 * publish: a fifth of a submission's cost. nats.js's publish reads headers only through their
 * `encode()` (test/encoded-headers.test.ts checks that a subscriber reads these back); every other
 * method works on a parsed copy, made on first use.
 */
import { type Match, type MsgHdrs, MsgHdrsImpl } from "@nats-io/nats-core";

const encoder = new TextEncoder();

/** A header name and value that can go on the wire as they are: no line break, no name with a colon. */
const SAFE_NAME = /^[^\r\n:]+$/;
const SAFE_VALUE = /^[^\r\n]*$/;

/** The text of a header block; names and values are checked, as nats.js's `set` checks them. */
export function headerLines(pairs: readonly (readonly [string, string])[]): string {
  let text = "";
  for (const [k, v] of pairs) {
    if (!SAFE_NAME.test(k) || !SAFE_VALUE.test(v)) throw new TypeError(`header ${JSON.stringify(k)} cannot be sent as it is`);
    text += `\r\n${k}: ${v}`;
  }
  return text;
}

export class EncodedHeaders implements MsgHdrs {
  readonly #bytes: Uint8Array;
  #parsed: MsgHdrsImpl | undefined;

  /** `lines`: `\r\n<name>: <value>` for each header, as `headerLines` makes them. */
  constructor(lines: string) {
    this.#bytes = encoder.encode(`NATS/1.0${lines}\r\n\r\n`);
  }

  encode(): Uint8Array {
    return this.#parsed ? this.#parsed.encode() : this.#bytes;
  }

  /** A parsed copy, for every method but encode: changes made through it are what is sent. */
  #copy(): MsgHdrs {
    return (this.#parsed ??= MsgHdrsImpl.decode(this.#bytes)) as MsgHdrs;
  }

  get hasError(): boolean {
    return false;
  }
  get status(): string {
    return "";
  }
  get code(): number {
    return 0;
  }
  get description(): string {
    return "";
  }
  get(k: string, match?: Match): string {
    return this.#copy().get(k, match);
  }
  set(k: string, v: string, match?: Match): void {
    this.#copy().set(k, v, match);
  }
  append(k: string, v: string, match?: Match): void {
    this.#copy().append(k, v, match);
  }
  has(k: string, match?: Match): boolean {
    return this.#copy().has(k, match);
  }
  keys(): string[] {
    return this.#copy().keys();
  }
  values(k: string, match?: Match): string[] {
    return this.#copy().values(k, match);
  }
  delete(k: string, match?: Match): void {
    this.#copy().delete(k, match);
  }
  last(k: string, match?: Match): string {
    return this.#copy().last(k, match);
  }
  [Symbol.iterator](): Iterator<[string, string[]]> {
    return this.#copy()[Symbol.iterator]();
  }
}
