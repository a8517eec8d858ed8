/// <reference path="./wasmcloud-lattice-control-types.d.ts" />
declare module 'wasmcloud:lattice-control/lattice-events@1.0.0' {
  /**
   * Called once per event; an error is logged by the provider and the event is not retried.
   */
  export function handleEvent(event: LatticeEvent): void;
  export type LatticeEvent = import('wasmcloud:lattice-control/types@1.0.0').LatticeEvent;
}
