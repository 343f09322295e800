// GraphiQL from bundled assets (strawberry's own page loads React and GraphiQL from a public CDN, a blank page
// offline). Queries and subscriptions go to this origin's /graphql with the signed-in user's access token.
import "graphiql/graphiql.css";

import { createGraphiQLFetcher } from "@graphiql/toolkit";
import { GraphiQL } from "graphiql";
import { createElement } from "react";
import { createRoot } from "react-dom/client";

import { authHeaders } from "./api/auth";
import { graphqlUrl, websocketUrl } from "./api/graphql";

// Set by an inline script of graphiql.html (the gateway may put a token in it).
declare const defaultHeaders: Record<string, string> | undefined;

async function start(): Promise<void> {
  const given = typeof defaultHeaders === "undefined" ? {} : defaultHeaders;
  const headers = Object.keys(given).length ? given : await authHeaders();
  const fetcher = createGraphiQLFetcher({
    url: graphqlUrl(),
    subscriptionUrl: websocketUrl(),
    headers,
    wsConnectionParams: headers,
  });
  const element = document.getElementById("graphiql");
  if (element === null) throw new Error("no #graphiql element");
  element.textContent = "";
  createRoot(element).render(
    createElement(GraphiQL, {
      fetcher,
      defaultEditorToolsVisibility: true,
      defaultQuery: "# Strix GraphiQL: the schema is generated from the module configs (see Docs).\n{\n  modules {\n    name\n    label\n    metrics { name label unit }\n    dimensions { name label }\n  }\n}\n",
    }),
  );
}

void start();
