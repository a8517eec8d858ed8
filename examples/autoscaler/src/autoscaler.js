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
// A wasmCloud 1.x host runs every invocation in a new component instance, so nothing in this
// module survives from one event to the next: the streaks, cool-downs and the rest live in the
// named config `autoscaler-state`, read at the start of each event and written back (once)
// when it changed. Events of one link arrive one at a time (the next once handle-event has
// returned), so no two events write it at once.
//
// Everything goes through the provider; handle-event never fails (an error is recorded, not
// returned) and makes a few calls at most, so it stays within the link's `event_timeout_ms`:
// get-config of the state, provider-info, get-config of the settings (two when the first name
// does not exist), then per decision the inventory, the scale and its record, and put-config of
// the state.
import {
  getConfig,
  getHostInventory,
  performComponentAuction,
  providerInfo,
  putConfig,
  scaleComponent,
} from 'wasmcloud:lattice-control/lattice-control@1.2.0';

import {
  STATE_CONFIG,
  STATE_KEY,
  coolingDown,
  decodeState,
  describeSettings,
  emptyState,
  encodeState,
  figures,
  isCandidate,
  isStale,
  isWadmManaged,
  lowerTarget,
  parseSettings,
  pickHost,
  plan,
  pruneState,
  raiseTarget,
  recordName,
  settingsConfigNames,
  streakKey,
  toPairs,
  updateStreaks,
} from './decide.js';

// Bound of the auction's scatter (it waits that long for bids) and of provider-info.
const QUERY_MS = 2000;
// Decisions per event. One takes up to 4 calls (an add-host: inventory, auction of 2 s, the
// bidder's inventory, scale) plus its record; more proposals wait for the next report (their
// streaks stay at the threshold, so they come first then).
const MAX_DECISIONS_PER_EVENT = 2;
// Older reports are skipped (see isStale).
const MAX_EVENT_AGE_MS = 30_000;

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

// The state the previous event left: { state, raw } (raw: the value read, so that an unchanged
// state is not written back). A config that cannot be read, or does not hold state, gives an
// empty state: streaks start again, at worst a cool-down is forgotten. Why is kept in the
// state (so the status record says it, once, until another failure replaces it).
function loadState() {
  let pairs;
  try {
    pairs = getConfig(STATE_CONFIG);
  } catch (err) {
    const { tag, message } = describe(err);
    return startedEmpty(`get-config ${STATE_CONFIG} failed (${tag}: ${message})`);
  }
  const { state, problem } = decodeState(pairs);
  if (problem !== undefined) return startedEmpty(problem);
  const raw = pairs === undefined ? undefined : (pairs.find(([k]) => k === STATE_KEY) ?? [])[1];
  return { state, raw };
}

function startedEmpty(why) {
  const state = emptyState();
  state.stateProblem = `${isoNow()}: ${why}; started with an empty state`;
  return { state, raw: undefined };
}

// Writes the state back when it changed. A failed write is logged and goes no further: the
// next event starts from the state before (its streaks one report behind).
function saveState(state, raw) {
  const text = encodeState(state);
  if (text === raw) return;
  try {
    putConfig(STATE_CONFIG, [[STATE_KEY, text]]);
  } catch (err) {
    const { tag, message } = describe(err);
    console.error(`autoscaler: cannot write ${STATE_CONFIG}: ${tag}: ${message}`);
  }
}

// The settings in force, read on every event from the first of settingsConfigNames(self) that
// exists (`autoscaler-link`, then under wadm `{app}-autoscaler_link`): a change applies with
// the next report. A name the link may not read (not-permitted, invalid-argument) counts as
// missing; none found: the defaults. Any other failure (timeout, transport, ...) answers
// settings undefined, and the report is skipped rather than acted on with other settings
// (the defaults manage every component). Also answers the status: which config was read, the
// settings in short, and why any value was refused.
function readSettings(self) {
  const status = {};
  const missing = [];
  for (const name of settingsConfigNames(self)) {
    let pairs;
    try {
      pairs = getConfig(name);
    } catch (err) {
      const { tag, message } = describe(err);
      if (tag === 'not-permitted' || tag === 'invalid-argument') {
        missing.push(`${name} cannot be read (${tag}: ${message})`);
        continue;
      }
      status.settings_config = `get-config ${name} failed (${tag}: ${message}); reports are skipped until it can be read`;
      return { settings: undefined, status };
    }
    if (pairs === undefined) {
      missing.push(`${name} does not exist`);
      continue;
    }
    const { settings, problems } = parseSettings(pairs);
    status.settings_config = name;
    for (const [key, why] of problems) status[key] = why;
    status.settings = describeSettings(settings);
    return { settings, status };
  }
  const { settings } = parseSettings(undefined);
  status.settings_config = `${missing.join('; ')}: using the defaults`;
  status.settings = describeSettings(settings);
  return { settings, status };
}

// Writes the status record `autoscaler-{own id}` (an id no managed component has) when what it
// says changed since the last one written.
function reportStatus(state, self, status) {
  if (state.stateProblem !== undefined) status.state_config = state.stateProblem;
  const said = JSON.stringify(status);
  if (said === state.status) return;
  // Marked as written even if the write fails: a refused write would fail on every report.
  state.status = said;
  record(recordName(self), status);
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
function act(state, proposal, entries, settings) {
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
  const now = Date.now();
  if (isStale(event.time, now, MAX_EVENT_AGE_MS)) return;
  const { state, raw } = loadState();
  if (event.id === state.lastEventId) return;
  state.lastEventId = event.id;

  // The own id on every event (provider-info never reaches the lattice). Without it the
  // autoscaler could scale itself: a failure ends the report here (see handleEvent).
  const self = providerInfo({ timeoutMs: QUERY_MS }).sourceId;
  const { settings, status } = readSettings(self);
  reportStatus(state, self, status);

  const perHost = event.data.val.perHost;
  if (settings !== undefined) decide(state, perHost, self, settings, now);
  const present = new Set(perHost.map((e) => e.componentId));
  saveState(pruneState(state, { present, now, settings }), raw);
}

function decide(state, perHost, self, settings, now) {
  const candidates = perHost.filter((e) =>
    isCandidate(e.componentId, { selfId: self, settings, leftToWadm: state.leftToWadm }),
  );
  state.streaks = updateStreaks(state.streaks, candidates, settings);
  for (const [id, at] of state.lastActed) {
    if (!coolingDown(at, now, settings.cooldownMs)) state.lastActed.delete(id);
  }
  const proposals = plan({
    entries: candidates,
    streaks: state.streaks,
    settings,
    lastActed: state.lastActed,
    now,
  }).slice(0, MAX_DECISIONS_PER_EVENT);

  for (const proposal of proposals) {
    const acted = act(state, proposal, candidates, settings);
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
      // Only provider-info can end up here (the state and settings reads, the decisions and
      // the writes handle their own errors): without its own id the autoscaler could scale
      // itself, so it skips the report, and leaves the state as it was. Returning an error
      // would only make the provider log it; the next report tries again.
      const { tag, message } = describe(err);
      console.error(`autoscaler: report ${event.id} skipped: ${tag}: ${message}`);
    }
  },
};
