import { RequestError } from "../api/graphql";
import { notice } from "./dom";

/** An error as the viewer should read it: what failed, and the gateway's hint on how to fix it. */
export function errorNotice(error: unknown): HTMLElement {
  if (error instanceof RequestError) {
    const first = error.errors[0];
    const title = error.unauthorized ? "Sign in to see this." : "The question could not be answered.";
    const detail = error.errors.map((e) => e.message + (e.hint ? ` — ${e.hint}` : "")).join("\n");
    return notice("error", title, detail || first?.message);
  }
  return notice("error", "Something went wrong.", String(error));
}
