/**
 * A server-sent-events parser (the `text/event-stream` format of the HTML standard), fed
 * with text chunks as they arrive. Pure: no I/O, so it works in browsers and in Node.
 *
 * Example:
 *   const p = new SseParser((ev) => console.log(ev.event, ev.data));
 *   p.push('event: progress\ndata: {"progress":40}\n\n');
 */
export interface SseEvent {
  /** `event:` field; `message` when absent. */
  event: string;
  /** `data:` lines joined with "\n". */
  data: string;
  /** `id:` field of this event, or the last one seen. */
  id: string | undefined;
  /** `retry:` field, ms, when the server sent one. */
  retry: number | undefined;
}

export class SseParser {
  #buffer = '';
  #event = '';
  #data: string[] = [];
  #hasData = false;
  #lastId: string | undefined;
  #retry: number | undefined;
  readonly #onEvent: (ev: SseEvent) => void;

  constructor(onEvent: (ev: SseEvent) => void) {
    this.#onEvent = onEvent;
  }

  get lastEventId(): string | undefined {
    return this.#lastId;
  }

  push(chunk: string): void {
    this.#buffer += chunk;
    for (;;) {
      const m = /\r\n|\r|\n/.exec(this.#buffer);
      if (!m) break;
      // A lone "\r" at the very end may be the first half of "\r\n": wait for more.
      if (m[0] === '\r' && m.index === this.#buffer.length - 1) break;
      const line = this.#buffer.slice(0, m.index);
      this.#buffer = this.#buffer.slice(m.index + m[0].length);
      this.#line(line);
    }
  }

  /** The stream ended: an unterminated event is dropped, as the standard says. */
  end(): void {
    this.#buffer = '';
    this.#reset();
  }

  #line(line: string): void {
    if (line === '') {
      if (this.#hasData) {
        this.#onEvent({ event: this.#event || 'message', data: this.#data.join('\n'), id: this.#lastId, retry: this.#retry });
      }
      this.#reset();
      return;
    }
    if (line.startsWith(':')) return; // comment / keep-alive
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    switch (field) {
      case 'event':
        this.#event = value;
        break;
      case 'data':
        this.#data.push(value);
        this.#hasData = true;
        break;
      case 'id':
        if (!value.includes('\0')) this.#lastId = value;
        break;
      case 'retry':
        if (/^\d+$/.test(value)) this.#retry = Number(value);
        break;
      default:
        break;
    }
  }

  #reset(): void {
    this.#event = '';
    this.#data = [];
    this.#hasData = false;
  }
}
