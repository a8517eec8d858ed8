//! Wire types of the control protocol.
//!
//! Field names, renames, aliases, defaults and `skip_serializing_if` are those of
//! `wasmcloud-control-interface` 3.0.1, so the JSON is identical both ways (proven by
//! `tests/ctl_wire.rs`). Maps are `BTreeMap` where upstream uses one, for a stable order.

/// Setters of a `Builder(Command)` tuple struct, one line per field:
/// `String` fields take `impl Into<String>`, `list` fields any iterable of strings,
/// `map` fields set `Some(map)`, other types are stored as given.
macro_rules! setters {
    () => {};
    ($(#[$m:meta])* $f:ident: String; $($rest:tt)*) => {
        $(#[$m])*
        pub fn $f(mut self, v: impl Into<String>) -> Self {
            self.0.$f = v.into();
            self
        }
        setters!($($rest)*);
    };
    ($(#[$m:meta])* $f:ident: list; $($rest:tt)*) => {
        $(#[$m])*
        pub fn $f(mut self, v: impl IntoIterator<Item = impl Into<String>>) -> Self {
            self.0.$f = v.into_iter().map(Into::into).collect();
            self
        }
        setters!($($rest)*);
    };
    ($(#[$m:meta])* $f:ident: map $t:ty; $($rest:tt)*) => {
        $(#[$m])*
        pub fn $f(mut self, v: impl Into<$t>) -> Self {
            self.0.$f = Some(v.into());
            self
        }
        setters!($($rest)*);
    };
    ($(#[$m:meta])* $f:ident: $t:ty; $($rest:tt)*) => {
        $(#[$m])*
        pub fn $f(mut self, v: $t) -> Self {
            self.0.$f = v;
            self
        }
        setters!($($rest)*);
    };
}

mod components;
mod hosts;
mod labels;
mod links;
mod providers;
mod registries;
mod reply;

pub use components::*;
pub use hosts::*;
pub use labels::*;
pub use links::*;
pub use providers::*;
pub use registries::*;
pub use reply::*;

/// The message of an `InvalidArgument` error, for the builders' tests.
#[cfg(test)]
fn invalid<T: std::fmt::Debug>(r: super::Result<T>) -> String {
    let e = r.unwrap_err();
    assert_eq!(e.kind(), crate::ctl::CtlErrorKind::InvalidArgument, "{e}");
    e.message().to_string()
}
