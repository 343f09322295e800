// GraphiQL alone, into the gateway package (strix_gateway/graphiql/, committed): the gateway serves it at /graphql
// in every layout — a gateway container has no web/dist — with its assets under /graphiql/assets/. One JS and one
// CSS file (dynamic imports inlined), so the package carries a handful of files. `.ci/run` rebuilds it and fails
// when the committed copy differs from what the sources and the lock file build.
import { resolve } from "node:path";

import { defineConfig } from "vite";

export default defineConfig({
  base: "/graphiql/",
  build: {
    outDir: resolve(import.meta.dirname, "../services/gateway/src/strix_gateway/graphiql"),
    emptyOutDir: true,
    chunkSizeWarningLimit: 2500,
    rollupOptions: {
      // GraphiQL's React parts carry "use client" directives, meaningless in a plain bundle.
      onwarn(warning, warn) {
        if (warning.code !== "MODULE_LEVEL_DIRECTIVE") warn(warning);
      },
      input: { graphiql: resolve(import.meta.dirname, "graphiql.html") },
      output: { codeSplitting: false },
    },
  },
});
