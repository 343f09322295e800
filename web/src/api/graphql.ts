// One GraphQL client for the app: POST to this origin's /graphql with the access token, errors as data
// (message, hint, argument from the gateway's extensions), subscriptions over graphql-transport-ws.
import { createClient, type Client } from "graphql-ws";

import { authHeaders, dropToken } from "./auth";

export interface GraphQLErrorInfo {
  message: string;
  code?: string;
  hint?: string;
  argument?: string;
}

/** A failed request: what the gateway said (every error), or why the request did not reach it. */
export class RequestError extends Error {
  constructor(
    readonly errors: GraphQLErrorInfo[],
    readonly status: number | null = null,
  ) {
    super(errors.map((e) => e.message).join("; "));
  }

  get unauthorized(): boolean {
    return this.status === 401 || this.errors.some((e) => e.code === "UNAUTHORIZED" || e.code === "unauthorized");
  }
}

interface RawError {
  message: string;
  extensions?: { code?: string; hint?: string; argument?: string };
}

export function graphqlUrl(): string {
  return new URL("/graphql", window.location.href).toString();
}

export function websocketUrl(): string {
  const url = new URL("/graphql", window.location.href);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  return url.toString();
}

export function errorInfo(raw: RawError): GraphQLErrorInfo {
  const info: GraphQLErrorInfo = { message: raw.message };
  if (raw.extensions?.code) info.code = raw.extensions.code;
  if (raw.extensions?.hint) info.hint = raw.extensions.hint;
  if (raw.extensions?.argument) info.argument = raw.extensions.argument;
  return info;
}

/** Run one query; the data, or a RequestError carrying every error the gateway reported. */
export async function request<T>(query: string, variables: Record<string, unknown> = {}): Promise<T> {
  let response: Response;
  try {
    response = await fetch(graphqlUrl(), {
      method: "POST",
      credentials: "same-origin",
      headers: { "content-type": "application/json", accept: "application/json", ...(await authHeaders()) },
      body: JSON.stringify({ query, variables }),
    });
  } catch (error) {
    throw new RequestError([{ message: `the server did not answer (${String(error)})`, code: "NETWORK" }]);
  }
  if (response.status === 401) dropToken();
  let body: { data?: T; errors?: RawError[] };
  try {
    body = (await response.json()) as { data?: T; errors?: RawError[] };
  } catch {
    throw new RequestError([{ message: `HTTP ${response.status} ${response.statusText}` }], response.status);
  }
  if (body.errors?.length) throw new RequestError(body.errors.map(errorInfo), response.status);
  if (!response.ok || body.data === undefined) {
    throw new RequestError([{ message: `HTTP ${response.status} ${response.statusText}` }], response.status);
  }
  return body.data;
}

let wsClient: Client | null = null;

function subscriptions(): Client {
  wsClient ??= createClient({
    url: websocketUrl(),
    connectionParams: async () => await authHeaders(),
    retryAttempts: Infinity,
    shouldRetry: () => true,
  });
  return wsClient;
}

/** Each new answer of a subscription, until the returned function is called. */
export function subscribe<T>(
  query: string,
  variables: Record<string, unknown>,
  onData: (data: T) => void,
  onError: (error: RequestError) => void,
): () => void {
  return subscriptions().subscribe<T>(
    { query, variables },
    {
      next: (result) => {
        if (result.errors?.length) onError(new RequestError(result.errors.map((e) => errorInfo(e as RawError))));
        else if (result.data) onData(result.data);
      },
      error: (error) => onError(new RequestError([{ message: String(error), code: "NETWORK" }])),
      complete: () => undefined,
    },
  );
}
