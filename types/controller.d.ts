/// <reference path="./interfaces/wasmcloud-lattice-control-lattice-control.d.ts" />
/// <reference path="./interfaces/wasmcloud-lattice-control-types.d.ts" />
declare module 'wasmcloud:lattice-control/controller@1.0.0' {
  export type * as WasmcloudLatticeControlLatticeControl100 from 'wasmcloud:lattice-control/lattice-control@1.0.0'; // import wasmcloud:lattice-control/lattice-control@1.0.0
  export type * as WasmcloudLatticeControlTypes100 from 'wasmcloud:lattice-control/types@1.0.0'; // import wasmcloud:lattice-control/types@1.0.0
}
