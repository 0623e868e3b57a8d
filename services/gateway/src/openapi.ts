// The OpenAPI 3.1 document served at /docs/json: what integrators read. The route schemas here
// describe the API (app.ts validates bodies itself, with shared/src/events.ts, so that every
// problem is reported with its event index); each request and each error has an example, and
// the guarantees — all or nothing, idempotency, ordering, sandbox — are written out once, here.
// The error examples are errors the API throws, made by the registry (errors.ts).
import { Type, type TSchema } from '@sinclair/typebox';
import { IncomingEventSchema } from '@tradewatch/shared/events';
import {
  HttpError,
  bodyTooLarge,
  compressedBody,
  eventIdConflict,
  eventNotFound,
  invalidEvents,
  malformedJson,
  misspeltBatch,
  replyBodyOf,
} from './errors.ts';
import { SANDBOX_REASON } from './event-status.ts';

const EXAMPLE_TS = 1795608000000; // 2026-11-25T12:00:00Z

export const API_DESCRIPTION = `Game servers send the logins and trades of their players; tradewatch flags a trade much larger
than the player's usual ones made in a session whose IP none of the player's last 20 sessions used.
Only login sessions count for the IP: a trade's own \`ip\` is validated and archived, not compared.

**Authentication.** \`Authorization: Bearer <token>\`; the token says which game server you are
(\`gameServerId\` is never in the body). A *sandbox* token is answered exactly like a live one, but
its events go to a topic of their own: they never reach detection nor the analysts' archive, and
their eventIds are a namespace of their own.

**All or nothing.** A 202 means every event of the request is durably in Kafka (acknowledged by
all in-sync replicas) and will be processed and archived even if a process crashes afterwards.
Any other status means this call published none of the request.

**Idempotency.** \`eventId\` is the idempotency key, across all game servers: make it globally
unique (prefix it with your server id, or use a UUID). Within 24 h, sending an accepted eventId
again with the same content is answered 202 and counted in \`duplicates\` (nothing is published
again: retrying is always safe); sending it with different content (another amount, user, type…)
is a client bug, answered 409 \`event_id_conflict\` with the indexes of those events, and nothing
of the request is published. Past 24 h the pipeline still drops an eventId among the user's
last 41 events.

**Ordering.** Events of one user keep their order within a request, and across requests in the
order the 202s were returned: to keep a user's order, wait for a request's 202 before sending
that user's next events.

**Retries.** 429 and 503 carry \`Retry-After\` (seconds): retry the same body after it, with
jittered backoff. Never retry a 4xx other than 429: it will fail the same way.

**Where is my event?** \`GET /v1/events/{eventId}\` says when it was accepted and where (partition,
offset), whether the processors have applied it (and flagged it, with the alert id) or how far
behind they are, and whether it is archived.`;

/**
 * The options of a route whose schema only documents it: the route checks its input itself (to
 * name each problem in the API's words) and its replies are written as they are.
 */
export const documentationOnly = {
  validatorCompiler: () => (value: unknown) => ({ value }),
  serializerCompiler: () => (data: unknown) => JSON.stringify(data),
};

export const documentOptions = (publicUrl: string) => ({
  openapi: {
    openapi: '3.1.0',
    info: { title: 'tradewatch ingest API', version: '1.1.0', description: API_DESCRIPTION },
    servers: [{ url: publicUrl, description: 'this gateway' }],
    components: { securitySchemes: { bearer: { type: 'http' as const, scheme: 'bearer' } } },
    tags: [
      { name: 'events', description: 'sending events and asking where they are' },
      { name: 'health', description: 'liveness and readiness, without a token' },
    ],
  },
});

type Examples = Record<string, { summary: string; value: unknown }>;
/** Media-type examples (fastify-swagger moves `x-examples` of a schema there). */
const withExamples = <T extends TSchema>(schema: T, examples: Examples): T => ({
  ...schema,
  'x-examples': examples,
});

const ErrorBody = Type.Object(
  {
    error: Type.String({ description: 'a stable code' }),
    message: Type.String({ description: 'for people' }),
  },
  { additionalProperties: false },
);
const RetryAfter = {
  'retry-after': { type: 'integer', description: 'seconds to wait before retrying the same request' },
};
const error = (
  description: string,
  examples: Examples,
  extra: Record<string, TSchema> = {},
  headers = false,
) => ({
  ...withExamples(
    Type.Object({ ...ErrorBody.properties, ...extra }, { additionalProperties: false }),
    examples,
  ),
  description,
  ...(headers ? { headers: RetryAfter } : {}),
});
const errorExample = (summary: string, e: HttpError) => ({ summary, value: replyBodyOf(e) });

const loginExample = {
  eventId: 'gs-eu-1:login:8812',
  type: 'login',
  userId: 'player-42',
  ts: '2026-11-25T12:00:00Z',
  ip: '203.0.113.7',
};
const tradeExample = {
  eventId: 'gs-eu-1:trade:9911',
  type: 'trade',
  userId: 'player-42',
  ts: EXAMPLE_TS + 60_000,
  amount: 2500,
  currency: 'gold',
  itemId: 'sword-7',
  counterpartyId: 'player-77',
};

const EventFieldError = Type.Object({
  index: Type.Integer({
    minimum: 0,
    description: 'position of the event in the request (0 for a single event)',
  }),
  path: Type.String({ description: 'JSON pointer into that event, e.g. /amount' }),
  message: Type.String(),
});

const unauthorized = error('unauthorized: missing, unknown or malformed bearer token', {
  unauthorized: errorExample('no or unknown token', new HttpError('unauthorized')),
});
const internal = error('internal: a bug, or a non-retriable Kafka error; logged with the request id', {
  internal: errorExample('internal error', new HttpError('internal')),
});
const unavailable503 = (what: string, examples: Examples) => error(what, examples, {}, true);

export const ingestSchema = (maxEventsPerRequest: number) => ({
  summary: 'Submit one event or a batch of 1 to 1000 events',
  description:
    'The body is one event, or `{"events": [...]}` with 1 to ' +
    `${maxEventsPerRequest} events; at most 1 MiB of JSON in UTF-8, uncompressed ` +
    '(`Content-Type: application/json`; any `Content-Encoding` but identity is refused with 415). ' +
    'All or nothing: a 202 means every event is in Kafka (acks=all); any other status means none of ' +
    'this request was published by this call. Retry 503 and 429 with the same body after Retry-After.',
  tags: ['events'],
  security: [{ bearer: [] }],
  body: withExamples(
    Type.Union([
      IncomingEventSchema,
      Type.Object(
        { events: Type.Array(IncomingEventSchema, { minItems: 1, maxItems: maxEventsPerRequest }) },
        { additionalProperties: false, title: 'EventBatch' },
      ),
    ]),
    {
      batch: {
        summary: 'a batch: a login, then a trade of the same player',
        value: { events: [loginExample, tradeExample] },
      },
      login: { summary: 'one login (ts as RFC 3339)', value: loginExample },
      trade: { summary: 'one trade (ts as epoch milliseconds)', value: tradeExample },
      ipv6: {
        summary: 'a login over IPv6 (stored lower-case and compressed; ::ffff:a.b.c.d is stored as a.b.c.d)',
        value: { ...loginExample, eventId: 'gs-eu-1:login:8813', ip: '2001:DB8:0:0:0:0:0:7' },
      },
    },
  ),
  response: {
    202: withExamples(
      Type.Object(
        {
          accepted: Type.Integer({ description: 'events published by this request' }),
          duplicates: Type.Integer({
            description:
              'events whose eventId was already accepted with the same content (or repeated in the request); not published again',
          }),
        },
        { description: 'every event of the request is durably in Kafka' },
      ),
      {
        accepted: { summary: 'a new batch of two', value: { accepted: 2, duplicates: 0 } },
        retry: { summary: 'the same batch sent again (a retry)', value: { accepted: 0, duplicates: 2 } },
      },
    ),
    400: error(
      'invalid_events (with details), malformed_json or invalid_body; nothing published',
      {
        invalid_events: errorExample(
          'two events invalid',
          invalidEvents(2, 3, [
            { index: 0, path: '/amout', message: 'Unexpected property' },
            {
              index: 2,
              path: '/ts',
              message:
                'Expected a time between 2000-01-01T00:00:00Z and 24 hours after the server clock: ' +
                '1795608000 looks like epoch seconds; send milliseconds (1795608000000)',
            },
          ]),
        ),
        malformed_json: errorExample('not JSON', malformedJson('Unexpected end of JSON input')),
        invalid_body: errorExample('a typo of the batch wrapper', misspeltBatch(['event'])),
      },
      { details: Type.Optional(Type.Array(EventFieldError, { maxItems: 100 })) },
    ),
    401: unauthorized,
    409: error(
      'event_id_conflict: an eventId already accepted (or earlier in the request) with different content; nothing published',
      {
        event_id_conflict: errorExample('an eventId reused for another amount', eventIdConflict([1])),
      },
      {
        indexes: Type.Array(Type.Integer({ minimum: 0 }), {
          description: 'positions in the request of the events that reuse an eventId',
        }),
      },
    ),
    413: error('body_too_large: split the batch', {
      body_too_large: errorExample('over 1 MiB', bodyTooLarge(1048576)),
    }),
    415: error('unsupported_media_type: not application/json in UTF-8, or compressed', {
      compressed: errorExample('Content-Encoding: gzip', compressedBody('gzip')),
      media_type: errorExample('Content-Type: text/plain', new HttpError('unsupported_media_type')),
    }),
    429: error(
      'rate_limited: the game server exceeded its events per second; retry after Retry-After',
      {
        rate_limited: errorExample('over budget', new HttpError('rate_limited')),
      },
      {},
      true,
    ),
    500: internal,
    503: unavailable503(
      'unavailable (Kafka or Redis) or in_progress (the same eventId in flight); retry after Retry-After',
      {
        unavailable: errorExample('Kafka down', new HttpError('unavailable')),
        in_progress: errorExample(
          'your earlier attempt is still being published',
          new HttpError('in_progress'),
        ),
      },
    ),
  },
});

const NullableInt = (description: string) => Type.Union([Type.Integer(), Type.Null()], { description });

const Processed = Type.Union(
  [
    Type.Object(
      {
        state: Type.Literal('pending'),
        committedOffset: NullableInt("the processors' committed offset on the partition; null: none yet"),
        lag: Type.Integer({
          minimum: 1,
          description:
            'records of the partition, this one included, that the processors have still to commit',
        }),
      },
      { title: 'ProcessedPending' },
    ),
    Type.Object(
      {
        state: Type.Literal('done'),
        committedOffset: Type.Integer(),
        flagged: Type.Union([Type.Boolean(), Type.Null()], {
          description:
            'true: an alert was raised for this trade; false: none was (always false for a login); ' +
            'null: not known yet, the alert archive has not caught up (ask again in a second)',
        }),
        alertId: Type.Union([Type.String(), Type.Null()], { description: 'the alert id when flagged' }),
      },
      { title: 'ProcessedDone' },
    ),
    Type.Object(
      { state: Type.Literal('unknown'), reason: Type.String({ description: 'e.g. Kafka unavailable' }) },
      { title: 'ProcessedUnknown' },
    ),
    Type.Object(
      { state: Type.Literal('skipped'), reason: Type.String() },
      { title: 'ProcessedSkipped', description: 'sandbox events are never processed' },
    ),
  ],
  { description: 'whether the processors have applied the event to the player state (and the rule)' },
);

const Archived = Type.Union(
  [
    Type.Object(
      {
        state: Type.Literal('done'),
        archivedAt: Type.Integer({ description: 'epoch ms (second precision)' }),
      },
      { title: 'ArchivedDone' },
    ),
    Type.Object({ state: Type.Literal('pending') }, { title: 'ArchivedPending' }),
    Type.Object({ state: Type.Literal('unknown'), reason: Type.String() }, { title: 'ArchivedUnknown' }),
    Type.Object({ state: Type.Literal('skipped'), reason: Type.String() }, { title: 'ArchivedSkipped' }),
  ],
  { description: 'whether the event has its row in the archive (ClickHouse tradewatch.events)' },
);

const statusExample = {
  eventId: 'gs-eu-1:trade:9911',
  type: 'trade',
  userId: 'player-42',
  sandbox: false,
  accepted: { receivedAt: EXAMPLE_TS + 60_120, topic: 'game-events', partition: 2, offset: 48812 },
};

export const statusSchema = {
  summary: 'Where an accepted event is: accepted, processed (flagged?), archived',
  description:
    'Answers for the events this token sent (a sandbox token: its sandbox events) within the 24 h ' +
    'idempotency window; 404 for any other id. Built from what the pipeline keeps: the idempotency ' +
    "ledger, the processors' committed offsets, the alerts and the archive. Poll it: `processed` " +
    'goes from pending to done, `flagged` from null to true or false, `archived` from pending to done.',
  tags: ['events'],
  security: [{ bearer: [] }],
  params: Type.Object({
    eventId: Type.String({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9._:-]+$' }),
  }),
  response: {
    200: withExamples(
      Type.Object(
        {
          eventId: Type.String(),
          type: Type.Union([Type.Literal('login'), Type.Literal('trade')]),
          userId: Type.String(),
          sandbox: Type.Boolean({ description: 'sent with a sandbox token' }),
          accepted: Type.Object({
            receivedAt: Type.Integer({
              description: 'when the gateway received it, epoch ms (its receivedAt)',
            }),
            topic: Type.String(),
            partition: Type.Integer(),
            offset: Type.Integer(),
          }),
          processed: Processed,
          archived: Archived,
        },
        { description: 'where the event is' },
      ),
      {
        flagged: {
          summary: 'processed, flagged and archived',
          value: {
            ...statusExample,
            processed: {
              state: 'done',
              committedOffset: 48840,
              flagged: true,
              alertId: '2f1c8a4e-93b1-5d0e-8c61-7a0c2b9e4d13',
            },
            archived: { state: 'done', archivedAt: EXAMPLE_TS + 62_000 },
          },
        },
        pending: {
          summary: 'accepted, the processors 17 records behind it',
          value: {
            ...statusExample,
            processed: { state: 'pending', committedOffset: 48796, lag: 17 },
            archived: { state: 'pending' },
          },
        },
        sandbox: {
          summary: 'a sandbox event',
          value: {
            ...statusExample,
            sandbox: true,
            accepted: { ...statusExample.accepted, topic: 'tradewatch.sandbox.game-events', offset: 311 },
            processed: { state: 'skipped', reason: SANDBOX_REASON },
            archived: { state: 'skipped', reason: SANDBOX_REASON },
          },
        },
      },
    ),
    400: error('invalid_event_id: not a possible eventId', {
      invalid_event_id: errorExample('a space in the id', new HttpError('invalid_event_id')),
    }),
    401: unauthorized,
    404: error('not_found: no event of this game server with this id was accepted in the last 24 h', {
      not_found: errorExample('unknown id', eventNotFound('gs-eu-1:trade:9912')),
    }),
    500: internal,
    503: unavailable503('unavailable: Redis (the ledger) does not answer; retry after Retry-After', {
      unavailable: errorExample('Redis down', new HttpError('unavailable')),
    }),
  },
};
