// GET /v1/events/:eventId: where an accepted event of the caller's is. The id is checked here, to
// answer a bad one in the API's words; what the answer says is ../event-status.ts.
import type { FastifyPluginCallback } from 'fastify';
import { HttpError, eventNotFound } from '../errors.ts';
import type { EventStatusQuery } from '../event-status.ts';
import { documentationOnly, statusSchema } from '../openapi.ts';
import { authenticateHook } from '../plugins/auth.ts';

export interface EventStatusRouteOptions {
  status: EventStatusQuery;
}

const EVENT_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export const eventStatusRoute: FastifyPluginCallback<EventStatusRouteOptions> = (app, opts, done) => {
  app.get<{ Params: { eventId: string } }>(
    '/v1/events/:eventId',
    {
      schema: statusSchema,
      ...documentationOnly,
      onRequest: authenticateHook(app),
    },
    async (req) => {
      const { eventId } = req.params;
      if (!EVENT_ID.test(eventId)) throw new HttpError('invalid_event_id');
      const found = await opts.status.lookup(req.caller!, eventId);
      if (found === undefined) throw eventNotFound(eventId);
      return found;
    },
  );
  done();
};
