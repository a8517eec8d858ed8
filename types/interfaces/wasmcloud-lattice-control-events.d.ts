/// <reference path="./wasmcloud-lattice-control-load.d.ts" />
/// <reference path="./wasmcloud-lattice-control-types.d.ts" />
declare module 'wasmcloud:lattice-control/events@1.2.0' {
  export type StringMap = import('wasmcloud:lattice-control/types@1.2.0').StringMap;
  export type HostInventory = import('wasmcloud:lattice-control/types@1.2.0').HostInventory;
  export type Link = import('wasmcloud:lattice-control/types@1.2.0').Link;
  export type LoadReport = import('wasmcloud:lattice-control/load@1.2.0').LoadReport;
  /**
   * `host_started` and `host_stopped`.
   */
  export interface HostEvent {
    /**
     * The payload's `host_id`, else (missing or empty) the CloudEvent `source`: the
     * publishing host. Host lifecycle events carry no `host_id`.
     */
    hostId: string,
    /**
     * `host_started`.
     */
    friendlyName?: string,
    /**
     * The host's labels (at start, or when it stopped).
     */
    labels?: StringMap,
    /**
     * `host_started`: the host's wasmCloud version.
     */
    version?: string,
    /**
     * `host_started`: seconds since the host started (0).
     */
    uptimeSeconds?: bigint,
  }
  /**
   * `component_scaled` (also a scale to 0) and `component_scale_failed`.
   */
  export interface ComponentScaleEvent {
    hostId: string,
    componentId: string,
    imageRef: string,
    maxInstances: number,
    annotations?: StringMap,
    /**
     * The component's public key (`public_key`), when it carries signed claims.
     */
    publicKey?: string,
    /**
     * Its signed claims, when it has them: `issuer`, `name`, `version`, `revision`,
     * `tags`, `call_alias`, `not_before_human`, `expires_human` (values that are not text
     * as JSON text; a missing value is absent).
     */
    claims?: StringMap,
    /**
     * `component_scale_failed`: the host's error.
     */
    error?: string,
  }
  /**
   * `provider_started`, `provider_stopped` and `provider_start_failed`.
   */
  export interface ProviderEvent {
    hostId: string,
    providerId: string,
    /**
     * `image_ref`; for `provider_start_failed` the reference asked for (`provider_ref`).
     */
    imageRef?: string,
    annotations?: StringMap,
    /**
     * `provider_started` of a provider with signed claims: `issuer`, `name`, `version`,
     * `not_before_human`, `expires_human` (as for components).
     */
    claims?: StringMap,
    /**
     * `provider_stopped`: why it stopped.
     */
    reason?: string,
    /**
     * `provider_start_failed`: the host's error.
     */
    error?: string,
  }
  /**
   * `health_check_passed` (the provider answered healthy after not having done so),
   * `health_check_failed` (it answered unhealthy after a healthy answer) and
   * `health_check_status` (its answer did not change). The host asks every 30 s.
   */
  export interface HealthCheckEvent {
    hostId: string,
    providerId: string,
  }
  /**
   * `linkdef_set_failed`: a host refused a link put.
   */
  export interface LinkSetFailedEvent {
    link: Link,
    /**
     * The host's error.
     */
    error: string,
  }
  /**
   * `linkdef_deleted`. `target` and `interfaces` are set when the deleted link existed.
   */
  export interface LinkDeletedEvent {
    sourceId: string,
    name: string,
    witNamespace: string,
    witPackage: string,
    target?: string,
    interfaces?: Array<string>,
  }
  /**
   * `labels_changed`: the host's labels after the change.
   */
  export interface LabelsEvent {
    hostId: string,
    labels: StringMap,
  }
  /**
   * The event payload, one case per event type.
   */
  export type EventData = EventDataHostStarted | EventDataHostStopped | EventDataHostHeartbeat | EventDataComponentScaled | EventDataComponentScaleFailed | EventDataProviderStarted | EventDataProviderStopped | EventDataProviderStartFailed | EventDataHealthCheckPassed | EventDataHealthCheckFailed | EventDataHealthCheckStatus | EventDataLinkSet | EventDataLinkSetFailed | EventDataLinkDeleted | EventDataConfigSet | EventDataConfigDeleted | EventDataLabelsChanged | EventDataComponentLoad | EventDataOther;
  export interface EventDataHostStarted {
    tag: 'host-started',
    val: HostEvent,
  }
  export interface EventDataHostStopped {
    tag: 'host-stopped',
    val: HostEvent,
  }
  /**
   * The host's whole inventory (components with their instances and revision,
   * providers), published every 30 s. `host-id` falls back to the CloudEvent `source`.
   */
  export interface EventDataHostHeartbeat {
    tag: 'host-heartbeat',
    val: HostInventory,
  }
  export interface EventDataComponentScaled {
    tag: 'component-scaled',
    val: ComponentScaleEvent,
  }
  export interface EventDataComponentScaleFailed {
    tag: 'component-scale-failed',
    val: ComponentScaleEvent,
  }
  export interface EventDataProviderStarted {
    tag: 'provider-started',
    val: ProviderEvent,
  }
  export interface EventDataProviderStopped {
    tag: 'provider-stopped',
    val: ProviderEvent,
  }
  export interface EventDataProviderStartFailed {
    tag: 'provider-start-failed',
    val: ProviderEvent,
  }
  export interface EventDataHealthCheckPassed {
    tag: 'health-check-passed',
    val: HealthCheckEvent,
  }
  export interface EventDataHealthCheckFailed {
    tag: 'health-check-failed',
    val: HealthCheckEvent,
  }
  export interface EventDataHealthCheckStatus {
    tag: 'health-check-status',
    val: HealthCheckEvent,
  }
  export interface EventDataLinkSet {
    tag: 'link-set',
    val: Link,
  }
  export interface EventDataLinkSetFailed {
    tag: 'link-set-failed',
    val: LinkSetFailedEvent,
  }
  export interface EventDataLinkDeleted {
    tag: 'link-deleted',
    val: LinkDeletedEvent,
  }
  /**
   * The name of the named config.
   */
  export interface EventDataConfigSet {
    tag: 'config-set',
    val: string,
  }
  export interface EventDataConfigDeleted {
    tag: 'config-deleted',
    val: string,
  }
  export interface EventDataLabelsChanged {
    tag: 'labels-changed',
    val: LabelsEvent,
  }
  /**
   * `component_load` (new in 1.2.0): published by this provider, not a host, every
   * `load_interval_ms` to `wasmbus.evt.{lattice}.component_load` while a link asks for
   * it. The CloudEvent `id` names the interval, so replicas publish it once.
   */
  export interface EventDataComponentLoad {
    tag: 'component-load',
    val: LoadReport,
  }
  /**
   * A type this version does not know (from a newer host): see `raw`.
   */
  export interface EventDataOther {
    tag: 'other',
  }
  /**
   * A lattice event (a CloudEvent from `wasmbus.evt.{lattice}.*`).
   */
  export interface LatticeEvent {
    /**
     * Full CloudEvent type, e.g. `com.wasmcloud.lattice.component_scaled`.
     */
    eventType: string,
    id: string,
    source: string,
    time?: string,
    /**
     * The lattice it was published in.
     */
    lattice: string,
    data: EventData,
    /**
     * The CloudEvent's `data` as JSON text.
     */
    raw: string,
  }
}
