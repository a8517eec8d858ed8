/// <reference path="./wasmcloud-lattice-control-events.d.ts" />
declare module 'wasmcloud:lattice-control/lattice-events@1.2.0' {
  /**
   * Called once per event; an error is logged by the provider and the event is not retried.
   */
  export function handleEvent(event: LatticeEvent): void;
  export type LatticeEvent = import('wasmcloud:lattice-control/events@1.2.0').LatticeEvent;
}
