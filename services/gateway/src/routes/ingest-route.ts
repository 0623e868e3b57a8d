// POST /v1/events: one event or a batch, from an authenticated game server, in plain JSON. The
// token and the Content-Encoding are checked before the body is read; the body is read as one
// event or `{"events": [...]}` here (`eventsOf`), and what happens to the events is ../ingest.ts.
import type { FastifyPluginCallback } from 'fastify';
import { HttpError, misspeltBatch } from '../errors.ts';
import type { Ingest } from '../ingest.ts';
import { documentationOnly, ingestSchema } from '../openapi.ts';
import { authenticateHook } from '../plugins/auth.ts';
import { jsonBodyOf, refuseCompressedBody } from '../plugins/body-parsing.ts';

export interface IngestRouteOptions {
  ingest: Pick<Ingest, 'accept'>;
  maxEventsPerRequest: number;
}

export const ingestRoute: FastifyPluginCallback<IngestRouteOptions> = (app, opts, done) => {
  app.post(
    '/v1/events',
    {
      schema: ingestSchema(opts.maxEventsPerRequest),
      // The body is validated by validateIncomingEvent (../ingest.ts), which names each event's index.
      ...documentationOnly,
      onRequest: [authenticateHook(app), refuseCompressedBody],
    },
    async (req, reply) => {
      const rawEvents = eventsOf(jsonBodyOf(req), opts.maxEventsPerRequest);
      req.eventCount = rawEvents.length;
      const result = await opts.ingest.accept(req.caller!, rawEvents, req.log);
      return reply.status(202).send(result);
    },
  );
  done();
};

/** The events of a request body: one event, or `{"events": [...]}` with 1 to `max` events. */
export const eventsOf = (body: unknown, max: number): unknown[] => {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new HttpError('invalid_body');
  }
  if (!Object.hasOwn(body, 'events')) {
    // No field of an event is an array: an array in an object without a type is a misspelt
    // batch ({"event": [...]}), better named as such than validated as one event without a type.
    const arrays = Object.hasOwn(body, 'type')
      ? []
      : Object.entries(body).filter(([, v]) => Array.isArray(v));
    if (arrays.length > 0) throw misspeltBatch(arrays.map(([k]) => k));
    return [body];
  }
  const { events, ...rest } = body as { events: unknown };
  const extra = Object.keys(rest);
  if (extra.length > 0) {
    throw new HttpError(
      'invalid_body',
      `unexpected field(s) beside "events": ${extra.slice(0, 10).join(', ')}`,
    );
  }
  if (!Array.isArray(events) || events.length === 0 || events.length > max) {
    throw new HttpError('invalid_body', `"events" must be an array of 1 to ${max} events`);
  }
  return events;
};
