import { fileURLToPath } from 'node:url';
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

/**
 * Production build of the dashboard: `vite build` (from this folder, or
 * `npm run build -w @triplane/dashboard`) writes apps/dashboard/dist, which `triplane control`
 * serves at `/`. Hashed file names under assets/ (served as immutable), no inline script (the
 * served Content-Security-Policy has no 'unsafe-inline'), no source maps in the shipped build.
 */
export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: '/',
  plugins: [react()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: false,
    // The polyfill would be bundled (not inlined), but every supported browser has modulepreload.
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
  },
});
