/// <reference path="./interfaces/wasmcloud-lattice-control-events.d.ts" />
/// <reference path="./interfaces/wasmcloud-lattice-control-lattice-events.d.ts" />
/// <reference path="./interfaces/wasmcloud-lattice-control-types.d.ts" />
declare module 'wasmcloud:lattice-control/event-handler@1.1.0' {
  export type * as WasmcloudLatticeControlEvents110 from 'wasmcloud:lattice-control/events@1.1.0'; // import wasmcloud:lattice-control/events@1.1.0
  export type * as WasmcloudLatticeControlTypes110 from 'wasmcloud:lattice-control/types@1.1.0'; // import wasmcloud:lattice-control/types@1.1.0
  export * as latticeEvents from 'wasmcloud:lattice-control/lattice-events@1.1.0'; // export wasmcloud:lattice-control/lattice-events@1.1.0
}
