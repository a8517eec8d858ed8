// A wasmCloud component in JavaScript: summarises the lattice through the
// lattice-control provider it is linked to.
import { getHosts, providerInfo } from 'wasmcloud:lattice-control/lattice-control@1.0.0';

// Bound for the provider's scatter; well below the host's 10 s limit per call.
const HOSTS_TIMEOUT_MS = 2000;

// componentize-js throws a `ComponentError` whose `payload` is the WIT `ctl-error`
// variant (`{ tag, val }`); turn it into the string error of our export.
function ctlErrorJson(err) {
  const payload = err && err.payload;
  if (payload && typeof payload.tag === 'string') {
    return JSON.stringify({ error: payload.tag, message: String(payload.val ?? '') });
  }
  return JSON.stringify({ error: 'component', message: String(err) });
}

// WIT string maps arrive as lists of [key, value] pairs.
const toObject = (pairs) => Object.fromEntries(pairs ?? []);

function describeHost(host) {
  return {
    id: host.id,
    'friendly-name': host.friendlyName,
    lattice: host.lattice,
    version: host.version ?? null,
    // u64 arrives as a BigInt, which JSON cannot encode.
    'uptime-seconds': Number(host.uptimeSeconds),
    labels: toObject(host.labels),
  };
}

export const summary = {
  listHosts(probe) {
    let info;
    let hosts;
    try {
      info = providerInfo({ timeoutMs: undefined });
      hosts = getHosts({ expected: undefined, fullWait: false, timeoutMs: HOSTS_TIMEOUT_MS });
    } catch (err) {
      // Throwing a string makes the export return `err(string)`.
      throw ctlErrorJson(err);
    }
    const described = hosts.map(describeHost);
    return JSON.stringify({
      probe,
      lattice: info.lattice,
      'source-id': info.sourceId,
      'link-name': info.linkName,
      'provider-version': info.version,
      'host-ids': described.map((h) => h.id),
      hosts: described,
    });
  },
};
