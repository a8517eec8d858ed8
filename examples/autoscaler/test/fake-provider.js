// A fake lattice-control provider for the tests: the functions autoscaler.js imports, in the
// shape jco gives them (camelCase records, errors thrown as an object whose `payload` is the
// ctl-error variant), over an in-memory lattice that the test sets up and inspects. The lattice
// (its named configs included) outlives the autoscaler's module instances, as a real lattice
// outlives the component instances a host makes for each invocation.
export const SELF_ID = 'lattice_autoscaler-autoscaler';

export const lattice = {
  // host id -> list of component descriptions
  hosts: new Map(),
  // config name -> list of [key, value]
  configs: new Map(),
  // host ids that bid in auctions
  bidders: [],
  // function name, or `{function name} {first argument}` when that is a string (e.g.
  // `getConfig autoscaler-state`) -> ctl-error to throw ({ tag, val })
  failures: new Map(),
  // every call, as [name, ...args]
  calls: [],
};

export function reset() {
  lattice.hosts = new Map();
  lattice.configs = new Map();
  lattice.bidders = [];
  lattice.failures = new Map();
  lattice.calls = [];
}

class ComponentError extends Error {
  constructor(payload) {
    super(`${payload.tag}: ${payload.val}`);
    this.payload = payload;
  }
}

function call(name, ...args) {
  lattice.calls.push([name, ...args]);
  const failure =
    lattice.failures.get(name) ??
    (typeof args[0] === 'string' ? lattice.failures.get(`${name} ${args[0]}`) : undefined);
  if (failure) throw new ComponentError(failure);
}

export function providerInfo(options) {
  call('providerInfo', options);
  return {
    version: '0.0.0-test',
    lattice: 'default',
    sourceId: SELF_ID,
    linkName: 'default',
    policy: 'read-only,put-config,scale-component',
    allowedOperations: [],
    eventSubscriptions: ['component_load'],
  };
}

export function getConfig(name) {
  call('getConfig', name);
  const values = lattice.configs.get(name);
  return values && values.map(([k, v]) => [k, v]);
}

export function putConfig(name, values) {
  call('putConfig', name, values);
  // a copy: what the component passed is its own to change
  lattice.configs.set(name, values.map(([k, v]) => [k, v]));
  return { message: 'ok' };
}

export function getHostInventory(hostId) {
  call('getHostInventory', hostId);
  const components = lattice.hosts.get(hostId);
  if (!components) throw new ComponentError({ tag: 'invalid-argument', val: `no host ${hostId}` });
  return {
    hostId,
    friendlyName: hostId,
    labels: [],
    version: '1.9.0',
    uptimeHuman: '1m',
    uptimeSeconds: 60n,
    components: components.map((c) => ({ ...c })),
    providers: [],
  };
}

export function performComponentAuction(request, options) {
  call('performComponentAuction', request, options);
  return lattice.bidders.map((hostId) => ({
    componentRef: request.componentRef,
    componentId: request.componentId,
    hostId,
    constraints: [],
  }));
}

export function scaleComponent(command) {
  call('scaleComponent', command);
  const components = lattice.hosts.get(command.hostId);
  if (!components) throw new ComponentError({ tag: 'invalid-argument', val: 'no such host' });
  const i = components.findIndex((c) => c.id === command.componentId);
  if (command.maxInstances === 0) {
    if (i >= 0) components.splice(i, 1);
  } else if (i >= 0) {
    components[i].maxInstances = command.maxInstances;
  } else {
    components.push({
      id: command.componentId,
      imageRef: command.componentRef,
      name: undefined,
      annotations: command.annotations,
      revision: 0,
      maxInstances: command.maxInstances,
      limits: command.componentLimits,
    });
  }
  return { message: 'scaled' };
}
