// The sign-in page, drawn from what the installation offers (GET /auth/config): single sign-on through the
// OpenID Connect provider when one is configured, the development sign-in in embedded mode.

import { devSignIn, rememberSignIn, signInConfig, ssoUrl } from "../api/auth";
import { safePath } from "../router";
import { clear, h, notice, uid } from "./dom";

export async function mountSignIn(root: HTMLElement, returnTo: string, navigate: (path: string) => void): Promise<void> {
  clear(root, notice("loading", "Loading sign-in…"));
  let config;
  try {
    config = await signInConfig();
  } catch (error) {
    clear(root, notice("error", "Sign-in is not available.", String(error)));
    return;
  }
  const target = safePath(returnTo);
  const box = h("section", { class: "signin panel", "aria-labelledby": "signin-title" }, h("h1", { id: "signin-title" }, "Sign in to Strix"));
  if (config.provider) {
    box.append(
      h("a", {
        class: "button primary sso",
        href: ssoUrl(target),
        onclick: () => rememberSignIn(),
      }, `Sign in with ${config.provider}`),
    );
  }
  if (config.dev_sign_in) {
    const userId = uid("user");
    const rolesId = uid("roles");
    const status = h("p", { class: "problems", role: "status" });
    const form = h(
      "form",
      {
        class: "dev-signin",
        onsubmit: (event: Event) => {
          event.preventDefault();
          const form = event.target as HTMLFormElement;
          const field = (name: string): string => (form.elements.namedItem(name) as HTMLInputElement).value;
          const user = field("user").trim() || "developer";
          const roles = field("roles").split(",").map((r) => r.trim()).filter(Boolean);
          devSignIn(user, roles).then(
            () => navigate(target),
            (error: unknown) => {
              status.textContent = `Sign-in failed: ${String(error)}`;
            },
          );
        },
      },
      h("h2", {}, "Development sign-in"),
      h("p", { class: "muted small" }, "Embedded mode only: sign in as anyone, with any roles, to try access rules."),
      h("label", { class: "field", for: userId }, h("span", {}, "User"), h("input", { id: userId, name: "user", value: "developer", autocomplete: "username" })),
      h("label", { class: "field", for: rolesId }, h("span", {}, "Roles (comma-separated)"), h("input", { id: rolesId, name: "roles", placeholder: "analyst, operator" })),
      h("button", { type: "submit", class: "primary" }, "Sign in"),
      status,
    );
    box.append(form);
  }
  if (!config.provider && !config.dev_sign_in) {
    box.append(notice("info", "No sign-in is configured.", "Ask an administrator for an API key, or for a link to a public dashboard."));
  }
  clear(root, box);
}
