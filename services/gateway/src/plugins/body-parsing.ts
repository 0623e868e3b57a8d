// Reading request bodies: JSON in UTF-8 is the only parser (fastify's text/plain one and any
// other are removed, so another media type is a 415 before its body is read), decoded and bounded
// in depth by ../json-body.ts; a compressed body is refused by its Content-Encoding, also before
// it is read (`refuseCompressedBody`, a route's onRequest hook: its bytes would otherwise fail as
// bad UTF-8); `jsonBodyOf` is the parsed body of a route that requires one.
import type { FastifyRequest, onRequestHookHandler } from 'fastify';
import { HttpError, compressedBody } from '../errors.ts';
import { isJsonMediaType, parseJsonBody } from '../json-body.ts';
import { unencapsulated } from './unencapsulated.ts';

export const bodyParsing = unencapsulated('gateway-body-parsing', (app, _opts, done) => {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (req, body, parsed) => {
    try {
      if (!isJsonMediaType(req.headers['content-type'])) throw new HttpError('unsupported_media_type');
      parsed(null, parseJsonBody(body as Buffer));
    } catch (err) {
      parsed(err as Error, undefined);
    }
  });
  done();
});

export const refuseCompressedBody: onRequestHookHandler = (req, _reply, done) => {
  const encoding = req.headers['content-encoding'];
  if (encoding !== undefined && encoding.trim().toLowerCase() !== 'identity') {
    done(compressedBody(encoding));
  } else {
    done();
  }
};

/** The body, which must have been sent as JSON: without one (or without the media type), a 415. */
export const jsonBodyOf = (req: FastifyRequest): unknown => {
  if (req.body === undefined || !isJsonMediaType(req.headers['content-type'])) {
    throw new HttpError('unsupported_media_type');
  }
  return req.body;
};
