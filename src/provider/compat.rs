//! `wasmcloud:lattice-control@1.0.0` served beside the current version.
//!
//! A component built against 1.0.0 calls `…/lattice-control@1.0.0.{func}`; the host routes
//! the call by that versioned name, so the provider serves both. Every 1.0.0 function is the
//! current one (same records, same checks, same answers), except that the three wait forms
//! answer the event in its 1.0.0 form ([`crate::convert::events::v1_0`]).

use wasmcloud_provider_sdk::Context;

use super::LatticeControlProvider;
use crate::bindings::exports::wasmcloud::lattice_control::lattice_control::Handler as Current;
use crate::bindings::v1_0::exports::wasmcloud::lattice_control::lattice_control::Handler;
use crate::bindings::v1_0::types as old;
use crate::convert::events::v1_0::lattice_event;

/// What a function of the 1.0.0 interface returns (see the handler's `CallResult`).
type CallResultV1_0<T> = anyhow::Result<Result<T, old::CtlError>>;

/// The 1.0.0 functions whose records did not change: each is the current function.
macro_rules! same_as_current {
    ($($name:ident($($arg:ident: $ty:ty),*) -> $out:ty;)*) => {
        $(
            async fn $name(&self, cx: Option<Context>, $($arg: $ty),*) -> CallResultV1_0<$out> {
                <Self as Current<Option<Context>>>::$name(self, cx, $($arg),*).await
            }
        )*
    };
}

/// The 1.0.0 wait forms: the current function, its event in the 1.0.0 form.
macro_rules! event_in_1_0_form {
    ($($name:ident($($arg:ident: $ty:ty),*);)*) => {
        $(
            async fn $name(&self, cx: Option<Context>, $($arg: $ty),*) -> CallResultV1_0<old::LatticeEvent> {
                let answer = <Self as Current<Option<Context>>>::$name(self, cx, $($arg),*).await?;
                Ok(answer.map(|event| lattice_event(&event)))
            }
        )*
    };
}

impl Handler<Option<Context>> for LatticeControlProvider {
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

    event_in_1_0_form! {
        scale_component_and_wait(command: old::ScaleComponentCommand, wait: old::WaitOptions);
        start_provider_and_wait(command: old::StartProviderCommand, wait: old::WaitOptions);
        stop_provider_and_wait(command: old::StopProviderCommand, wait: old::WaitOptions);
    }
}
