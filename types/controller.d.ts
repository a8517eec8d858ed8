/// <reference path="./interfaces/wasmcloud-lattice-control-events.d.ts" />
/// <reference path="./interfaces/wasmcloud-lattice-control-lattice-control.d.ts" />
/// <reference path="./interfaces/wasmcloud-lattice-control-types.d.ts" />
declare module 'wasmcloud:lattice-control/controller@1.1.0' {
  export type * as WasmcloudLatticeControlEvents110 from 'wasmcloud:lattice-control/events@1.1.0'; // import wasmcloud:lattice-control/events@1.1.0
  export type * as WasmcloudLatticeControlLatticeControl110 from 'wasmcloud:lattice-control/lattice-control@1.1.0'; // import wasmcloud:lattice-control/lattice-control@1.1.0
  export type * as WasmcloudLatticeControlTypes110 from 'wasmcloud:lattice-control/types@1.1.0'; // import wasmcloud:lattice-control/types@1.1.0
}
