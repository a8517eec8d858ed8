// A wasmCloud component in JavaScript that scales components to their load, from inside the
// lattice.
//
// The lattice-control provider pushes a `component_load` event every `load_interval_ms` (its
// link subscribes with `events: component_load`): per component and host, how many of its
// `max_instances` were busy (`saturation`), its invocation rate and durations, from the metrics
// the hosts export to the provider. For each (component, host) the autoscaler counts the
// reports in a row at or above `autoscale_high` and at or below `autoscale_low`; after
// `autoscale_intervals` of them it acts, at most once per `autoscale_cooldown_ms` per component:
//
//   raise     saturated: scale it on that host by `autoscale_step`, up to
//             `autoscale_max_per_host`;
//   add-host  saturated at that cap: ask the lattice who could run it
//             (`perform-component-auction`) and scale it by the step on a bidder, one that does
//             not run it yet if any;
//   lower     idle: scale it down by the step to `autoscale_min`; at the minimum, and running
//             on another host too, scale it to 0 on this one;
//   left-to-wadm  the component carries wadm's annotation: wadm puts back its own counts, so
//             the autoscaler leaves it alone (and says so once).
//
// Each decision, with the figures that led to it, is written to the named config
// `autoscaler-{component id}` (`wash config get autoscaler-…`); so are errors (action=error).
// The decisions themselves are pure functions in ./decide.js.
//
// Everything goes through the provider; handle-event never fails (an error is recorded, not
// returned) and makes a few calls at most, so it stays within the link's `event_timeout_ms`.
import {
  getConfig,
  getHostInventory,
  performComponentAuction,
  providerInfo,
  putConfig,
  scaleComponent,
} from 'wasmcloud:lattice-control/lattice-control@1.2.0';

import {
  describeSettings,
  figures,
  isCandidate,
  isStale,
  isWadmManaged,
  lowerTarget,
  parseSettings,
  pickHost,
  plan,
  raiseTarget,
  recordName,
  streakKey,
  toPairs,
  updateStreaks,
} from './decide.js';

// The link's own named config: the manifest puts the provider's keys (`allow`, `events`) and
// the autoscaler's (`autoscale_*`) in one place, and the provider ignores keys it does not know.
const SETTINGS_CONFIG = 'autoscaler-link';
// Settings are re-read at most this often: a change applies within 30 s without a get-config
// on every event.
const SETTINGS_TTL_MS = 30_000;
// Bound of the auction's scatter (it waits that long for bids) and of provider-info.
const QUERY_MS = 2000;
// Decisions per event. One takes up to 4 calls (an add-host: inventory, auction of 2 s, the
// bidder's inventory, scale) plus its record; more proposals wait for the next report (their
// streaks stay at the threshold, so they come first then).
const MAX_DECISIONS_PER_EVENT = 2;
// Older reports are skipped (see isStale).
const MAX_EVENT_AGE_MS = 30_000;

// State of this instance. The host may reuse an instance between events or start a fresh one:
// everything here may be lost at any time, and losing it is harmless. Streaks start again
// (a decision waits N more reports), a cool-down is forgotten (at worst one decision comes
// early; N reports in a row still have to agree), and self id and settings are read again.
const state = {
  selfId: undefined,
  settings: undefined,
  settingsReadAt: -Infinity,
  // What the status record last said, to write it only when it changes.
  statusWritten: undefined,
  // streakKey(component, host) -> { high, low }
  streaks: new Map(),
  // component id -> when the autoscaler last acted on it (ms since the epoch)
  lastActed: new Map(),
  // component ids found to be wadm's (recorded once each)
  leftToWadm: new Set(),
  // The provider may push one event twice (same CloudEvent id): count a report once.
  lastEventId: undefined,
};

// A `ctl-error` from the provider arrives as a `ComponentError` whose payload is the variant;
// anything else is a bug here, named by its message.
function describe(err) {
  const payload = err && err.payload;
  if (payload && typeof payload.tag === 'string') {
    return { tag: payload.tag, message: String(payload.val ?? '') };
  }
  return { tag: 'exception', message: String((err && err.message) || err) };
}

const isoNow = () => new Date().toISOString();

// Writes a record. A refused or failed write is logged (the host's log of this component) and
// goes no further: the decision it describes was already taken.
function record(name, fields) {
  try {
    putConfig(name, toPairs({ ...fields, at: isoNow() }));
  } catch (err) {
    const { tag, message } = describe(err);
    console.error(`autoscaler: cannot write ${name}: ${tag}: ${message}`);
  }
}

// The autoscaler's own component id, asked of the provider once per instance (it answers
// without asking the lattice).
function selfId() {
  if (state.selfId === undefined) {
    state.selfId = providerInfo({ timeoutMs: QUERY_MS }).sourceId;
  }
  return state.selfId;
}

// The settings in force, re-read at most every SETTINGS_TTL_MS. A config that cannot be read
// keeps the settings in force (the defaults at first); either way the next read is a TTL away,
// so a failing get-config costs one call per 30 s, not one per event. What was refused and
// why goes to the status record `autoscaler-{own id}` (an id no managed component has), written
// when it changes.
function currentSettings(now, self) {
  if (state.settings !== undefined && now - state.settingsReadAt < SETTINGS_TTL_MS) {
    return state.settings;
  }
  state.settingsReadAt = now;
  const status = {};
  try {
    const pairs = getConfig(SETTINGS_CONFIG);
    if (pairs === undefined) {
      status.settings_config = `${SETTINGS_CONFIG} does not exist; using the defaults`;
    }
    const { settings, problems } = parseSettings(pairs);
    state.settings = settings;
    for (const [key, why] of problems) status[key] = why;
  } catch (err) {
    const { tag, message } = describe(err);
    status.settings_config = `get-config ${SETTINGS_CONFIG} failed (${tag}: ${message}); keeping the settings in force`;
    state.settings ??= parseSettings([]).settings;
  }
  status.settings = describeSettings(state.settings);
  const said = JSON.stringify(status);
  if (said !== state.statusWritten) {
    state.statusWritten = said;
    record(recordName(self), status);
  }
  return state.settings;
}

function scale(component, hostId, instances) {
  scaleComponent({
    componentRef: component.imageRef,
    componentId: component.id,
    hostId,
    maxInstances: instances,
    // Passed on as they are, so a scale does not drop them.
    annotations: component.annotations,
    componentLimits: component.limits,
    // The host's inventory does not say which named configs a component was started with
    // (a component already on the host keeps its own).
    config: [],
    allowUpdate: false,
  });
}

// The component as its host runs it now; undefined when it no longer does.
function findComponent(hostId, componentId) {
  const found = getHostInventory(hostId).components.find((c) => c.id === componentId);
  return found && found.maxInstances > 0 ? found : undefined;
}

// Saturated at the cap on `hostId`: scale it up on another host that bids for it.
// Answers the record's fields.
function addHost(component, hostId, entries, settings) {
  const acks = performComponentAuction(
    { componentRef: component.imageRef, componentId: component.id, constraints: [] },
    { timeoutMs: QUERY_MS },
  );
  const target = pickHost(
    acks.map((a) => a.hostId),
    { componentId: component.id, sourceHost: hostId, entries, settings },
  );
  const base = { source_host: hostId, source_instances: component.maxInstances };
  if (target === null) {
    return {
      ...base,
      action: 'error',
      wanted: 'add-host',
      error: 'no-host',
      reason: `at autoscale_max_per_host ${settings.maxPerHost} on ${hostId}, and no other host that bid (${acks.length} bids) can take more`,
    };
  }
  // The report may lag behind the lattice (hosts export metrics every few seconds to a
  // minute): the bidder's inventory says what it runs now.
  const there = findComponent(target, component.id);
  const from = there ? there.maxInstances : 0;
  if (from >= settings.maxPerHost) {
    return {
      ...base,
      action: 'error',
      wanted: 'add-host',
      error: 'no-host',
      host: target,
      reason: `the chosen bidder already runs ${from}, at autoscale_max_per_host`,
    };
  }
  const to = Math.min(from + settings.step, settings.maxPerHost);
  scale(component, target, to);
  return {
    ...base,
    action: 'add-host',
    host: target,
    from,
    to,
    reason: `at autoscale_max_per_host ${settings.maxPerHost} on ${hostId}; ${target} bid${from === 0 ? ' and did not run it' : ''}`,
  };
}

// Acts on one proposal (see plan in decide.js) and records what it did. Answers whether it
// acted (or tried to: an error starts the cool-down too, so a failing call is not repeated on
// every report); false when the inventory showed nothing to do.
function act(proposal, entries, settings) {
  const { action, entry, intervals, others } = proposal;
  const componentId = entry.componentId;
  const hostId = entry.hostId;
  const name = recordName(componentId);
  const seen = { component: componentId, host: hostId, ...figures(entry, intervals) };
  try {
    const component = findComponent(hostId, componentId);
    if (!component) {
      return false; // stopped since its host reported it
    }
    if (isWadmManaged(component.annotations)) {
      state.leftToWadm.add(componentId);
      record(name, {
        ...seen,
        action: 'left-to-wadm',
        wanted: action,
        from: component.maxInstances,
        reason: 'annotated wasmcloud.dev/managed-by=wadm: wadm reconciles its instance counts; change them in its manifest',
      });
      return false;
    }
    const from = component.maxInstances;
    if (action === 'raise') {
      const target = raiseTarget(from, settings);
      if (target.action === 'add-host') {
        record(name, { ...seen, ...addHost(component, hostId, entries, settings) });
        return true;
      }
      scale(component, hostId, target.to);
      record(name, {
        ...seen,
        action: 'raise',
        from,
        to: target.to,
        reason: `saturation >= autoscale_high ${settings.high} for ${intervals} reports`,
      });
      return true;
    }
    const to = lowerTarget(from, settings, others.length > 0);
    if (to === null) {
      return false;
    }
    if (to === 0) {
      // Never the last host: the report may still show a host the component left minutes ago
      // (a series lasts until it goes stale), so ask that host before leaving it the load.
      if (!findComponent(others[0], componentId)) {
        return false;
      }
    }
    scale(component, hostId, to);
    record(name, {
      ...seen,
      action: 'lower',
      from,
      to,
      reason:
        to === 0
          ? `saturation <= autoscale_low ${settings.low} for ${intervals} reports, at autoscale_min ${settings.min}, and ${others[0]} runs it too`
          : `saturation <= autoscale_low ${settings.low} for ${intervals} reports`,
    });
    return true;
  } catch (err) {
    const { tag, message } = describe(err);
    record(name, { ...seen, action: 'error', wanted: action, error: tag, reason: message });
    return true;
  }
}

function onLoad(event) {
  if (event.id === state.lastEventId) return;
  state.lastEventId = event.id;
  const now = Date.now();
  if (isStale(event.time, now, MAX_EVENT_AGE_MS)) return;

  const self = selfId();
  const settings = currentSettings(now, self);
  const candidates = event.data.val.perHost.filter((e) =>
    isCandidate(e.componentId, { selfId: self, settings, leftToWadm: state.leftToWadm }),
  );
  state.streaks = updateStreaks(state.streaks, candidates, settings);

  // Cool-downs that are over are forgotten, so the map holds only live ones.
  for (const [id, at] of state.lastActed) {
    if (now - at >= settings.cooldownMs) state.lastActed.delete(id);
  }
  const proposals = plan({
    entries: candidates,
    streaks: state.streaks,
    settings,
    lastActed: state.lastActed,
    now,
  }).slice(0, MAX_DECISIONS_PER_EVENT);

  for (const proposal of proposals) {
    const acted = act(proposal, candidates, settings);
    // Acted or not, the streak starts again: the next decision on this host needs N reports
    // taken after this one (after the change, when there was one).
    state.streaks.delete(streakKey(proposal.entry.componentId, proposal.entry.hostId));
    if (acted) state.lastActed.set(proposal.entry.componentId, now);
  }
}

export const latticeEvents = {
  handleEvent(event) {
    if (event.data.tag !== 'component-load') {
      return;
    }
    try {
      onLoad(event);
    } catch (err) {
      // Only provider-info can end up here (every decision records its own errors): without
      // its own id the autoscaler could scale itself, so it skips the report. Returning an
      // error would only make the provider log it; the next report tries again.
      const { tag, message } = describe(err);
      console.error(`autoscaler: report ${event.id} skipped: ${tag}: ${message}`);
    }
  },
};
