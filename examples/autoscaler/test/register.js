// Lets Node.js load src/autoscaler.js outside a component: its WIT import
// `wasmcloud:lattice-control/lattice-control@1.2.0` resolves to the fake provider in
// fake-provider.js. Used as `node --import ./test/register.js --test test/` (npm test).
import { register } from 'node:module';

register('./hooks.js', import.meta.url);
