/// <reference path="./interfaces/wasmcloud-lattice-control-events.d.ts" />
/// <reference path="./interfaces/wasmcloud-lattice-control-lattice-events.d.ts" />
/// <reference path="./interfaces/wasmcloud-lattice-control-load.d.ts" />
/// <reference path="./interfaces/wasmcloud-lattice-control-types.d.ts" />
declare module 'wasmcloud:lattice-control/event-handler@1.2.0' {
  export type * as WasmcloudLatticeControlEvents120 from 'wasmcloud:lattice-control/events@1.2.0'; // import wasmcloud:lattice-control/events@1.2.0
  export type * as WasmcloudLatticeControlLoad120 from 'wasmcloud:lattice-control/load@1.2.0'; // import wasmcloud:lattice-control/load@1.2.0
  export type * as WasmcloudLatticeControlTypes120 from 'wasmcloud:lattice-control/types@1.2.0'; // import wasmcloud:lattice-control/types@1.2.0
  export * as latticeEvents from 'wasmcloud:lattice-control/lattice-events@1.2.0'; // export wasmcloud:lattice-control/lattice-events@1.2.0
}
