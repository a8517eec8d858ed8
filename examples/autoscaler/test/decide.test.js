// The pure decisions of src/decide.js.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  DEFAULTS,
  MAX_STREAKS,
  STATE_CONFIG,
  coolingDown,
  decodeState,
  emptyState,
  encodeState,
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
} from '../src/decide.js';

const load = (componentId, hostId, saturation, maxInstances = 4) => ({
  componentId,
  imageRef: `ghcr.io/acme/${componentId}:1`,
  hostId,
  invocationsPerSecond: 10,
  errorsPerSecond: 0,
  activeInstances: BigInt(Math.round(saturation * maxInstances)),
  maxInstances: BigInt(maxInstances),
  saturation,
  durationP50Ms: 3,
  durationP99Ms: undefined,
  windowMs: 30000n,
});

const settings = (over = {}) => ({ ...parseSettings([]).settings, ...over });

test('no settings: the defaults, no problem', () => {
  const { settings: s, problems } = parseSettings(undefined);
  assert.deepEqual(s, { ...DEFAULTS, components: [] });
  assert.deepEqual(problems, []);
});

test('settings are read, case-insensitively; unknown keys are the provider\'s', () => {
  const { settings: s, problems } = parseSettings([
    ['allow', 'read-only,scale-component,put-config'],
    ['events', 'component_load'],
    ['AUTOSCALE_HIGH', '0.9'],
    ['autoscale_low', ' .1 '],
    ['autoscale_intervals', '3'],
    ['autoscale_step', '1'],
    ['autoscale_min', '2'],
    ['autoscale_max_per_host', '8'],
    ['autoscale_cooldown_ms', '0'],
    ['autoscale_components', 'a, b,,c'],
  ]);
  assert.deepEqual(problems, []);
  assert.deepEqual(s, {
    high: 0.9,
    low: 0.1,
    intervals: 3,
    step: 1,
    min: 2,
    maxPerHost: 8,
    cooldownMs: 0,
    components: ['a', 'b', 'c'],
  });
});

test('an invalid value keeps its default and says why', () => {
  const { settings: s, problems } = parseSettings([
    ['autoscale_high', '1.5'],
    ['autoscale_step', '2.5'],
    ['autoscale_min', '0'],
    ['autoscale_intervals', 'two'],
    ['autoscale_cooldown_ms', ''],
  ]);
  assert.equal(s.high, 0.8);
  assert.equal(s.step, 2);
  assert.equal(s.min, 1);
  assert.equal(s.intervals, 2);
  assert.equal(s.cooldownMs, 10000);
  assert.deepEqual(
    problems.map(([k]) => k),
    ['autoscale_high', 'autoscale_intervals', 'autoscale_step', 'autoscale_min'],
  );
  assert.match(problems[0][1], /"1.5" must be above 0 and at most 1; using 0.8/);
  assert.match(problems[1][1], /"two" not a whole number; using 2/);
});

test('contradicting pairs fall back to both defaults', () => {
  const a = parseSettings([['autoscale_low', '0.9'], ['autoscale_high', '0.5']]);
  assert.equal(a.settings.low, 0.2);
  assert.equal(a.settings.high, 0.8);
  assert.equal(a.problems[0][0], 'autoscale_low');
  const b = parseSettings([['autoscale_min', '20']]);
  assert.equal(b.settings.min, 1);
  assert.equal(b.settings.maxPerHost, 16);
  assert.equal(b.problems[0][0], 'autoscale_min');
});

test('streaks count consecutive reports and reset on the other side or in between', () => {
  const s = settings();
  let streaks = new Map();
  streaks = updateStreaks(streaks, [load('c', 'h', 0.9)], s);
  streaks = updateStreaks(streaks, [load('c', 'h', 0.8)], s);
  assert.deepEqual(streaks.get(streakKey('c', 'h')), { high: 2, low: 0 });
  streaks = updateStreaks(streaks, [load('c', 'h', 0.5)], s);
  assert.deepEqual(streaks.get(streakKey('c', 'h')), { high: 0, low: 0 });
  streaks = updateStreaks(streaks, [load('c', 'h', 0.2)], s);
  streaks = updateStreaks(streaks, [load('c', 'h', 0.9)], s);
  assert.deepEqual(streaks.get(streakKey('c', 'h')), { high: 1, low: 0 });
  // a pair missing from a report starts again
  streaks = updateStreaks(streaks, [load('d', 'h', 0.9)], s);
  assert.equal(streaks.has(streakKey('c', 'h')), false);
  // no known maximum: no evidence
  streaks = updateStreaks(streaks, [load('e', 'h', 0, 0)], s);
  assert.equal(streaks.size, 0);
});

test('plan: raises first, one per component, cool-down respected, lowers only with room', () => {
  const s = settings();
  const entries = [
    load('busy', 'h1', 0.9),
    load('busy', 'h2', 1.0),
    load('idle', 'h1', 0.0, 1), // at the minimum, alone: nothing to take away
    load('idle2', 'h1', 0.1, 6),
    load('cooling', 'h1', 1.0),
  ];
  let streaks = new Map();
  streaks = updateStreaks(streaks, entries, s);
  streaks = updateStreaks(streaks, entries, s);
  const proposals = plan({
    entries,
    streaks,
    settings: s,
    lastActed: new Map([['cooling', 1000]]),
    now: 5000,
  });
  assert.deepEqual(
    proposals.map((p) => [p.action, p.entry.componentId, p.entry.hostId, p.intervals]),
    [
      ['raise', 'busy', 'h2', 2],
      ['lower', 'idle2', 'h1', 2],
    ],
  );
  assert.deepEqual(proposals[0].others, ['h1']);
  // after the cool-down, `cooling` is proposed again
  const later = plan({ entries, streaks, settings: s, lastActed: new Map([['cooling', 1000]]), now: 11000 });
  assert.ok(later.some((p) => p.entry.componentId === 'cooling'));
});

test('plan: an idle component at the minimum is proposed when another host runs it', () => {
  const s = settings();
  const entries = [load('c', 'h1', 0.0, 1), load('c', 'h2', 0.5, 1)];
  let streaks = updateStreaks(new Map(), entries, s);
  streaks = updateStreaks(streaks, entries, s);
  const [p] = plan({ entries, streaks, settings: s, lastActed: new Map(), now: 0 });
  assert.equal(p.action, 'lower');
  assert.deepEqual(p.others, ['h2']);
});

test('targets', () => {
  const s = settings();
  assert.deepEqual(raiseTarget(4, s), { action: 'raise', to: 6 });
  assert.deepEqual(raiseTarget(15, s), { action: 'raise', to: 16 });
  assert.deepEqual(raiseTarget(16, s), { action: 'add-host' });
  assert.deepEqual(raiseTarget(20, s), { action: 'add-host' }); // above the cap, set by hand
  assert.equal(lowerTarget(6, s, false), 4);
  assert.equal(lowerTarget(2, s, false), 1);
  assert.equal(lowerTarget(1, s, false), null);
  assert.equal(lowerTarget(1, s, true), 0);
});

test('pickHost: a bidder that does not run it, the least busy, never the source or a full one', () => {
  const s = settings();
  const entries = [
    load('c', 'h1', 1.0, 16),
    load('c', 'h2', 0.5, 4),
    load('x', 'h3', 0.1),
    load('y', 'h3', 0.1),
    load('x', 'h4', 0.1),
  ];
  const ctx = { componentId: 'c', sourceHost: 'h1', entries, settings: s };
  assert.equal(pickHost(['h1', 'h2', 'h3', 'h4', 'h4'], ctx), 'h4');
  assert.equal(pickHost(['h1', 'h2', 'h3'], ctx), 'h3');
  assert.equal(pickHost(['h1', 'h2'], ctx), 'h2'); // runs it below the cap
  assert.equal(pickHost(['h1'], ctx), null);
  const full = [load('c', 'h1', 1.0, 16), load('c', 'h2', 1.0, 16)];
  assert.equal(pickHost(['h2'], { ...ctx, entries: full }), null);
});

test('candidates, wadm, records, staleness', () => {
  const s = settings();
  const ctx = { selfId: 'me', settings: s, leftToWadm: new Set(['w']) };
  assert.equal(isCandidate('me', ctx), false);
  assert.equal(isCandidate('w', ctx), false);
  assert.equal(isCandidate('c', ctx), true);
  assert.equal(isCandidate('c', { ...ctx, settings: settings({ components: ['d'] }) }), false);
  assert.equal(isWadmManaged([['wasmcloud.dev/managed-by', 'wadm']]), true);
  assert.equal(isWadmManaged([['wasmcloud.dev/managed-by', 'other']]), false);
  assert.equal(isWadmManaged(undefined), false);
  assert.equal(recordName('app-comp_1'), 'autoscaler-app-comp_1');
  assert.equal(recordName('a.b c*'), 'autoscaler-a_b_c_');
  assert.deepEqual(toPairs({ to: 2, action: 'raise', p99_ms: undefined }), [
    ['action', 'raise'],
    ['to', '2'],
  ]);
  const now = Date.parse('2025-01-01T00:01:00Z');
  assert.equal(isStale('2025-01-01T00:00:00Z', now, 30000), true);
  assert.equal(isStale('2025-01-01T00:00:45Z', now, 30000), false);
  assert.equal(isStale(undefined, now, 30000), false);
});

test('settings config names: autoscaler-link, then wadm\'s name for it', () => {
  assert.deepEqual(settingsConfigNames('lattice_autoscaler-autoscaler'), [
    'autoscaler-link',
    'lattice_autoscaler-autoscaler_link',
  ]);
  assert.deepEqual(settingsConfigNames('my_app-scaler'), ['autoscaler-link', 'my_app-autoscaler_link']);
  // not an id wadm derives (no `-`, or more than one): the hand-made name only
  assert.deepEqual(settingsConfigNames('autoscaler'), ['autoscaler-link']);
  assert.deepEqual(settingsConfigNames('a-b-c'), ['autoscaler-link']);
  assert.deepEqual(settingsConfigNames('-x'), ['autoscaler-link']);
  assert.deepEqual(settingsConfigNames(undefined), ['autoscaler-link']);
});

const sampleState = () => {
  const state = emptyState();
  state.lastEventId = 'component_load.default.42';
  state.streaks.set(streakKey('a', 'h1'), { high: 3, low: 0 });
  state.streaks.set(streakKey('b', 'h1'), { high: 0, low: 0 });
  state.streaks.set(streakKey('gone', 'h1'), { high: 1, low: 0 });
  state.lastActed.set('a', 10_000);
  state.lastActed.set('old', 1_000);
  state.leftToWadm.add('w');
  state.leftToWadm.add('gone');
  state.status = '{"settings":"high=0.8"}';
  return state;
};

test('state: encoded as compact JSON in one key, and read back', () => {
  const text = encodeState(sampleState());
  assert.ok(!text.includes(' h1": [') && !text.includes('\n'));
  const { state, problem } = decodeState([['state', text]]);
  assert.equal(problem, undefined);
  assert.equal(state.lastEventId, 'component_load.default.42');
  assert.deepEqual(state.streaks.get(streakKey('a', 'h1')), { high: 3, low: 0 });
  assert.deepEqual([...state.lastActed], [['a', 10_000], ['old', 1_000]]);
  assert.deepEqual([...state.leftToWadm].sort(), ['gone', 'w']);
  assert.equal(state.status, '{"settings":"high=0.8"}');
  assert.equal(state.stateProblem, undefined);
  // equal states encode alike, whatever the order they were built in
  assert.equal(encodeState(state), text);
});

test('state: none yet, or unreadable, is an empty one (with why)', () => {
  assert.deepEqual(decodeState(undefined), { state: emptyState(), problem: undefined });
  assert.match(decodeState([]).problem, /autoscaler-state holds no `state` key/);
  assert.match(decodeState([['state', '{']]).problem, /is not JSON/);
  assert.match(decodeState([['state', '{"v":99}']]).problem, /not version 1 state/);
  assert.match(decodeState([['state', '[]']]).problem, /not version 1 state/);
  // entries of the wrong shape are dropped one by one
  const { state, problem } = decodeState([
    ['state', '{"v":1,"streaks":{"a h":[1,0],"b h":[1],"c h":"x","d h":[-1,0]},"acted":{"a":5,"b":"x"},"wadm":["w",3]}'],
  ]);
  assert.equal(problem, undefined);
  assert.deepEqual([...state.streaks.keys()], ['a h']);
  assert.deepEqual([...state.lastActed], [['a', 5]]);
  assert.deepEqual([...state.leftToWadm], ['w']);
  assert.equal(STATE_CONFIG, 'autoscaler-state');
});

test('state: pruned to what the report shows, streaks under way and live cool-downs', () => {
  const s = settings(); // cool-down 10 s
  const pruned = pruneState(sampleState(), { present: new Set(['a', 'b', 'w', 'old']), now: 15_000, settings: s });
  assert.deepEqual([...pruned.streaks.keys()], [streakKey('a', 'h1')]);
  assert.deepEqual([...pruned.lastActed], [['a', 10_000]]);
  assert.deepEqual([...pruned.leftToWadm], ['w']);
  assert.equal(pruned.lastEventId, 'component_load.default.42');
  // settings unknown (they could not be read): no cool-down expires
  const kept = pruneState(sampleState(), { present: new Set(['a', 'old']), now: 15_000, settings: undefined });
  assert.deepEqual([...kept.lastActed.keys()].sort(), ['a', 'old']);
  assert.equal(coolingDown(10_000, 15_000, 10_000), true);
  assert.equal(coolingDown(10_000, 20_000, 10_000), false);
  // stamped a cool-down ahead: the clock went back, not a live cool-down
  assert.equal(coolingDown(40_000, 20_000, 10_000), false);
});

test('state: bounded, a few KB with a big lattice', () => {
  const state = emptyState();
  state.lastEventId = 'component_load.default.1234567890';
  const present = new Set();
  const host = (i) => `N${String(i).padStart(55, 'X')}`; // host ids are 56-character keys
  for (let c = 0; c < 100; c += 1) {
    const id = `some_application-component_${c}`;
    present.add(id);
    state.lastActed.set(id, 1_000 + c);
    state.leftToWadm.add(id);
    for (let h = 0; h < 5; h += 1) state.streaks.set(streakKey(id, host(h)), { high: c % 7, low: 0 });
  }
  const pruned = pruneState(state, { present, now: 2_000, settings: settings() });
  assert.equal(pruned.streaks.size, MAX_STREAKS);
  // the longest streaks are kept: the nearest to a decision
  assert.ok([...pruned.streaks.values()].every((s) => s.high === 6));
  assert.ok(pruned.lastActed.has('some_application-component_99')); // the latest cool-downs
  const size = encodeState(pruned).length;
  assert.ok(size < 6_000, `${size} bytes`);
});
