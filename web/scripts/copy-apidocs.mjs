// Swagger UI for the API docs page (/docs), into the gateway package (strix_gateway/apidocs/, committed) as
// GraphiQL is: FastAPI's own page loads Swagger UI from a public CDN, a blank page offline. The files are
// swagger-ui-dist's as published (its version pinned by the lock file); `.ci/run` copies them again and fails
// when the committed copy differs.
import { copyFileSync, mkdirSync, rmSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const dist = dirname(require.resolve("swagger-ui-dist/package.json"));
const out = resolve(import.meta.dirname, "../../services/gateway/src/strix_gateway/apidocs");

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
for (const file of ["swagger-ui-bundle.js", "swagger-ui.css", "LICENSE", "NOTICE"]) {
  copyFileSync(resolve(dist, file), resolve(out, file));
}
console.log(`Swagger UI ${require("swagger-ui-dist/package.json").version} copied to ${out}`);
