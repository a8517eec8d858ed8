// src/autoscaler.js against the fake provider (fake-provider.js, wired in by register.js):
// what it calls and records for a sequence of component_load reports.
import assert from 'node:assert/strict';
import { beforeEach, test } from 'node:test';

import { SELF_ID, lattice, reset } from './fake-provider.js';

const IMAGE = 'ghcr.io/acme/api:1';
const WADM = [['wasmcloud.dev/managed-by', 'wadm']];

// A fresh module instance per test: its state (streaks, cool-downs, settings) starts empty, as
// in a new component instance.
let fresh = 0;
let handle;
beforeEach(async () => {
  reset();
  fresh += 1;
  const { latticeEvents } = await import(`../src/autoscaler.js?instance=${fresh}`);
  handle = latticeEvents.handleEvent;
});

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
    time: new Date().toISOString(),
    lattice: 'default',
    data: { tag: 'component-load', val: { lattice: 'default', perHost, summed: [], hostsReporting: 2 } },
    raw: '{}',
  };
};

const calls = (name) => lattice.calls.filter(([n]) => n === name).map(([, ...args]) => args);
const scales = () => calls('scaleComponent').map(([c]) => [c.hostId, c.componentId, c.maxInstances]);
const recordOf = (id) => Object.fromEntries(lattice.configs.get(`autoscaler-${id}`) ?? []);
const instancesOn = (host, id) => lattice.hosts.get(host).find((c) => c.id === id)?.maxInstances ?? 0;

test('raises a component saturated for N reports, once per cool-down', () => {
  lattice.hosts.set('h1', [component('api', 4)]);
  assert.equal(handle(report(load('api', 'h1', 0.9, 4))), undefined);
  assert.deepEqual(scales(), []);
  handle(report(load('api', 'h1', 1.0, 4)));
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
  // still saturated, but within the cool-down (and the streak started again)
  handle(report(load('api', 'h1', 1.0, 6)));
  handle(report(load('api', 'h1', 1.0, 6)));
  assert.equal(scales().length, 1);
});

test('a report pushed twice counts once; other events are ignored', () => {
  lattice.hosts.set('h1', [component('api', 4)]);
  const once = report(load('api', 'h1', 0.9, 4));
  handle(once);
  handle(once);
  assert.deepEqual(scales(), []);
  handle({ ...once, id: 'x', data: { tag: 'component-scaled', val: {} } });
  assert.deepEqual(scales(), []);
  const before = lattice.calls.length;
  handle({ ...once, id: 'y', data: { tag: 'host-heartbeat', val: {} } });
  assert.equal(lattice.calls.length, before);
});

test('at the per-host cap: adds the bidder that does not run it', () => {
  lattice.hosts.set('h1', [component('api', 16)]);
  lattice.hosts.set('h2', [component('api', 4)]);
  lattice.hosts.set('h3', []);
  lattice.bidders = ['h1', 'h2', 'h3'];
  const loads = [load('api', 'h1', 1.0, 16), load('api', 'h2', 0.5, 4)];
  handle(report(...loads));
  handle(report(...loads));
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

test('at the cap and no other bidder: an error record, and no scale', () => {
  lattice.hosts.set('h1', [component('api', 16)]);
  lattice.bidders = ['h1'];
  handle(report(load('api', 'h1', 1.0, 16)));
  handle(report(load('api', 'h1', 1.0, 16)));
  assert.deepEqual(scales(), []);
  assert.equal(recordOf('api').action, 'error');
  assert.equal(recordOf('api').error, 'no-host');
});

test('lowers an idle component to the minimum, then off a second host, never off the last', () => {
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
  for (let i = 0; i < 12; i += 1) handle(report(...settle()));
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

test('does not scale to 0 when the other host in the report no longer runs it', () => {
  lattice.hosts.set('h1', [component('api', 1)]);
  lattice.hosts.set('h2', []); // left h2 a minute ago; its series has not gone stale yet
  const stale = [load('api', 'h1', 0, 1), load('api', 'h2', 0, 1)];
  handle(report(...stale));
  handle(report(...stale));
  assert.deepEqual(scales(), []);
  assert.equal(instancesOn('h1', 'api'), 1);
});

test('leaves a wadm-managed component to wadm, recorded once', () => {
  lattice.hosts.set('h1', [component('app-api', 4, WADM)]);
  for (let i = 0; i < 6; i += 1) handle(report(load('app-api', 'h1', 1.0, 4)));
  assert.deepEqual(scales(), []);
  assert.equal(recordOf('app-api').action, 'left-to-wadm');
  assert.equal(calls('putConfig').filter(([n]) => n === 'autoscaler-app-api').length, 1);
});

test('never acts on itself; reads provider-info once', () => {
  lattice.hosts.set('h1', [component(SELF_ID, 1)]);
  for (let i = 0; i < 4; i += 1) handle(report(load(SELF_ID, 'h1', 1.0, 1)));
  assert.deepEqual(scales(), []);
  assert.equal(calls('getHostInventory').length, 0);
  assert.equal(calls('providerInfo').length, 1);
});

test('settings: read from autoscaler-link once per 30 s; problems go to the status record', () => {
  lattice.configs.set('autoscaler-link', [
    ['allow', 'read-only,scale-component,put-config'],
    ['autoscale_high', '2'],
    ['autoscale_intervals', '1'],
    ['autoscale_components', 'api'],
  ]);
  lattice.hosts.set('h1', [component('api', 4), component('other', 4)]);
  handle(report(load('api', 'h1', 0.85, 4), load('other', 'h1', 1.0, 4)));
  handle(report(load('api', 'h1', 0.5, 4)));
  assert.deepEqual(calls('getConfig'), [['autoscaler-link']]);
  assert.deepEqual(scales(), [['h1', 'api', 6]]); // one report, high kept at 0.8, only `api`
  const status = recordOf(SELF_ID);
  assert.match(status.autoscale_high, /"2" must be above 0 and at most 1; using 0.8/);
  assert.match(status.settings, /intervals=1 .* components=api/);
  assert.equal(calls('putConfig').filter(([n]) => n === `autoscaler-${SELF_ID}`).length, 1);
});

test('a provider error is recorded, not returned', () => {
  lattice.hosts.set('h1', [component('api', 4)]);
  lattice.failures.set('scaleComponent', { tag: 'not-permitted', val: 'allow=read-only forbids scale-component' });
  handle(report(load('api', 'h1', 1.0, 4)));
  assert.equal(handle(report(load('api', 'h1', 1.0, 4))), undefined);
  const r = recordOf('api');
  assert.equal(r.action, 'error');
  assert.equal(r.wanted, 'raise');
  assert.equal(r.error, 'not-permitted');
  assert.match(r.reason, /forbids scale-component/);
});

test('provider-info failing: the report is skipped, nothing thrown', () => {
  lattice.failures.set('providerInfo', { tag: 'not-linked', val: 'no link' });
  lattice.hosts.set('h1', [component('api', 4)]);
  const errors = [];
  const original = console.error;
  console.error = (m) => errors.push(m);
  try {
    assert.equal(handle(report(load('api', 'h1', 1.0, 4))), undefined);
  } finally {
    console.error = original;
  }
  assert.equal(calls('getHostInventory').length, 0);
  assert.match(errors[0], /skipped: not-linked: no link/);
});

test('an old report (a JetStream backlog) is skipped', () => {
  lattice.hosts.set('h1', [component('api', 4)]);
  const old = (n) => ({ ...report(load('api', 'h1', 1.0, 4)), time: new Date(Date.now() - 60_000).toISOString() });
  handle(old());
  handle(old());
  assert.deepEqual(lattice.calls, []);
});
