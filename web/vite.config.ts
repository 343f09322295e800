// Two pages: the app (index.html) and GraphiQL (graphiql.html), both from bundled assets only — every page Strix
// serves must work on a machine without internet. The gateway serves web/dist; nothing here runs at run time.
import { resolve } from "node:path";

import { defineConfig } from "vitest/config";

export default defineConfig({
  build: {
    outDir: "dist",
    emptyOutDir: true,
    chunkSizeWarningLimit: 2500,
    rollupOptions: {
      // GraphiQL's React parts carry "use client" directives, meaningless in a plain bundle.
      onwarn(warning, warn) {
        if (warning.code !== "MODULE_LEVEL_DIRECTIVE") warn(warning);
      },
      input: {
        app: resolve(import.meta.dirname, "index.html"),
        graphiql: resolve(import.meta.dirname, "graphiql.html"),
      },
    },
  },
  server: {
    // `npm run dev` against a running `strix up`: the API stays on its own port.
    proxy: { "/graphql": { target: "http://127.0.0.1:8000", ws: true }, "/auth": "http://127.0.0.1:8000" },
  },
  test: { include: ["test/**/*.test.ts"], environment: "node" },
});
