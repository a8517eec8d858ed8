/// <reference path="./interfaces/wasmcloud-lattice-control-events.d.ts" />
/// <reference path="./interfaces/wasmcloud-lattice-control-lattice-control.d.ts" />
/// <reference path="./interfaces/wasmcloud-lattice-control-load.d.ts" />
/// <reference path="./interfaces/wasmcloud-lattice-control-types.d.ts" />
declare module 'wasmcloud:lattice-control/controller@1.2.0' {
  export type * as WasmcloudLatticeControlEvents120 from 'wasmcloud:lattice-control/events@1.2.0'; // import wasmcloud:lattice-control/events@1.2.0
  export type * as WasmcloudLatticeControlLatticeControl120 from 'wasmcloud:lattice-control/lattice-control@1.2.0'; // import wasmcloud:lattice-control/lattice-control@1.2.0
  export type * as WasmcloudLatticeControlLoad120 from 'wasmcloud:lattice-control/load@1.2.0'; // import wasmcloud:lattice-control/load@1.2.0
  export type * as WasmcloudLatticeControlTypes120 from 'wasmcloud:lattice-control/types@1.2.0'; // import wasmcloud:lattice-control/types@1.2.0
}
