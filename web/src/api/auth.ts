// Sign-in from the browser's side. The refresh token lives in an HttpOnly cookie the auth routes set (scripts
// never see it); the short-lived access token is kept in memory only and renewed from the cookie shortly before
// it expires. A flag in localStorage remembers that a sign-in exists, so a signed-out visit makes no refresh
// request at all (a refused one is a console error, and costs a round trip).

export interface SignInConfig {
  provider: string | null;
  dev_sign_in: boolean;
}

interface TokenAnswer {
  access_token: string;
  expires_in?: number;
}

const SIGNED_IN = "strix.signedIn";
const JSON_POST = { method: "POST", credentials: "same-origin", headers: { "content-type": "application/json" } } as const;

let token: { value: string; expiresAt: number; subject: string | null } | null = null;
let pending: Promise<string | null> | null = null;

function remembered(): boolean {
  try {
    return localStorage.getItem(SIGNED_IN) === "1";
  } catch {
    return false;
  }
}

function remember(on: boolean): void {
  try {
    if (on) localStorage.setItem(SIGNED_IN, "1");
    else localStorage.removeItem(SIGNED_IN);
  } catch {
    // storage refused (private mode): the sign-in lasts as long as the page
  }
}

/** The `sub` claim of a JWT, for display only (the server verifies the token, never the page). */
function subjectOf(jwt: string): string | null {
  try {
    const payload = JSON.parse(atob((jwt.split(".")[1] ?? "").replace(/-/g, "+").replace(/_/g, "/"))) as { sub?: string };
    return payload.sub ?? null;
  } catch {
    return null;
  }
}

function keep(answer: TokenAnswer): string {
  const lifetime = (answer.expires_in ?? 300) * 1000;
  token = { value: answer.access_token, expiresAt: Date.now() + lifetime * 0.8, subject: subjectOf(answer.access_token) };
  remember(true);
  return token.value;
}

export function dropToken(): void {
  token = null;
}

async function refresh(): Promise<string | null> {
  if (!remembered()) return null;
  try {
    const response = await fetch("/auth/token", { ...JSON_POST, body: "{}" });
    if (response.ok) return keep((await response.json()) as TokenAnswer);
    if (response.status === 401) remember(false);
  } catch {
    // the server is away: signed out for now, the next request tries again
  }
  token = null;
  return null;
}

/** The current access token, renewed when close to expiry; null when signed out. */
export async function accessToken(): Promise<string | null> {
  if (token !== null && token.expiresAt > Date.now()) return token.value;
  pending ??= refresh().finally(() => {
    pending = null;
  });
  return await pending;
}

let linkToken: string | null = null;

/** Read as a dashboard's public link (signed out): every request carries the link instead of a sign-in. */
export function useLinkToken(value: string | null): void {
  linkToken = value;
}

export async function authHeaders(): Promise<Record<string, string>> {
  if (linkToken !== null) return { "X-Strix-Link": linkToken };
  const value = await accessToken();
  return value === null ? {} : { Authorization: `Bearer ${value}` };
}

/** The signed-in subject as last known (null signed out or through a public link): tells one's own dashboards. */
export function currentSubject(): string | null {
  return linkToken === null ? (token?.subject ?? null) : null;
}

export async function signedInAs(): Promise<string | null> {
  return (await accessToken()) === null ? null : (token?.subject ?? null);
}

export async function signInConfig(): Promise<SignInConfig> {
  const response = await fetch("/auth/config", { credentials: "same-origin" });
  if (!response.ok) throw new Error(`sign-in is not available (HTTP ${response.status})`);
  return (await response.json()) as SignInConfig;
}

/** Development sign-in (embedded mode): any user, with these roles. */
export async function devSignIn(user: string, roles: string[] = []): Promise<void> {
  const response = await fetch("/auth/dev", { ...JSON_POST, body: JSON.stringify({ user, roles }) });
  if (!response.ok) {
    const body = (await response.json().catch(() => ({}))) as { message?: string; hint?: string };
    throw new Error(body.message ?? `HTTP ${response.status}`);
  }
  keep((await response.json()) as TokenAnswer);
}

/** Single sign-on: the provider's page, then back to `returnTo` on this site. */
export function ssoUrl(returnTo: string): string {
  return `/auth/login?return_to=${encodeURIComponent(returnTo)}`;
}

export async function signOut(): Promise<void> {
  remember(false);
  token = null;
  await fetch("/auth/signout", { ...JSON_POST, body: "{}" }).catch(() => undefined);
}

/** After the provider sent the browser back, the cookie is set: remember that a sign-in exists. */
export function rememberSignIn(): void {
  remember(true);
}
