// The pure decisions of src/decide.js.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  DEFAULTS,
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
