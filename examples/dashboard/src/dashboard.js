// A lattice dashboard as a wasmCloud component: an HTTP handler (componentize-js fetch event)
// that reads and manages its lattice through the lattice-control provider it is linked to.
//
//   GET  /                   the page (HTML, inline style and script, no external assets)
//   GET  /api/lattice        hosts, what runs on each, links, component load and this caller's
//                            link info (JSON)
//   POST /api/scale          {"host-id","component-id","component-ref","max-instances"}
//   POST /api/label          {"host-id","key","value"}
//   POST /api/label/delete   {"host-id","key"}
//
// Actions go through the provider, so the link's policy decides: under the default
// `read-only` they answer 403 with the provider's `not-permitted` error.
import {
  deleteLabel,
  getComponentLoad,
  getHostInventory,
  getHosts,
  getLinks,
  providerInfo,
  putLabel,
  scaleComponent,
} from 'wasmcloud:lattice-control/lattice-control@1.2.0';
// build.sh replaces this line with `const PAGE = "…";`: src/page.html as a string.
import { PAGE } from './page.js';

// Bound for the provider's scatter; the host allows a provider 10 s per call.
const HOSTS_TIMEOUT_MS = 2000;
// Refuse request bodies above this (actions are a few hundred bytes).
const MAX_BODY = 16 * 1024;

// componentize-js throws a `ComponentError` whose `payload` is the WIT `ctl-error` variant
// (`{ tag, val }`).
function ctlError(err) {
  const payload = err && err.payload;
  if (payload && typeof payload.tag === 'string') {
    return { error: payload.tag, message: String(payload.val ?? '') };
  }
  return { error: 'component', message: String(err) };
}

// Runs `f`; `{ value }` or `{ error: { error, message } }`.
function attempt(f) {
  try {
    return { value: f() };
  } catch (err) {
    return { error: ctlError(err) };
  }
}

// WIT string maps arrive as lists of [key, value] pairs; `option<string-map>` as undefined.
const toObject = (pairs) => Object.fromEntries(pairs ?? []);
// u64 arrives as a BigInt, which JSON cannot encode.
const num = (n) => (typeof n === 'bigint' ? Number(n) : n);

function describeComponent(c) {
  return {
    id: c.id,
    name: c.name ?? null,
    'image-ref': c.imageRef,
    'max-instances': c.maxInstances,
    revision: c.revision,
    annotations: toObject(c.annotations),
  };
}

function describeProvider(p) {
  return {
    id: p.id,
    name: p.name ?? null,
    'image-ref': p.imageRef ?? null,
    revision: p.revision,
    annotations: toObject(p.annotations),
  };
}

function describeLink(l) {
  return {
    'source-id': l.sourceId,
    target: l.target,
    name: l.name,
    'wit-namespace': l.witNamespace,
    'wit-package': l.witPackage,
    interfaces: l.interfaces,
    'source-config': l.sourceConfig,
    'target-config': l.targetConfig,
  };
}

// One row of a load report (`host-id` is empty in a sum over hosts).
function describeLoad(c) {
  return {
    'component-id': c.componentId,
    'image-ref': c.imageRef,
    'host-id': c.hostId,
    'invocations-per-second': c.invocationsPerSecond,
    'errors-per-second': c.errorsPerSecond,
    'active-instances': num(c.activeInstances),
    'max-instances': num(c.maxInstances),
    saturation: c.saturation,
    'duration-p50-ms': c.durationP50Ms ?? null,
    'duration-p99-ms': c.durationP99Ms ?? null,
    'window-ms': num(c.windowMs),
  };
}

// Component load, from the metrics the hosts export to the provider. Its own `error` (the
// link may not be granted `get-component-load`), not one of the page's `errors`.
function componentLoad() {
  const r = attempt(() => getComponentLoad({ componentId: undefined, hostId: undefined }));
  if (r.error) return { 'hosts-reporting': null, summed: [], 'per-host': [], error: r.error };
  return {
    'hosts-reporting': r.value.hostsReporting,
    summed: r.value.summed.map(describeLoad),
    'per-host': r.value.perHost.map(describeLoad),
    error: null,
  };
}

// The whole state; a part that fails is reported in `errors`, the rest is still answered.
function latticeState() {
  const started = Date.now();
  const errors = [];
  const info = attempt(() => providerInfo({ timeoutMs: undefined }));
  if (info.error) errors.push({ call: 'provider-info', ...info.error });
  const hosts = attempt(() => getHosts({ expected: undefined, fullWait: false, timeoutMs: HOSTS_TIMEOUT_MS }));
  if (hosts.error) errors.push({ call: 'get-hosts', ...hosts.error });
  const described = (hosts.value ?? []).map((h) => {
    const host = {
      id: h.id,
      'friendly-name': h.friendlyName,
      version: h.version ?? null,
      'uptime-seconds': num(h.uptimeSeconds),
      'uptime-human': h.uptimeHuman ?? null,
      labels: toObject(h.labels),
      components: [],
      providers: [],
    };
    const inventory = attempt(() => getHostInventory(h.id));
    if (inventory.error) {
      host['inventory-error'] = inventory.error;
      errors.push({ call: `get-host-inventory ${h.id}`, ...inventory.error });
    } else {
      host.components = inventory.value.components.map(describeComponent);
      host.providers = inventory.value.providers.map(describeProvider);
    }
    return host;
  });
  described.sort((a, b) => a['friendly-name'].localeCompare(b['friendly-name']) || a.id.localeCompare(b.id));
  const links = attempt(() => getLinks({ timeoutMs: undefined }));
  if (links.error) errors.push({ call: 'get-links', ...links.error });
  const load = componentLoad();
  const i = info.value;
  return {
    link: i
      ? {
          lattice: i.lattice,
          'source-id': i.sourceId,
          'link-name': i.linkName,
          policy: i.policy,
          'allowed-operations': i.allowedOperations,
          'event-subscriptions': i.eventSubscriptions,
          'provider-version': i.version,
        }
      : null,
    hosts: described,
    links: (links.value ?? []).map(describeLink),
    load,
    errors,
    'elapsed-ms': Date.now() - started,
    time: new Date().toISOString(),
  };
}

function json(status, body) {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' },
  });
}

// HTTP status for a refused action.
const STATUS = { 'not-permitted': 403, 'invalid-argument': 400, 'not-linked': 403, 'no-responders': 404, timeout: 504 };

function actionResult(what, f) {
  const r = attempt(f);
  if (r.error) return json(STATUS[r.error.error] ?? 502, { ok: false, action: what, ...r.error });
  return json(200, { ok: true, action: what, message: r.value.message });
}

function requireString(body, key) {
  const v = body[key];
  if (typeof v !== 'string' || v === '') throw new TypeError(`"${key}" must be a non-empty string`);
  return v;
}

const ACTIONS = {
  '/api/scale': (b) => {
    const hostId = requireString(b, 'host-id');
    const componentId = requireString(b, 'component-id');
    const componentRef = requireString(b, 'component-ref');
    const max = b['max-instances'];
    if (!Number.isInteger(max) || max < 0 || max > 0xffffffff) {
      throw new TypeError('"max-instances" must be an integer from 0 to 4294967295');
    }
    return actionResult(`scale ${componentId} on ${hostId} to ${max}`, () =>
      scaleComponent({
        componentRef,
        componentId,
        hostId,
        maxInstances: max,
        annotations: undefined,
        componentLimits: undefined,
        config: [],
        allowUpdate: false,
      }),
    );
  },
  '/api/label': (b) => {
    const hostId = requireString(b, 'host-id');
    const key = requireString(b, 'key');
    const value = typeof b.value === 'string' ? b.value : '';
    return actionResult(`put label ${key}=${value} on ${hostId}`, () => putLabel(hostId, key, value));
  },
  '/api/label/delete': (b) => {
    const hostId = requireString(b, 'host-id');
    const key = requireString(b, 'key');
    return actionResult(`delete label ${key} on ${hostId}`, () => deleteLabel(hostId, key));
  },
};

async function handle(request) {
  const path = new URL(request.url).pathname;
  if (request.method === 'GET' || request.method === 'HEAD') {
    if (path === '/' || path === '/index.html') {
      return new Response(PAGE, {
        headers: { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' },
      });
    }
    if (path === '/api/lattice') return json(200, latticeState());
  }
  const action = ACTIONS[path];
  if (!action) {
    const known = path === '/' || path === '/index.html' || path === '/api/lattice';
    return json(known ? 405 : 404, { ok: false, error: known ? 'method-not-allowed' : 'not-found', message: path });
  }
  if (request.method !== 'POST') return json(405, { ok: false, error: 'method-not-allowed', message: 'use POST' });
  // A JSON content type makes a cross-site browser request preflight, which this handler
  // never answers: another page cannot make the dashboard act.
  if (!(request.headers.get('content-type') ?? '').startsWith('application/json')) {
    return json(415, { ok: false, error: 'invalid-argument', message: 'content-type must be application/json' });
  }
  let body;
  try {
    const text = await request.text();
    if (text.length > MAX_BODY) throw new TypeError(`body over ${MAX_BODY} bytes`);
    body = JSON.parse(text);
    if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new TypeError('body must be a JSON object');
    return action(body);
  } catch (err) {
    return json(400, { ok: false, error: 'invalid-argument', message: String(err && err.message ? err.message : err) });
  }
}

addEventListener('fetch', (event) => {
  event.respondWith(
    handle(event.request).catch((err) => json(500, { ok: false, error: 'component', message: String(err) })),
  );
});
