// A wasmCloud component in JavaScript: summarises the lattice through the
// lattice-control provider it is linked to, and records the last component scale it was
// told about (a lattice event pushed by the provider) in a named config.
import { getHosts, providerInfo, putConfig } from 'wasmcloud:lattice-control/lattice-control@1.2.0';

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
      policy: info.policy,
      'allowed-operations': info.allowedOperations,
      'event-subscriptions': info.eventSubscriptions,
      'provider-version': info.version,
      'host-ids': described.map((h) => h.id),
      hosts: described,
    });
  },
};

// The named config this component keeps up to date: `{its component id}-last-scale`. wadm
// derives the id from the application, so two deployments never share it.
const lastScaleConfig = (sourceId) => `${sourceId}-last-scale`;

// Called by the provider for each event the link subscribes to (`events=component_scaled`).
// Acting needs `put-config` in the link's `allow` list.
export const latticeEvents = {
  handleEvent(event) {
    if (event.data.tag !== 'component-scaled') {
      return;
    }
    const scaled = event.data.val;
    try {
      const info = providerInfo({ timeoutMs: undefined });
      putConfig(lastScaleConfig(info.sourceId), [
        ['component-id', scaled.componentId],
        ['host-id', scaled.hostId],
        ['image-ref', scaled.imageRef],
        ['max-instances', String(scaled.maxInstances)],
        ['event-id', event.id],
        ['event-time', event.time ?? ''],
        ['seen-by', info.sourceId],
      ]);
    } catch (err) {
      // The provider logs the error; the event is not retried.
      throw ctlErrorJson(err);
    }
  },
};
