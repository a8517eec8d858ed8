// The autoscaler's decisions, as pure functions: no provider call, no clock, no module state.
// `autoscaler.js` feeds them what the provider said and acts on what they answer; the tests in
// `test/` run them under plain Node.js (`npm test`), without a lattice.
//
// Values arrive as jco gives them: records as camelCase objects, u64/s64 as BigInt, u32 as a
// Number, option<T> as T or undefined, a string-map as a list of [key, value] pairs.

// ---- Settings --------------------------------------------------------------------------------

// Where the settings live: the link's own named config (the provider reads its `allow`,
// `events`, ... keys there and ignores the `autoscale_*` ones). Made by hand
// (`wash config put autoscaler-link ...`) it has this name.
export const SETTINGS_CONFIG = 'autoscaler-link';

// The same config's name under wadm, which names a link's config with properties
// `{app}-{config}`, each part lower-cased and every character but [a-z0-9] replaced by `_`
// (as it names the component itself: `{app}-{component}`). With the manifest's names
// (`lattice-autoscaler`, `autoscaler-link`): `lattice_autoscaler-autoscaler_link`.
export const WADM_SETTINGS_SUFFIX = 'autoscaler_link';

// The config names to read the settings from, in order: the first that exists holds them.
// The second only for an id as wadm makes them (exactly one `-`): the app part, then the
// config's name as wadm rewrites it.
export function settingsConfigNames(selfId) {
  const names = [SETTINGS_CONFIG];
  const parts = (selfId ?? '').split('-');
  if (parts.length === 2 && parts[0] !== '') {
    names.push(`${parts[0]}-${WADM_SETTINGS_SUFFIX}`);
  }
  return names;
}

// What the autoscaler does without settings. Conservative: act only on a clear trend (two
// reports in a row), move a few instances at a time, never below one instance, and leave a
// component alone for 10 s after a change so the next reports show its effect.
export const DEFAULTS = Object.freeze({
  high: 0.8,
  low: 0.2,
  intervals: 2,
  step: 2,
  min: 1,
  maxPerHost: 16,
  cooldownMs: 10_000,
  components: Object.freeze([]),
});

// A u32 is what scale-component takes for max-instances.
const U32_MAX = 4_294_967_295;

const DECIMAL = /^(\d+\.?\d*|\.\d+)$/;
const WHOLE = /^\d+$/;

// Each parser answers { value } or { why } (why the text is refused).
const fraction = (lowOk, highOk) => (text) => {
  const x = Number(text);
  if (!DECIMAL.test(text) || !Number.isFinite(x)) return { why: 'not a number' };
  const aboveLow = lowOk ? x >= 0 : x > 0;
  const belowHigh = highOk ? x <= 1 : x < 1;
  if (!aboveLow || !belowHigh) {
    return { why: `must be ${lowOk ? 'at least' : 'above'} 0 and ${highOk ? 'at most' : 'below'} 1` };
  }
  return { value: x };
};

const whole = (least, most) => (text) => {
  const n = Number(text);
  if (!WHOLE.test(text) || !Number.isSafeInteger(n)) return { why: 'not a whole number' };
  if (n < least || n > most) return { why: `must be between ${least} and ${most}` };
  return { value: n };
};

const commaList = (text) => ({
  value: text.split(',').map((s) => s.trim()).filter((s) => s !== ''),
});

// Setting key -> [field of the settings object, parser]. Keys of the link's named config that
// are not here (allow, events, ...) are the provider's; the autoscaler ignores them.
export const SETTING_KEYS = Object.freeze({
  autoscale_high: ['high', fraction(false, true)],
  autoscale_low: ['low', fraction(true, false)],
  autoscale_intervals: ['intervals', whole(1, 1000)],
  autoscale_step: ['step', whole(1, 10_000)],
  // Never 0: lowering a component to 0 on its only host would stop it.
  autoscale_min: ['min', whole(1, U32_MAX)],
  autoscale_max_per_host: ['maxPerHost', whole(1, U32_MAX)],
  // At most a day: a longer pause is better had by removing the component from the list.
  autoscale_cooldown_ms: ['cooldownMs', whole(0, 86_400_000)],
  autoscale_components: ['components', commaList],
});

const shown = (value) => (Array.isArray(value) ? value.join(',') || '(all)' : String(value));

// Reads the settings from the named config's pairs (undefined: the config does not exist).
// A value that does not parse keeps its default; `problems` says why, as [key, reason] pairs,
// so the caller can record them. Keys match case-insensitively; an empty value is unset.
export function parseSettings(pairs) {
  const settings = { ...DEFAULTS, components: [] };
  const problems = [];
  const given = new Map();
  for (const [key, value] of pairs ?? []) {
    given.set(key.trim().toLowerCase(), value.trim());
  }
  for (const [key, [field, parse]] of Object.entries(SETTING_KEYS)) {
    const text = given.get(key);
    if (text === undefined || text === '') continue;
    const parsed = parse(text);
    if ('value' in parsed) {
      settings[field] = parsed.value;
    } else {
      problems.push([key, `"${text}" ${parsed.why}; using ${shown(DEFAULTS[field])}`]);
    }
  }
  // Pairs that contradict each other: the defaults of both, since which one was meant is
  // unknowable (a low above high would raise and lower the same component in turn).
  if (settings.low >= settings.high) {
    problems.push([
      'autoscale_low',
      `${settings.low} is not below autoscale_high ${settings.high}; using ${DEFAULTS.low} and ${DEFAULTS.high}`,
    ]);
    settings.low = DEFAULTS.low;
    settings.high = DEFAULTS.high;
  }
  if (settings.min > settings.maxPerHost) {
    problems.push([
      'autoscale_min',
      `${settings.min} is above autoscale_max_per_host ${settings.maxPerHost}; using ${DEFAULTS.min} and ${DEFAULTS.maxPerHost}`,
    ]);
    settings.min = DEFAULTS.min;
    settings.maxPerHost = DEFAULTS.maxPerHost;
  }
  return { settings, problems };
}

// The settings in force, in short, for the status record.
export function describeSettings(s) {
  return [
    `high=${s.high}`,
    `low=${s.low}`,
    `intervals=${s.intervals}`,
    `step=${s.step}`,
    `min=${s.min}`,
    `max_per_host=${s.maxPerHost}`,
    `cooldown_ms=${s.cooldownMs}`,
    `components=${shown(s.components)}`,
  ].join(' ');
}

// ---- Which components ------------------------------------------------------------------------

// wadm marks what it runs with this annotation and puts back its own instance counts: a
// change by the autoscaler would be undone at wadm's next reconcile (or fight it).
export const MANAGED_BY = 'wasmcloud.dev/managed-by';
export const WADM = 'wadm';

export const isWadmManaged = (annotations) =>
  (annotations ?? []).some(([key, value]) => key === MANAGED_BY && value === WADM);

// Whether the autoscaler looks at this component at all: never itself (scaling its own
// instances from inside an event would change who handles the next one), never one already
// found to be wadm's, and, when the settings name components, only those.
export function isCandidate(componentId, { selfId, settings, leftToWadm }) {
  return (
    componentId !== selfId &&
    !leftToWadm.has(componentId) &&
    (settings.components.length === 0 || settings.components.includes(componentId))
  );
}

// ---- Streaks ---------------------------------------------------------------------------------

// Component and host ids are NATS subject tokens, which cannot hold a space.
export const streakKey = (componentId, hostId) => `${componentId} ${hostId}`;

// Counts, per (component, host), the consecutive reports at or above `high` and at or below
// `low`; a report in between resets both, and a report on the other side resets the other.
// Answers a new map holding only the pairs of this report: a pair that stopped reporting
// (component stopped, host gone) starts again from 0 if it comes back. Entries with no known
// maximum (max-instances 0: saturation is then 0 by definition) are no evidence either way.
export function updateStreaks(previous, entries, settings) {
  const next = new Map();
  for (const e of entries) {
    if (e.maxInstances <= 0n) continue;
    const key = streakKey(e.componentId, e.hostId);
    const before = previous.get(key) ?? { high: 0, low: 0 };
    next.set(key, {
      high: e.saturation >= settings.high ? before.high + 1 : 0,
      low: e.saturation <= settings.low ? before.low + 1 : 0,
    });
  }
  return next;
}

// ---- Proposals -------------------------------------------------------------------------------

// Hosts, other than `hostId`, that the report shows running the component.
export const otherHostsRunning = (entries, componentId, hostId) =>
  entries
    .filter((e) => e.componentId === componentId && e.hostId !== hostId && e.maxInstances > 0n)
    .map((e) => e.hostId);

// What the report calls for: at most one proposal per component (its cool-down covers the
// component on every host), raises before lowers (a queue of callers costs more than an idle
// instance), the most saturated first, the least saturated first among lowers. Each is only a
// proposal: the host's inventory, read when acting, has the last word.
//   { action: 'raise' | 'lower', entry, intervals, others }
export function plan({ entries, streaks, settings, lastActed, now }) {
  const proposals = [];
  for (const entry of entries) {
    const streak = streaks.get(streakKey(entry.componentId, entry.hostId));
    if (!streak) continue;
    const acted = lastActed.get(entry.componentId);
    if (acted !== undefined && now - acted < settings.cooldownMs) continue;
    const others = otherHostsRunning(entries, entry.componentId, entry.hostId);
    if (streak.high >= settings.intervals) {
      proposals.push({ action: 'raise', entry, intervals: streak.high, others });
    } else if (streak.low >= settings.intervals) {
      // Worth reading the inventory only if there is something to take away: instances above
      // the minimum, or a second host that could take the load of this one.
      if (Number(entry.maxInstances) > settings.min || others.length > 0) {
        proposals.push({ action: 'lower', entry, intervals: streak.low, others });
      }
    }
  }
  const rank = (p) => (p.action === 'raise' ? 0 : 1);
  proposals.sort(
    (a, b) =>
      rank(a) - rank(b) ||
      (a.action === 'raise'
        ? b.entry.saturation - a.entry.saturation
        : a.entry.saturation - b.entry.saturation) ||
      compare(a.entry.componentId, b.entry.componentId) ||
      compare(a.entry.hostId, b.entry.hostId),
  );
  const seen = new Set();
  return proposals.filter((p) => {
    if (seen.has(p.entry.componentId)) return false;
    seen.add(p.entry.componentId);
    return true;
  });
}

const compare = (a, b) => (a < b ? -1 : a > b ? 1 : 0);

// ---- Targets ---------------------------------------------------------------------------------

// A saturated component with `current` instances on its host: raise it there by `step` up to
// the per-host cap; a host already at (or, set by hand, above) the cap gets nothing more, and
// the component needs another host instead.
export function raiseTarget(current, settings) {
  if (current < settings.maxPerHost) {
    return { action: 'raise', to: Math.min(current + settings.step, settings.maxPerHost) };
  }
  return { action: 'add-host' };
}

// An idle component with `current` instances on its host: lower it by `step` down to the
// minimum; one already at the minimum goes to 0 only when another host runs it (the autoscaler
// added that host, or this one, when saturated), so the component never stops. null: nothing.
export function lowerTarget(current, settings, othersRunning) {
  if (current > settings.min) return Math.max(current - settings.step, settings.min);
  if (othersRunning) return 0;
  return null;
}

// Where a component at the cap on `sourceHost` goes next, among the hosts that bid for it:
// one that does not run it yet (the point is to spread), else one that runs it below the cap;
// among those, the host the report shows running the fewest components, then by id so the
// choice is stable. null: no bidder can take more.
export function pickHost(bidders, { componentId, sourceHost, entries, settings }) {
  const running = new Map();
  const busy = new Map();
  for (const e of entries) {
    if (e.maxInstances <= 0n) continue;
    busy.set(e.hostId, (busy.get(e.hostId) ?? 0) + 1);
    if (e.componentId === componentId) running.set(e.hostId, Number(e.maxInstances));
  }
  const candidates = [...new Set(bidders)]
    .filter((h) => h !== sourceHost && (running.get(h) ?? 0) < settings.maxPerHost)
    .map((h) => ({ hostId: h, current: running.get(h) ?? 0, busy: busy.get(h) ?? 0 }));
  candidates.sort(
    (a, b) =>
      (a.current === 0 ? 0 : 1) - (b.current === 0 ? 0 : 1) ||
      a.busy - b.busy ||
      compare(a.hostId, b.hostId),
  );
  return candidates.length > 0 ? candidates[0].hostId : null;
}

// ---- Records ---------------------------------------------------------------------------------

// Config names are one NATS subject token (no `.`, `*`, `>`, whitespace or control character).
// Component ids already are (the provider and hosts refuse others); this only makes sure.
// (Control characters spelled out: componentize-js's engine has no `\p{...}` classes.)
export const recordName = (componentId) =>
  `autoscaler-${componentId.replace(/[.*>\s\u0000-\u001f\u007f-\u009f]/g, '_')}`;

const round = (x, places) => {
  const f = 10 ** places;
  return String(Math.round(x * f) / f);
};

// The load figures that led to a decision, as record fields.
export function figures(entry, intervals) {
  return {
    saturation: round(entry.saturation, 3),
    intervals,
    active_instances: String(entry.activeInstances),
    invocations_per_s: round(entry.invocationsPerSecond, 2),
    errors_per_s: round(entry.errorsPerSecond, 2),
    p50_ms: entry.durationP50Ms === undefined ? undefined : round(entry.durationP50Ms, 1),
    p99_ms: entry.durationP99Ms === undefined ? undefined : round(entry.durationP99Ms, 1),
    window_ms: String(entry.windowMs),
  };
}

// A record as put-config takes it: [key, value] pairs of strings, absent fields left out,
// keys sorted so two records of one decision read alike.
export function toPairs(fields) {
  return Object.entries(fields)
    .filter(([, v]) => v !== undefined && v !== null)
    .map(([k, v]) => [k, String(v)])
    .sort(([a], [b]) => compare(a, b));
}

// Whether an event is too old to act on: JetStream delivers what it kept while no provider ran
// (up to 70 s), and a backlog of old reports would count as a streak of current ones.
export function isStale(time, now, maxAgeMs) {
  if (time === undefined) return false;
  const at = Date.parse(time);
  return Number.isFinite(at) && now - at > maxAgeMs;
}

// ---- State between events --------------------------------------------------------------------

// A wasmCloud 1.x host runs every invocation in a fresh component instance: nothing in module
// state survives from one event to the next. What must survive is kept in this named config
// (through the provider, like everything else), read at the start of each event and written
// back when it changed: one key, `state`, holding compact JSON.
export const STATE_CONFIG = 'autoscaler-state';
export const STATE_KEY = 'state';
const STATE_VERSION = 1;
// Bounds, so the config stays a few KB whatever the lattice runs (a streak key holds a 56-
// character host id): beyond them the entries least likely to matter are dropped, and start
// again (a streak from 0, a cool-down forgotten, a left-to-wadm recorded once more).
export const MAX_STREAKS = 32;
export const MAX_ACTED = 32;
export const MAX_LEFT_TO_WADM = 32;

// Module state as one event uses it.
//   lastEventId  the last report counted: the provider may push one twice (same id)
//   streaks      streakKey(component, host) -> { high, low }
//   lastActed    component id -> when the autoscaler last acted on it (ms since the epoch)
//   leftToWadm   component ids found to be wadm's (recorded once each)
//   status       the status record last written (its JSON), to write it only on change
//   stateProblem why the state was last found unreadable (kept for the status record)
export const emptyState = () => ({
  lastEventId: undefined,
  streaks: new Map(),
  lastActed: new Map(),
  leftToWadm: new Set(),
  status: undefined,
  stateProblem: undefined,
});

const isCount = (n) => Number.isSafeInteger(n) && n >= 0;
const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);

// The state in the config's pairs (undefined: no such config, the first event). Answers
// { state, problem }: state is empty, and problem says why, when the value cannot be read as
// state; entries of the wrong shape are dropped one by one.
export function decodeState(pairs) {
  const state = emptyState();
  if (pairs === undefined) return { state, problem: undefined };
  const text = (pairs.find(([k]) => k === STATE_KEY) ?? [])[1];
  if (text === undefined) return { state, problem: `${STATE_CONFIG} holds no \`${STATE_KEY}\` key` };
  let saved;
  try {
    saved = JSON.parse(text);
  } catch (err) {
    return { state, problem: `${STATE_CONFIG} is not JSON (${err.message})` };
  }
  if (!isObject(saved) || saved.v !== STATE_VERSION) {
    return { state, problem: `${STATE_CONFIG} is not version ${STATE_VERSION} state` };
  }
  if (typeof saved.event === 'string') state.lastEventId = saved.event;
  for (const [key, v] of Object.entries(isObject(saved.streaks) ? saved.streaks : {})) {
    if (Array.isArray(v) && v.length === 2 && isCount(v[0]) && isCount(v[1])) {
      state.streaks.set(key, { high: v[0], low: v[1] });
    }
  }
  for (const [id, at] of Object.entries(isObject(saved.acted) ? saved.acted : {})) {
    if (isCount(at)) state.lastActed.set(id, at);
  }
  for (const id of Array.isArray(saved.wadm) ? saved.wadm : []) {
    if (typeof id === 'string') state.leftToWadm.add(id);
  }
  if (typeof saved.status === 'string') state.status = saved.status;
  if (typeof saved.problem === 'string') state.stateProblem = saved.problem;
  return { state, problem: undefined };
}

// A cool-down is over once `cooldownMs` have passed; one stamped further ahead than that (the
// clock went back, or the instance before ran on a host whose clock was ahead) is over too.
export const coolingDown = (at, now, cooldownMs) => Math.abs(now - at) < cooldownMs;

// What of the state is worth keeping after an event: only streaks under way (a pair at 0 both
// ways is the same as no entry), cool-downs not over yet, and only of the components the
// report shows (`present`: their ids); each map bounded, keeping the longest streaks and the
// latest cool-downs. `settings` undefined (they could not be read): nothing expires.
export function pruneState(state, { present, now, settings }) {
  const streaks = [...state.streaks]
    .filter(([key, s]) => (s.high > 0 || s.low > 0) && present.has(key.split(' ')[0]))
    .sort(([ka, a], [kb, b]) => Math.max(b.high, b.low) - Math.max(a.high, a.low) || compare(ka, kb))
    .slice(0, MAX_STREAKS);
  const acted = [...state.lastActed]
    .filter(([id, at]) => present.has(id) && (settings === undefined || coolingDown(at, now, settings.cooldownMs)))
    .sort(([ia, a], [ib, b]) => b - a || compare(ia, ib))
    .slice(0, MAX_ACTED);
  const wadm = [...state.leftToWadm].filter((id) => present.has(id)).sort(compare).slice(0, MAX_LEFT_TO_WADM);
  return {
    ...state,
    streaks: new Map(streaks),
    lastActed: new Map(acted),
    leftToWadm: new Set(wadm),
  };
}

// The state as the config's one value: compact JSON, maps in key order, so equal states
// encode alike and an unchanged state is not written again.
export function encodeState(state) {
  const sorted = (entries) => [...entries].sort(([a], [b]) => compare(a, b));
  return JSON.stringify({
    v: STATE_VERSION,
    event: state.lastEventId,
    streaks: Object.fromEntries(sorted(state.streaks).map(([k, s]) => [k, [s.high, s.low]])),
    acted: Object.fromEntries(sorted(state.lastActed)),
    wadm: [...state.leftToWadm].sort(compare),
    status: state.status,
    problem: state.stateProblem,
  });
}
