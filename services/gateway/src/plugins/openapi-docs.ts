// The OpenAPI document of the routes registered after it, served at /docs/json (and /docs/yaml),
// with a browsable page at /docs; what the document says is ../openapi.ts. Registered in the
// app's own context, so that @fastify/swagger sees the routes of every plugin.
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { documentOptions } from '../openapi.ts';
import { unencapsulated } from './unencapsulated.ts';

export interface OpenApiDocsOptions {
  /** The document's server URL. */
  publicUrl: string;
}

export const openApiDocs = unencapsulated<OpenApiDocsOptions>('gateway-openapi-docs', (app, opts, done) => {
  // Loaded in this order once this function is done: the document, then its page.
  void app.register(swagger, documentOptions(opts.publicUrl));
  void app.register(swaggerUi, { routePrefix: '/docs' });
  done();
});
