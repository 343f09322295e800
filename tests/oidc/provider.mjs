// A real OpenID Connect provider for Strix's SSO tests: oidc-provider 9 on 127.0.0.1, never for production.
//
//   node tests/oidc/provider.mjs --state-dir DIR [--port 0]
//
// Prints one JSON line on stdout once it listens: {"issuer": "http://127.0.0.1:<port>", "port": <port>}.
// State (signing keys, registered redirect URIs, and the adapter's grants, sessions and codes) lives in
// DIR, so a restarted provider keeps its tokens valid, as a real one does.
//
// Test users (login / password): ada / ada-password (groups analysts and strix-admins, brand [acme]),
// bob / bob-password (group operators, brand "globex"). The login form at /interaction/<uid> signs the user
// in and grants the requested scopes in one step (login and consent).
//
// Harness routes (tests only):
//   POST /__harness/rotate        a new signing key signs from now on; the old ones stay published
//   POST /__harness/redirect_uris {"client_id": "...", "redirect_uris": [...]} registers callback URLs
//   GET  /__harness/keys          {"kids": [...]} current first
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { parseArgs } from 'node:util';

import Provider from 'oidc-provider';

const { values: args } = parseArgs({
  options: { 'state-dir': { type: 'string' }, port: { type: 'string', default: '0' } },
});
if (!args['state-dir']) {
  console.error('usage: provider.mjs --state-dir DIR [--port 0]');
  process.exit(2);
}
const stateDir = args['state-dir'];
fs.mkdirSync(stateDir, { recursive: true });

const USERS = {
  ada: {
    password: 'ada-password',
    claims: { name: 'Ada Lovelace', email: 'ada@example.test', groups: ['analysts', 'strix-admins'], brand: ['acme'] },
  },
  bob: {
    password: 'bob-password',
    claims: { name: 'Bob Operator', email: 'bob@example.test', groups: ['operators'], brand: 'globex' },
  },
};

// --- persisted state ------------------------------------------------------------------------------------

function load(name, fallback) {
  const file = path.join(stateDir, name);
  return fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, 'utf8')) : fallback;
}

function save(name, value) {
  const file = path.join(stateDir, name);
  fs.writeFileSync(`${file}.tmp`, JSON.stringify(value));
  fs.renameSync(`${file}.tmp`, file);
}

function newKey() {
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { ...privateKey.export({ format: 'jwk' }), kid: `k-${crypto.randomBytes(6).toString('hex')}`, alg: 'RS256', use: 'sig' };
}

const settings = load('settings.json', {
  keys: [newKey()],
  cookieKeys: [crypto.randomBytes(32).toString('hex')],
  clients: {
    strix: { client_secret: 'strix-test-secret', redirect_uris: [] },
    'strix-public': { public: true, redirect_uris: [] },
  },
});
save('settings.json', settings);

// The adapter: every model in one JSON file, written on each change (small: a test's worth of grants).
const records = load('store.json', {});
const persist = () => save('store.json', records);

class FileAdapter {
  constructor(model) {
    this.model = model;
  }

  key(id) {
    return `${this.model}:${id}`;
  }

  async upsert(id, payload, expiresIn) {
    records[this.key(id)] = { payload, expiresAt: expiresIn ? Date.now() + expiresIn * 1000 : null };
    persist();
  }

  async find(id) {
    const found = records[this.key(id)];
    if (!found) return undefined;
    if (found.expiresAt && found.expiresAt < Date.now()) {
      delete records[this.key(id)];
      persist();
      return undefined;
    }
    return found.payload;
  }

  async findByUid(uid) {
    const hit = Object.entries(records).find(([k, v]) => k.startsWith(`${this.model}:`) && v.payload.uid === uid);
    return hit ? this.find(hit[0].slice(this.model.length + 1)) : undefined;
  }

  async findByUserCode(userCode) {
    const hit = Object.entries(records).find(
      ([k, v]) => k.startsWith(`${this.model}:`) && v.payload.userCode === userCode,
    );
    return hit ? this.find(hit[0].slice(this.model.length + 1)) : undefined;
  }

  async consume(id) {
    const found = records[this.key(id)];
    if (found) {
      found.payload.consumed = Math.floor(Date.now() / 1000);
      persist();
    }
  }

  async destroy(id) {
    delete records[this.key(id)];
    persist();
  }

  async revokeByGrantId(grantId) {
    for (const [k, v] of Object.entries(records)) {
      if (v.payload.grantId === grantId) delete records[k];
    }
    persist();
  }
}

// --- the provider ---------------------------------------------------------------------------------------

function build(issuer) {
  const clients = Object.entries(settings.clients).map(([clientId, c]) => ({
    client_id: clientId,
    ...(c.public ? { token_endpoint_auth_method: 'none' } : { client_secret: c.client_secret }),
    redirect_uris: c.redirect_uris.length ? c.redirect_uris : ['http://127.0.0.1/unregistered'],
    grant_types: ['authorization_code'],
    response_types: ['code'],
  }));
  const provider = new Provider(issuer, {
    adapter: FileAdapter,
    clients,
    jwks: { keys: settings.keys },
    cookies: { keys: settings.cookieKeys },
    claims: { openid: ['sub'], profile: ['name', 'brand'], email: ['email'], groups: ['groups'] },
    scopes: ['openid', 'profile', 'email', 'groups'],
    conformIdTokenClaims: false, // groups and brand in the ID token itself, as Keycloak and Auth0 put them
    features: { devInteractions: { enabled: false } },
    pkce: { required: () => true },
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    async findAccount(ctx, id) {
      const user = USERS[id];
      if (!user) return undefined;
      return { accountId: id, claims: async () => ({ sub: id, ...user.claims }) };
    },
  });
  provider.proxy = false;
  return provider;
}

let provider;
let handle;

function rebuild(issuer) {
  provider = build(issuer);
  handle = provider.callback();
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function send(res, status, type, body) {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
  res.end(body);
}

const escape = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function loginPage(uid, message) {
  return `<!doctype html><title>Test provider sign-in</title>
<h1>Sign in to the test provider</h1>${message ? `<p class="error">${escape(message)}</p>` : ''}
<form method="post" action="/interaction/${escape(uid)}/login">
<input name="login" autocomplete="username"> <input name="password" type="password">
<button type="submit">Sign in</button></form>`;
}

async function interaction(req, res, uid, action) {
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) return send(res, 400, 'text/plain', 'interaction mismatch');
  if (req.method === 'GET' && !action) return send(res, 200, 'text/html', loginPage(uid));
  if (req.method === 'POST' && action === 'login') {
    const form = new URLSearchParams(await readBody(req));
    const login = form.get('login') || '';
    const user = USERS[login];
    if (!user || user.password !== form.get('password')) {
      return send(res, 200, 'text/html', loginPage(uid, 'Unknown user or wrong password.'));
    }
    const grant = new provider.Grant({ accountId: login, clientId: details.params.client_id });
    grant.addOIDCScope(String(details.params.scope || 'openid'));
    const grantId = await grant.save();
    return provider.interactionFinished(req, res, { login: { accountId: login }, consent: { grantId } });
  }
  return send(res, 404, 'text/plain', 'no such interaction route');
}

async function harness(req, res, route) {
  if (req.method === 'POST' && route === 'rotate') {
    settings.keys = [newKey(), ...settings.keys];
    save('settings.json', settings);
    rebuild(provider.issuer);
  } else if (req.method === 'POST' && route === 'redirect_uris') {
    const body = JSON.parse((await readBody(req)) || '{}');
    const client = settings.clients[body.client_id];
    if (!client) return send(res, 404, 'application/json', JSON.stringify({ error: 'unknown client' }));
    client.redirect_uris = [...new Set([...client.redirect_uris, ...body.redirect_uris])];
    save('settings.json', settings);
    rebuild(provider.issuer);
  } else if (!(req.method === 'GET' && route === 'keys')) {
    return send(res, 404, 'text/plain', 'no such harness route');
  }
  return send(res, 200, 'application/json', JSON.stringify({ kids: settings.keys.map((k) => k.kid) }));
}

const server = http.createServer(async (req, res) => {
  try {
    const url = new URL(req.url, 'http://x');
    const harnessRoute = url.pathname.match(/^\/__harness\/([a-z_]+)$/);
    if (harnessRoute) return await harness(req, res, harnessRoute[1]);
    const interactionRoute = url.pathname.match(/^\/interaction\/([A-Za-z0-9_-]+)(?:\/([a-z]+))?$/);
    if (interactionRoute) return await interaction(req, res, interactionRoute[1], interactionRoute[2]);
    return handle(req, res);
  } catch (err) {
    console.error(err);
    if (!res.headersSent) send(res, 400, 'text/plain', String(err && err.message));
  }
});

server.listen(Number(args.port), '127.0.0.1', () => {
  const { port } = server.address();
  const issuer = `http://127.0.0.1:${port}`;
  rebuild(issuer);
  process.stdout.write(`${JSON.stringify({ issuer, port })}\n`);
});

for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => server.close(() => process.exit(0)));
