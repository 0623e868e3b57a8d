// The live alert stream: one native EventSource on /api/alerts/stream. The browser reconnects by
// itself after a dropped connection and resends Last-Event-ID, so the server resumes where this
// client stopped; this module only decodes the three event types and reports the connection state.
import type { AlertLabel, DeskAlert } from '../../src/api-types.ts';

export type StreamState =
  /** the connection is open and events flow */
  | 'open'
  /** connecting for the first time, or the browser is reconnecting by itself */
  | 'connecting'
  /** the server refused the stream (an HTTP error): the browser will not retry, the caller must */
  | 'failed';

export interface AlertStreamHandlers {
  onAlert(alert: DeskAlert): void;
  onLabel(label: AlertLabel): void;
  /** The server cannot resume this stream: reload the history and open a new stream. */
  onReset(message: string): void;
  onState(state: StreamState): void;
  /** An event whose data was not the JSON it should be. */
  onBadEvent(type: string, err: unknown): void;
}

export interface AlertStream {
  close(): void;
}

export const openAlertStream = (
  cursor: string,
  handlers: AlertStreamHandlers,
  createEventSource: (url: string) => EventSource = (url) => new EventSource(url),
): AlertStream => {
  const source = createEventSource(`/api/alerts/stream?cursor=${encodeURIComponent(cursor)}`);
  let closed = false;

  const on = (type: string, handle: (data: unknown) => void) => {
    source.addEventListener(type, (event: MessageEvent<string>) => {
      if (closed) return;
      let data: unknown;
      try {
        data = JSON.parse(event.data);
      } catch (err) {
        handlers.onBadEvent(type, err);
        return;
      }
      handle(data);
    });
  };

  on('alert', (data) => handlers.onAlert(data as DeskAlert));
  on('label', (data) => handlers.onLabel(data as AlertLabel));
  on('reset', (data) => {
    const message = (data as { message?: unknown } | null)?.message;
    handlers.onReset(typeof message === 'string' ? message : 'the stream cannot be resumed');
  });
  source.onopen = () => {
    if (!closed) handlers.onState('open');
  };
  source.onerror = () => {
    if (closed) return;
    // CONNECTING: the browser retries by itself. CLOSED: it gave up (an HTTP error or a wrong
    // content type), and only a new EventSource — opened by the caller — can continue.
    handlers.onState(source.readyState === EventSource.CLOSED ? 'failed' : 'connecting');
  };
  handlers.onState('connecting');

  return {
    close() {
      closed = true;
      source.close();
    },
  };
};
