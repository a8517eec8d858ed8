// A wasmCloud component in JavaScript that drains hosts, from inside the lattice.
//
// Put the label `drain=true` on a host (`wash label <host> drain=true`): the host is cordoned.
// For each component running there (but this controller itself), the controller asks the
// lattice which other, uncordoned hosts can run it (`perform-component-auction`), scales it up
// on one of them (`scale-component-and-wait`, same image, annotations and limits, instances
// added to any already there), and only then scales it to 0 on the drained host. When nothing
// is left it puts `drain-status=drained` on the host (else `drain-status=stuck-N`).
// While the label stays, a component scaled up on that host is moved again. Deleting the
// `drain` label un-cordons the host and removes `drain-status`.
//
// Everything goes through the lattice-control provider; the events come from it as well
// (its link subscribes to `labels_changed` and `component_scaled`).
import {
  deleteLabel,
  getHostInventory,
  getHosts,
  performComponentAuction,
  providerInfo,
  putLabel,
  scaleComponentAndWait,
} from 'wasmcloud:lattice-control/lattice-control@1.2.0';

const DRAIN_LABEL = 'drain';
const CORDONED = 'true';
const STATUS_LABEL = 'drain-status';
// Bounds for the provider's scatters and for each scale's outcome event, well below the
// host's limit per call.
const QUERY_MS = 2000;
const WAIT_MS = 8000;

const toObject = (pairs) => Object.fromEntries(pairs ?? []);
const isCordoned = (labels) => labels[DRAIN_LABEL] === CORDONED;

// A `ctl-error` from the provider arrives as a `ComponentError` whose payload is the variant.
function describe(err) {
  const payload = err && err.payload;
  if (payload && typeof payload.tag === 'string') {
    return `${payload.tag}: ${String(payload.val ?? '')}`;
  }
  return String(err);
}

function scaleAndWait(component, hostId, instances) {
  return scaleComponentAndWait(
    {
      componentRef: component.imageRef,
      componentId: component.id,
      hostId,
      maxInstances: instances,
      annotations: component.annotations,
      componentLimits: component.limits,
      // The host's inventory does not say which named configs a component was started with.
      config: [],
      allowUpdate: false,
    },
    { timeoutMs: WAIT_MS },
  );
}

// Moves one component off `hostId` to the least used of `targets` that bids for it.
// `placed` counts what this pass put on each target, to spread the components.
function move(component, hostId, targets, placed) {
  const acks = performComponentAuction(
    { componentRef: component.imageRef, componentId: component.id, constraints: [] },
    { timeoutMs: QUERY_MS },
  );
  const bidders = [...new Set(acks.map((a) => a.hostId))].filter((h) => targets.has(h));
  if (bidders.length === 0) {
    throw new Error('no uncordoned host bid for it');
  }
  bidders.sort((a, b) => (placed.get(a) ?? 0) - (placed.get(b) ?? 0) || (a < b ? -1 : 1));
  const target = bidders[0];
  const already = getHostInventory(target).components.find((c) => c.id === component.id);
  scaleAndWait(component, target, (already?.maxInstances ?? 0) + component.maxInstances);
  scaleAndWait(component, hostId, 0);
  placed.set(target, (placed.get(target) ?? 0) + 1);
}

// One pass over the host; returns the components that could not be moved, with why.
function drain(hostId, selfId) {
  const inventory = getHostInventory(hostId);
  const hosts = getHosts({ expected: undefined, fullWait: false, timeoutMs: QUERY_MS });
  const targets = new Set(
    hosts.filter((h) => h.id !== hostId && !isCordoned(toObject(h.labels))).map((h) => h.id),
  );
  const placed = new Map();
  const stuck = [];
  for (const component of inventory.components) {
    if (component.id === selfId || component.maxInstances === 0) {
      continue;
    }
    try {
      move(component, hostId, targets, placed);
    } catch (err) {
      stuck.push(`${component.id}: ${describe(err)}`);
    }
  }
  return stuck;
}

// Sets `drain-status` unless it already says that (each put is a `labels_changed` event).
function setStatus(hostId, labels, status) {
  if (labels[STATUS_LABEL] !== status) {
    putLabel(hostId, STATUS_LABEL, status);
  }
}

function onLabelsChanged(change, selfId) {
  const labels = toObject(change.labels);
  if (!isCordoned(labels)) {
    if (STATUS_LABEL in labels) {
      deleteLabel(change.hostId, STATUS_LABEL);
    }
    return;
  }
  const stuck = drain(change.hostId, selfId);
  setStatus(change.hostId, labels, stuck.length === 0 ? 'drained' : `stuck-${stuck.length}`);
  if (stuck.length > 0) {
    // The provider logs a handler's error with the event.
    throw `not drained: ${stuck.join('; ')}`;
  }
}

// A component scaled up on a cordoned host (by wadm, `wash` or anyone) is moved again.
function onComponentScaled(scaled, selfId) {
  if (scaled.maxInstances === 0 || scaled.componentId === selfId) {
    return;
  }
  const host = getHostInventory(scaled.hostId);
  const labels = toObject(host.labels);
  if (isCordoned(labels)) {
    onLabelsChanged({ hostId: scaled.hostId, labels: host.labels }, selfId);
  }
}

export const latticeEvents = {
  handleEvent(event) {
    const { tag, val } = event.data;
    if (tag !== 'labels-changed' && tag !== 'component-scaled') {
      return;
    }
    try {
      const selfId = providerInfo({ timeoutMs: undefined }).sourceId;
      if (tag === 'labels-changed') {
        onLabelsChanged(val, selfId);
      } else {
        onComponentScaled(val, selfId);
      }
    } catch (err) {
      // Throwing a string makes handle-event return `err(string)`, which the provider logs.
      throw typeof err === 'string' ? err : describe(err);
    }
  },
};
