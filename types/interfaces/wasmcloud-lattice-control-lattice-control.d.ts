/// <reference path="./wasmcloud-lattice-control-events.d.ts" />
/// <reference path="./wasmcloud-lattice-control-load.d.ts" />
/// <reference path="./wasmcloud-lattice-control-types.d.ts" />
declare module 'wasmcloud:lattice-control/lattice-control@1.2.0' {
  /**
   * The hosts of the lattice. Returns when the hosts have answered (or `expected` did),
   * not after a whole auction timeout, unless `full-wait` is set.
   */
  export function getHosts(query: HostQuery): Array<Host>;
  /**
   * What runs on one host.
   */
  export function getHostInventory(hostId: string): HostInventory;
  /**
   * The claims known to the lattice, one map per signed entity: one request answered by one
   * host (a queue group), under the request timeout.
   */
  export function getClaims(options: QueryOptions): Array<StringMap>;
  /**
   * Which hosts could run this component (answers collected for the scatter timeout). Each
   * ack names the requested component id (1.x hosts put the reference there).
   */
  export function performComponentAuction(request: ComponentAuctionRequest, options: QueryOptions): Array<ComponentAuctionAck>;
  /**
   * Which hosts could run this provider (answers collected for the scatter timeout).
   */
  export function performProviderAuction(request: ProviderAuctionRequest, options: QueryOptions): Array<ProviderAuctionAck>;
  /**
   * Scale a component on a host (0 stops it). The host acks before acting: a failure shows
   * later as a `component_scale_failed` event (see `scale-component-and-wait`).
   */
  export function scaleComponent(command: ScaleComponentCommand): Ack;
  /**
   * Scale, then wait for `component_scaled` (ok) or `component_scale_failed` (`rejected` with the host's error).
   */
  export function scaleComponentAndWait(command: ScaleComponentCommand, wait: WaitOptions): LatticeEvent;
  /**
   * Replace a running component's image.
   */
  export function updateComponent(command: UpdateComponentCommand): Ack;
  /**
   * Start a provider on a host.
   */
  export function startProvider(command: StartProviderCommand): Ack;
  /**
   * Start, then wait for `provider_started` (ok) or `provider_start_failed` (`rejected`).
   */
  export function startProviderAndWait(command: StartProviderCommand, wait: WaitOptions): LatticeEvent;
  /**
   * Stop a provider on a host.
   */
  export function stopProvider(command: StopProviderCommand): Ack;
  /**
   * Stop, then wait for `provider_stopped`.
   */
  export function stopProviderAndWait(command: StopProviderCommand, wait: WaitOptions): LatticeEvent;
  /**
   * Stop a host.
   */
  export function stopHost(command: StopHostCommand): Ack;
  /**
   * Put an interface link.
   */
  export function putLink(link: Link): Ack;
  /**
   * Delete an interface link.
   */
  export function deleteLink(request: DeleteLinkRequest): Ack;
  /**
   * All links of the lattice.
   */
  export function getLinks(options: QueryOptions): Array<Link>;
  /**
   * Put (replace) a named config.
   */
  export function putConfig(name: string, values: StringMap): Ack;
  /**
   * A named config; `none` when it does not exist.
   */
  export function getConfig(name: string): StringMap | undefined;
  /**
   * Delete a named config.
   */
  export function deleteConfig(name: string): Ack;
  /**
   * Put a label on a host (`hostcore.*` keys are refused).
   */
  export function putLabel(hostId: string, key: string, value: string): Ack;
  /**
   * Delete a label from a host.
   */
  export function deleteLabel(hostId: string, key: string): Ack;
  /**
   * Put registry credentials, keyed by registry host, on every host.
   */
  export function putRegistries(registries: Array<[string, RegistryCredential]>): Ack;
  /**
   * This provider's version, the lattice this caller's link manages and what it may do.
   * Answered by the provider; never reaches the lattice.
   */
  export function providerInfo(options: QueryOptions): LinkInfo;
  /**
   * The load of the lattice's components (new in 1.2.0), from the metrics its hosts export
   * to the provider: whichever replica answers, it answers for the whole lattice.
   * `hosts-reporting` is 0 when no host has reported (the provider's `otlp_listen` is unset,
   * or the hosts export elsewhere).
   */
  export function getComponentLoad(query: LoadQuery): LoadReport;
  export type CtlError = import('wasmcloud:lattice-control/types@1.2.0').CtlError;
  export type Ack = import('wasmcloud:lattice-control/types@1.2.0').Ack;
  export type QueryOptions = import('wasmcloud:lattice-control/types@1.2.0').QueryOptions;
  export type HostQuery = import('wasmcloud:lattice-control/types@1.2.0').HostQuery;
  export type Host = import('wasmcloud:lattice-control/types@1.2.0').Host;
  export type HostInventory = import('wasmcloud:lattice-control/types@1.2.0').HostInventory;
  export type Link = import('wasmcloud:lattice-control/types@1.2.0').Link;
  export type DeleteLinkRequest = import('wasmcloud:lattice-control/types@1.2.0').DeleteLinkRequest;
  export type ComponentAuctionRequest = import('wasmcloud:lattice-control/types@1.2.0').ComponentAuctionRequest;
  export type ComponentAuctionAck = import('wasmcloud:lattice-control/types@1.2.0').ComponentAuctionAck;
  export type ProviderAuctionRequest = import('wasmcloud:lattice-control/types@1.2.0').ProviderAuctionRequest;
  export type ProviderAuctionAck = import('wasmcloud:lattice-control/types@1.2.0').ProviderAuctionAck;
  export type ScaleComponentCommand = import('wasmcloud:lattice-control/types@1.2.0').ScaleComponentCommand;
  export type UpdateComponentCommand = import('wasmcloud:lattice-control/types@1.2.0').UpdateComponentCommand;
  export type StartProviderCommand = import('wasmcloud:lattice-control/types@1.2.0').StartProviderCommand;
  export type StopProviderCommand = import('wasmcloud:lattice-control/types@1.2.0').StopProviderCommand;
  export type StopHostCommand = import('wasmcloud:lattice-control/types@1.2.0').StopHostCommand;
  export type RegistryCredential = import('wasmcloud:lattice-control/types@1.2.0').RegistryCredential;
  export type StringMap = import('wasmcloud:lattice-control/types@1.2.0').StringMap;
  export type WaitOptions = import('wasmcloud:lattice-control/types@1.2.0').WaitOptions;
  export type LinkInfo = import('wasmcloud:lattice-control/types@1.2.0').LinkInfo;
  export type LatticeEvent = import('wasmcloud:lattice-control/events@1.2.0').LatticeEvent;
  export type LoadQuery = import('wasmcloud:lattice-control/load@1.2.0').LoadQuery;
  export type LoadReport = import('wasmcloud:lattice-control/load@1.2.0').LoadReport;
}
