// src/autoscaler.js against the fake provider (fake-provider.js, wired in by register.js):
// what it calls and records for a sequence of component_load reports.
import assert from 'node:assert/strict';
import { beforeEach, test } from 'node:test';

import { STATE_CONFIG, decodeState } from '../src/decide.js';
import { SELF_ID, lattice, reset } from './fake-provider.js';

const IMAGE = 'ghcr.io/acme/api:1';
const WADM = [['wasmcloud.dev/managed-by', 'wadm']];
// The settings config's name under wadm, for the fake's own id `lattice_autoscaler-autoscaler`.
const WADM_LINK = 'lattice_autoscaler-autoscaler_link';

// A fresh module instance for every event, as a wasmCloud 1.x host makes a new component
// instance for every invocation: whatever outlives an event has to go through the provider
// (the fake's configs outlive the module instances). reset() empties the lattice per test.
let fresh = 0;
const handle = async (event) => {
  fresh += 1;
  const { latticeEvents } = await import(`../src/autoscaler.js?instance=${fresh}`);
  return latticeEvents.handleEvent(event);
};
beforeEach(() => reset());

const component = (id, maxInstances, annotations = undefined) => ({
  id,
  imageRef: IMAGE,
  name: undefined,
  annotations,
  revision: 0,
  maxInstances,
  limits: [['memory', '64']],
});

const load = (componentId, hostId, saturation, maxInstances) => ({
  componentId,
  imageRef: IMAGE,
  hostId,
  invocationsPerSecond: 123.456,
  errorsPerSecond: 0,
  activeInstances: BigInt(Math.round(saturation * maxInstances)),
  maxInstances: BigInt(maxInstances),
  saturation,
  durationP50Ms: 4,
  durationP99Ms: 250,
  windowMs: 30000n,
});

let eventNo = 0;
const report = (...perHost) => {
  eventNo += 1;
  return {
    eventType: 'com.wasmcloud.lattice.component_load',
    id: `component_load.default.${eventNo}`,
    source: 'provider',
    time: new Date(Date.now()).toISOString(),
    lattice: 'default',
    data: { tag: 'component-load', val: { lattice: 'default', perHost, summed: [], hostsReporting: 2 } },
    raw: '{}',
  };
};

const calls = (name) => lattice.calls.filter(([n]) => n === name).map(([, ...args]) => args);
const scales = () => calls('scaleComponent').map(([c]) => [c.hostId, c.componentId, c.maxInstances]);
const recordOf = (id) => Object.fromEntries(lattice.configs.get(`autoscaler-${id}`) ?? []);
const savedState = () => decodeState(lattice.configs.get(STATE_CONFIG)).state;
const puts = (name) => calls('putConfig').filter(([n]) => n === name);
const instancesOn = (host, id) => lattice.hosts.get(host).find((c) => c.id === id)?.maxInstances ?? 0;

test('raises a component saturated for N reports, once per cool-down', async () => {
  lattice.hosts.set('h1', [component('api', 4)]);
  assert.equal(await handle(report(load('api', 'h1', 0.9, 4))), undefined);
  assert.deepEqual(scales(), []);
  await handle(report(load('api', 'h1', 1.0, 4)));
  assert.deepEqual(scales(), [['h1', 'api', 6]]);
  const [command] = calls('scaleComponent')[0];
  assert.equal(command.componentRef, IMAGE);
  assert.deepEqual(command.componentLimits, [['memory', '64']]);
  assert.deepEqual(command.config, []);
  assert.equal(command.allowUpdate, false);
  const r = recordOf('api');
  assert.equal(r.action, 'raise');
  assert.equal(r.host, 'h1');
  assert.equal(r.from, '4');
  assert.equal(r.to, '6');
  assert.equal(r.saturation, '1');
  assert.equal(r.intervals, '2');
  assert.equal(r.invocations_per_s, '123.46');
  assert.equal(r.p99_ms, '250');
  assert.ok(!Number.isNaN(Date.parse(r.at)));
  // still saturated, but within the cool-down (and the streak started again): the cool-down
  // outlives the module instance that acted
  await handle(report(load('api', 'h1', 1.0, 6)));
  await handle(report(load('api', 'h1', 1.0, 6)));
  assert.equal(scales().length, 1);
  assert.ok(savedState().lastActed.has('api'));
});

test('streaks survive from one module instance to the next, through autoscaler-state', async () => {
  lattice.hosts.set('h1', [component('api', 4)]);
  await handle(report(load('api', 'h1', 0.9, 4)));
  const [name, values] = puts(STATE_CONFIG).at(-1);
  assert.equal(name, 'autoscaler-state');
  assert.deepEqual(values.map(([k]) => k), ['state']);
  const saved = JSON.parse(values[0][1]);
  assert.deepEqual(saved.streaks, { 'api h1': [1, 0] });
  assert.equal(saved.event, `component_load.default.${eventNo}`);
  assert.deepEqual(scales(), []);
  await handle(report(load('api', 'h1', 0.9, 4)));
  assert.deepEqual(scales(), [['h1', 'api', 6]]);
  // the streak started again: no entry
  assert.equal(savedState().streaks.size, 0);
});

test('the state is read once and written once per report', async () => {
  lattice.configs.set('autoscaler-link', [['autoscale_components', 'api']]);
  lattice.hosts.set('h1', [component('api', 4)]);
  await handle(report(load('api', 'h1', 0.5, 4)));
  lattice.calls = [];
  await handle(report(load('api', 'h1', 0.5, 4)));
  // steady state, no decision: state, own id, settings, state back (its event id changed)
  assert.deepEqual(
    lattice.calls.map(([n, a]) => `${n} ${typeof a === 'string' ? a : ''}`.trim()),
    ['getConfig autoscaler-state', 'providerInfo', 'getConfig autoscaler-link', 'putConfig autoscaler-state'],
  );
});

test('a report pushed twice counts once; other events are ignored', async () => {
  lattice.hosts.set('h1', [component('api', 4)]);
  const once = report(load('api', 'h1', 0.9, 4));
  await handle(once);
  const before = lattice.calls.length;
  await handle(once);
  // the duplicate: the state read, nothing more
  assert.deepEqual(lattice.calls.slice(before), [['getConfig', STATE_CONFIG]]);
  assert.deepEqual(savedState().streaks.get('api h1'), { high: 1, low: 0 });
  assert.deepEqual(scales(), []);
  await handle({ ...once, id: 'x', data: { tag: 'component-scaled', val: {} } });
  assert.deepEqual(scales(), []);
  const now = lattice.calls.length;
  await handle({ ...once, id: 'y', data: { tag: 'host-heartbeat', val: {} } });
  assert.equal(lattice.calls.length, now);
});

test('at the per-host cap: adds the bidder that does not run it', async () => {
  lattice.hosts.set('h1', [component('api', 16)]);
  lattice.hosts.set('h2', [component('api', 4)]);
  lattice.hosts.set('h3', []);
  lattice.bidders = ['h1', 'h2', 'h3'];
  const loads = [load('api', 'h1', 1.0, 16), load('api', 'h2', 0.5, 4)];
  await handle(report(...loads));
  await handle(report(...loads));
  assert.deepEqual(scales(), [['h3', 'api', 2]]);
  const [request, options] = calls('performComponentAuction')[0];
  assert.deepEqual(request, { componentRef: IMAGE, componentId: 'api', constraints: [] });
  assert.deepEqual(options, { timeoutMs: 2000 });
  const r = recordOf('api');
  assert.equal(r.action, 'add-host');
  assert.equal(r.host, 'h3');
  assert.equal(r.source_host, 'h1');
  assert.equal(r.from, '0');
  assert.equal(r.to, '2');
});

test('at the cap and no other bidder: an error record, and no scale', async () => {
  lattice.hosts.set('h1', [component('api', 16)]);
  lattice.bidders = ['h1'];
  await handle(report(load('api', 'h1', 1.0, 16)));
  await handle(report(load('api', 'h1', 1.0, 16)));
  assert.deepEqual(scales(), []);
  assert.equal(recordOf('api').action, 'error');
  assert.equal(recordOf('api').error, 'no-host');
});

test('lowers an idle component to the minimum, then off a second host, never off the last', async () => {
  lattice.hosts.set('h1', [component('api', 3)]);
  lattice.hosts.set('h2', [component('api', 1)]);
  const settle = () => {
    const now = [];
    for (const h of ['h1', 'h2']) {
      const n = instancesOn(h, 'api');
      if (n > 0) now.push(load('api', h, 0, n));
    }
    return now;
  };
  lattice.configs.set('autoscaler-link', [['autoscale_cooldown_ms', '0']]);
  for (let i = 0; i < 12; i += 1) await handle(report(...settle()));
  // h1: 3 -> 1; one of the two goes to 0; the other stays at 1
  const left = ['h1', 'h2'].map((h) => instancesOn(h, 'api'));
  assert.deepEqual(left.sort(), [0, 1]);
  assert.deepEqual(scales()[0], ['h1', 'api', 1]);
  const zero = scales().find(([, , n]) => n === 0);
  assert.ok(zero);
  assert.equal(recordOf('api').action, 'lower');
  assert.equal(recordOf('api').to, '0');
  assert.match(recordOf('api').reason, /runs it too/);
});

test('does not scale to 0 when the other host in the report no longer runs it', async () => {
  lattice.hosts.set('h1', [component('api', 1)]);
  lattice.hosts.set('h2', []); // left h2 a minute ago; its series has not gone stale yet
  const stale = [load('api', 'h1', 0, 1), load('api', 'h2', 0, 1)];
  await handle(report(...stale));
  await handle(report(...stale));
  assert.deepEqual(scales(), []);
  assert.equal(instancesOn('h1', 'api'), 1);
});

test('leaves a wadm-managed component to wadm, recorded once', async () => {
  lattice.hosts.set('h1', [component('app-api', 4, WADM)]);
  for (let i = 0; i < 6; i += 1) await handle(report(load('app-api', 'h1', 1.0, 4)));
  assert.deepEqual(scales(), []);
  assert.equal(recordOf('app-api').action, 'left-to-wadm');
  assert.equal(puts('autoscaler-app-api').length, 1);
  assert.deepEqual([...savedState().leftToWadm], ['app-api']);
  // gone from the report: forgotten (and recorded again should it come back)
  await handle(report());
  assert.equal(savedState().leftToWadm.size, 0);
});

test('never acts on itself (its id from provider-info, on every report)', async () => {
  lattice.hosts.set('h1', [component(SELF_ID, 1)]);
  for (let i = 0; i < 4; i += 1) await handle(report(load(SELF_ID, 'h1', 1.0, 1)));
  assert.deepEqual(scales(), []);
  assert.equal(calls('getHostInventory').length, 0);
  assert.equal(calls('providerInfo').length, 4);
  assert.equal(savedState().streaks.size, 0);
});

test('settings: read from autoscaler-link on every report; problems go to the status record, written once', async () => {
  lattice.configs.set('autoscaler-link', [
    ['allow', 'read-only,scale-component,put-config'],
    ['autoscale_high', '2'],
    ['autoscale_intervals', '1'],
    ['autoscale_components', 'api'],
  ]);
  lattice.hosts.set('h1', [component('api', 4), component('other', 4)]);
  await handle(report(load('api', 'h1', 0.85, 4), load('other', 'h1', 1.0, 4)));
  await handle(report(load('api', 'h1', 0.5, 4)));
  await handle(report(load('api', 'h1', 0.5, 4)));
  assert.deepEqual(
    calls('getConfig').filter(([n]) => n !== STATE_CONFIG),
    [['autoscaler-link'], ['autoscaler-link'], ['autoscaler-link']],
  );
  assert.deepEqual(scales(), [['h1', 'api', 6]]); // one report, high kept at 0.8, only `api`
  const status = recordOf(SELF_ID);
  assert.equal(status.settings_config, 'autoscaler-link');
  assert.match(status.autoscale_high, /"2" must be above 0 and at most 1; using 0.8/);
  assert.match(status.settings, /intervals=1 .* components=api/);
  assert.equal(status.state_config, undefined);
  assert.equal(puts(`autoscaler-${SELF_ID}`).length, 1);
  // a change applies with the next report, and the status says so
  lattice.configs.set('autoscaler-link', [['autoscale_components', 'other']]);
  await handle(report(load('api', 'h1', 0.5, 4)));
  assert.equal(puts(`autoscaler-${SELF_ID}`).length, 2);
  assert.match(recordOf(SELF_ID).settings, /components=other/);
});

test('settings under wadm: the link config {app}-autoscaler_link, when autoscaler-link does not exist', async () => {
  lattice.configs.set(WADM_LINK, [
    ['allow', 'read-only,scale-component,put-config'],
    ['autoscale_intervals', '1'],
  ]);
  lattice.hosts.set('h1', [component('api', 4)]);
  await handle(report(load('api', 'h1', 0.9, 4)));
  assert.deepEqual(scales(), [['h1', 'api', 6]]);
  assert.deepEqual(
    calls('getConfig').map(([n]) => n),
    [STATE_CONFIG, 'autoscaler-link', WADM_LINK],
  );
  assert.equal(recordOf(SELF_ID).settings_config, WADM_LINK);
  assert.match(recordOf(SELF_ID).settings, /intervals=1/);
  // autoscaler-link, when it exists, comes first
  lattice.configs.set('autoscaler-link', [['autoscale_intervals', '3']]);
  await handle(report(load('api', 'h1', 0.9, 6)));
  assert.equal(recordOf(SELF_ID).settings_config, 'autoscaler-link');
  assert.match(recordOf(SELF_ID).settings, /intervals=3/);
});

test('settings: none readable gives the defaults; a failed read skips the report', async () => {
  lattice.hosts.set('h1', [component('api', 4)]);
  lattice.failures.set(`getConfig ${WADM_LINK}`, {
    tag: 'not-permitted',
    val: `allowed_config_prefixes does not cover config \`${WADM_LINK}\``,
  });
  await handle(report(load('api', 'h1', 0.9, 4)));
  const status = recordOf(SELF_ID);
  assert.match(status.settings_config, /autoscaler-link does not exist; .*cannot be read \(not-permitted: .*\): using the defaults/);
  assert.match(status.settings, /intervals=2 /);
  assert.deepEqual(savedState().streaks.get('api h1'), { high: 1, low: 0 });
  // a timeout: not the defaults (they would manage every component), the report skipped
  lattice.failures.set('getConfig autoscaler-link', { tag: 'timeout', val: 'no answer' });
  await handle(report(load('api', 'h1', 0.9, 4)));
  assert.deepEqual(scales(), []);
  assert.equal(calls('getHostInventory').length, 0);
  assert.match(recordOf(SELF_ID).settings_config, /get-config autoscaler-link failed \(timeout: no answer\); reports are skipped/);
  assert.deepEqual(savedState().streaks.get('api h1'), { high: 1, low: 0 });
  lattice.failures.delete('getConfig autoscaler-link');
  await handle(report(load('api', 'h1', 0.9, 4)));
  assert.deepEqual(scales(), [['h1', 'api', 6]]);
});

test('state that cannot be read: an empty start, said once in the status record', async () => {
  lattice.hosts.set('h1', [component('api', 4)]);
  lattice.failures.set(`getConfig ${STATE_CONFIG}`, { tag: 'timeout', val: 'no answer' });
  await handle(report(load('api', 'h1', 0.9, 4)));
  lattice.failures.delete(`getConfig ${STATE_CONFIG}`);
  assert.match(recordOf(SELF_ID).state_config, /get-config autoscaler-state failed \(timeout: no answer\); started with an empty state/);
  // written back regardless: the next report reads it
  await handle(report(load('api', 'h1', 0.9, 4)));
  await handle(report(load('api', 'h1', 0.5, 4)));
  assert.deepEqual(scales(), [['h1', 'api', 6]]);
  assert.equal(puts(`autoscaler-${SELF_ID}`).length, 1);
  // a value that is not state: the same
  lattice.configs.set(STATE_CONFIG, [['state', '{not json']]);
  await handle(report(load('api', 'h1', 0.5, 6)));
  assert.match(recordOf(SELF_ID).state_config, /autoscaler-state is not JSON/);
  assert.equal(puts(`autoscaler-${SELF_ID}`).length, 2);
  assert.equal(savedState().lastEventId, `component_load.default.${eventNo}`);
});

test('state that cannot be written: logged, the report acted on all the same', async () => {
  lattice.hosts.set('h1', [component('api', 4)]);
  lattice.configs.set('autoscaler-link', [['autoscale_intervals', '1']]);
  lattice.failures.set(`putConfig ${STATE_CONFIG}`, { tag: 'not-permitted', val: 'no' });
  const errors = [];
  const original = console.error;
  console.error = (m) => errors.push(m);
  try {
    assert.equal(await handle(report(load('api', 'h1', 0.9, 4))), undefined);
  } finally {
    console.error = original;
  }
  assert.deepEqual(scales(), [['h1', 'api', 6]]);
  assert.equal(recordOf('api').action, 'raise');
  assert.match(errors[0], /cannot write autoscaler-state: not-permitted: no/);
});

test('the closed loop of the e2e test: raise after 2 saturated reports, lower to 1 once idle', async () => {
  const realNow = Date.now;
  let clock = realNow();
  Date.now = () => clock;
  try {
    lattice.configs.set(WADM_LINK, [
      ['events', 'component_load'],
      ['autoscale_cooldown_ms', '3000'],
      ['autoscale_components', 'load-hold'],
    ]);
    lattice.hosts.set('h1', [component('load-hold', 1), component('api', 1)]);
    const tick = async (saturation) => {
      clock += 1000;
      const n = instancesOn('h1', 'load-hold');
      await handle(report(load('load-hold', 'h1', saturation, n), load('api', 'h1', 1.0, 1)));
    };
    await tick(1.0);
    assert.equal(instancesOn('h1', 'load-hold'), 1);
    await tick(1.0);
    assert.equal(instancesOn('h1', 'load-hold'), 3);
    const raised = recordOf('load-hold');
    assert.equal(raised.action, 'raise');
    assert.equal(raised.from, '1');
    assert.equal(raised.to, '3');
    assert.ok(Number(raised.saturation) >= 0.8);
    assert.ok(Number(raised.intervals) >= 2);
    assert.equal(raised.p99_ms, '250');
    assert.ok(raised.at);
    // idle: the streak counts during the cool-down, the lower comes once it is over
    await tick(0);
    await tick(0);
    assert.equal(instancesOn('h1', 'load-hold'), 3);
    await tick(0);
    assert.equal(instancesOn('h1', 'load-hold'), 1);
    const lowered = recordOf('load-hold');
    assert.equal(lowered.action, 'lower');
    assert.equal(lowered.to, '1');
    for (let i = 0; i < 5; i += 1) await tick(0);
    assert.equal(instancesOn('h1', 'load-hold'), 1);
    assert.equal(instancesOn('h1', 'api'), 1); // not named in autoscale_components
    assert.equal(savedState().lastActed.size, 0); // the cool-down is over: forgotten
  } finally {
    Date.now = realNow;
  }
});

test('a provider error is recorded, not returned', async () => {
  lattice.hosts.set('h1', [component('api', 4)]);
  lattice.failures.set('scaleComponent', { tag: 'not-permitted', val: 'allow=read-only forbids scale-component' });
  await handle(report(load('api', 'h1', 1.0, 4)));
  assert.equal(await handle(report(load('api', 'h1', 1.0, 4))), undefined);
  const r = recordOf('api');
  assert.equal(r.action, 'error');
  assert.equal(r.wanted, 'raise');
  assert.equal(r.error, 'not-permitted');
  assert.match(r.reason, /forbids scale-component/);
});

test('provider-info failing: the report is skipped, the state left as it was, nothing thrown', async () => {
  lattice.failures.set('providerInfo', { tag: 'not-linked', val: 'no link' });
  lattice.hosts.set('h1', [component('api', 4)]);
  const errors = [];
  const original = console.error;
  console.error = (m) => errors.push(m);
  try {
    assert.equal(await handle(report(load('api', 'h1', 1.0, 4))), undefined);
  } finally {
    console.error = original;
  }
  assert.equal(calls('getHostInventory').length, 0);
  assert.equal(calls('putConfig').length, 0);
  assert.match(errors[0], /skipped: not-linked: no link/);
});

test('an old report (a JetStream backlog) is skipped', async () => {
  lattice.hosts.set('h1', [component('api', 4)]);
  const old = (n) => ({ ...report(load('api', 'h1', 1.0, 4)), time: new Date(Date.now() - 60_000).toISOString() });
  await handle(old());
  await handle(old());
  assert.deepEqual(lattice.calls, []);
});
