// Marks a plugin as one that applies to the whole app: fastify then runs it in the context it is
// registered in instead of a child context, so its hooks, handlers, parsers and decorations reach
// every route — what fastify-plugin does, with the symbols fastify reads itself (skip-override;
// a display name and a name for `hasPlugin` and plugins' `dependencies`).
import type { FastifyPluginCallback, FastifyPluginOptions } from 'fastify';

export const unencapsulated = <Options extends FastifyPluginOptions>(
  name: string,
  plugin: FastifyPluginCallback<Options>,
): FastifyPluginCallback<Options> =>
  Object.assign(plugin, {
    [Symbol.for('skip-override')]: true,
    [Symbol.for('fastify.display-name')]: name,
    [Symbol.for('plugin-meta')]: { name },
  });
