//! Earlier versions served beside the current one: `wasmcloud:lattice-control@1.1.0` and
//! `@1.0.0`.
//!
//! A component built against an earlier version calls `…/lattice-control@1.x.0.{func}`; the
//! host routes the call by that versioned name, so the provider serves every version. Every
//! earlier function is the current one (same records, same checks, same answers), except that
//! the three wait forms answer the event in that version's form
//! ([`crate::convert::events::v1_1`], [`crate::convert::events::v1_0`]).

use wasmcloud_provider_sdk::Context;

use super::LatticeControlProvider;
use crate::bindings::exports::wasmcloud::lattice_control::lattice_control::Handler as Current;
use crate::bindings::v1_0::types as old;
use crate::bindings::wasmcloud::lattice_control::types as wit;

/// What a function of an earlier interface returns (see the handler's `CallResult`): every
/// version shares the current `types`, `ctl-error` among them.
type CallResult<T> = anyhow::Result<Result<T, wit::CtlError>>;

/// The earlier functions whose records did not change: each is the current function.
macro_rules! same_as_current {
    ($($name:ident($($arg:ident: $ty:ty),*) -> $out:ty;)*) => {
        $(
            async fn $name(&self, cx: Option<Context>, $($arg: $ty),*) -> CallResult<$out> {
                <Self as Current<Option<Context>>>::$name(self, cx, $($arg),*).await
            }
        )*
    };
}

/// The wait forms of an earlier version: the current function, its event in that version's
/// form (`$convert`, which may return it as it is or as an `Option` that is always set for
/// the events a wait answers).
macro_rules! event_in_form {
    ($event:ty, $convert:expr; $($name:ident($($arg:ident: $ty:ty),*);)*) => {
        $(
            async fn $name(&self, cx: Option<Context>, $($arg: $ty),*) -> CallResult<$event> {
                let answer = <Self as Current<Option<Context>>>::$name(self, cx, $($arg),*).await?;
                Ok(answer.and_then($convert))
            }
        )*
    };
}

/// The functions 1.0.0 and 1.1.0 share with the current version unchanged.
macro_rules! unchanged_functions {
    () => {
        same_as_current! {
            get_hosts(query: old::HostQuery) -> Vec<old::Host>;
            get_host_inventory(host_id: String) -> old::HostInventory;
            get_claims(options: old::QueryOptions) -> Vec<old::StringMap>;
            perform_component_auction(request: old::ComponentAuctionRequest, options: old::QueryOptions) -> Vec<old::ComponentAuctionAck>;
            perform_provider_auction(request: old::ProviderAuctionRequest, options: old::QueryOptions) -> Vec<old::ProviderAuctionAck>;
            scale_component(command: old::ScaleComponentCommand) -> old::Ack;
            update_component(command: old::UpdateComponentCommand) -> old::Ack;
            start_provider(command: old::StartProviderCommand) -> old::Ack;
            stop_provider(command: old::StopProviderCommand) -> old::Ack;
            stop_host(command: old::StopHostCommand) -> old::Ack;
            put_link(link: old::Link) -> old::Ack;
            delete_link(request: old::DeleteLinkRequest) -> old::Ack;
            get_links(options: old::QueryOptions) -> Vec<old::Link>;
            put_config(name: String, values: old::StringMap) -> old::Ack;
            get_config(name: String) -> Option<old::StringMap>;
            delete_config(name: String) -> old::Ack;
            put_label(host_id: String, key: String, value: String) -> old::Ack;
            delete_label(host_id: String, key: String) -> old::Ack;
            put_registries(registries: Vec<(String, old::RegistryCredential)>) -> old::Ack;
            provider_info(options: old::QueryOptions) -> old::LinkInfo;
        }
    };
}

mod v1_1 {
    use super::*;
    use crate::bindings::v1_1::exports::wasmcloud::lattice_control::lattice_control::Handler;
    use crate::bindings::v1_1::wasmcloud::lattice_control::events::LatticeEvent;
    use crate::convert::events::v1_1::lattice_event;

    /// A wait answers a component or provider event, which 1.1.0 has.
    fn in_1_1_form(
        event: crate::bindings::wasmcloud::lattice_control::events::LatticeEvent,
    ) -> Result<LatticeEvent, wit::CtlError> {
        lattice_event(&event).ok_or_else(|| {
            wit::CtlError::Decode("the event has no form in lattice-control@1.1.0".into())
        })
    }

    impl Handler<Option<Context>> for LatticeControlProvider {
        unchanged_functions!();

        event_in_form! { LatticeEvent, in_1_1_form;
            scale_component_and_wait(command: old::ScaleComponentCommand, wait: old::WaitOptions);
            start_provider_and_wait(command: old::StartProviderCommand, wait: old::WaitOptions);
            stop_provider_and_wait(command: old::StopProviderCommand, wait: old::WaitOptions);
        }
    }
}

mod v1_0 {
    use super::*;
    use crate::bindings::v1_0::exports::wasmcloud::lattice_control::lattice_control::Handler;
    use crate::convert::events::v1_0::lattice_event;

    impl Handler<Option<Context>> for LatticeControlProvider {
        unchanged_functions!();

        event_in_form! { old::LatticeEvent, |event| Ok(lattice_event(&event));
            scale_component_and_wait(command: old::ScaleComponentCommand, wait: old::WaitOptions);
            start_provider_and_wait(command: old::StartProviderCommand, wait: old::WaitOptions);
            stop_provider_and_wait(command: old::StopProviderCommand, wait: old::WaitOptions);
        }
    }
}
