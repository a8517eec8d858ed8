//! Control-interface client for wasmCloud 1.x lattices (`wasmbus.ctl.v1`).
