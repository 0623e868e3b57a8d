// Builds the fraud desk's browser UI into services/dashboard/dist, which the desk's server serves
// at `/`. JSX goes through Vite 8's built-in Oxc transform (no React plugin, no fast refresh).
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const webDir = fileURLToPath(new URL('.', import.meta.url));

export default defineConfig({
  root: webDir,
  base: '/',
  oxc: { jsx: { runtime: 'automatic', importSource: 'react' } },
  build: {
    outDir: fileURLToPath(new URL('../dist', import.meta.url)),
    emptyOutDir: true,
  },
  // `vite --config web/vite.config.ts` for development: the API comes from a running desk server.
  server: { proxy: { '/api': 'http://127.0.0.1:8081' } },
});
