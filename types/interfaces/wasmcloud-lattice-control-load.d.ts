declare module 'wasmcloud:lattice-control/load@1.2.0' {
  /**
   * One component's load on one host, or summed over its hosts (`host-id` empty).
   */
  export interface ComponentLoad {
    componentId: string,
    /**
     * The component's image reference, as its host reported it.
     */
    imageRef: string,
    /**
     * The host; empty in a sum over hosts.
     */
    hostId: string,
    invocationsPerSecond: number,
    errorsPerSecond: number,
    /**
     * Invocations holding an instance at the last reading. A component at `max-instances`
     * takes no further call until one ends: its callers queue.
     */
    activeInstances: bigint,
    /**
     * Its `max_instances` (summed over hosts in a sum).
     */
    maxInstances: bigint,
    /**
     * `active-instances / max-instances` (0 when the maximum is unknown).
     */
    saturation: number,
    /**
     * Invocation time percentiles in ms over the window, when any invocation was timed.
     * A 1.x host's histogram has coarse buckets: read them as bounds, not measurements.
     */
    durationP50Ms?: number,
    durationP99Ms?: number,
    /**
     * The span the rates cover (0 until two readings arrived).
     */
    windowMs: bigint,
  }
  /**
   * What `get-component-load` asks for. Every field narrows; none set: every component on
   * every host of the link's lattice.
   */
  export interface LoadQuery {
    componentId?: string,
    /**
     * A full host id, a unique id prefix or a friendly name (the sums stay over every host).
     */
    hostId?: string,
  }
  /**
   * The load of a lattice's components: per host, and per component summed over hosts.
   */
  export interface LoadReport {
    lattice: string,
    /**
     * Sorted by component, then host.
     */
    perHost: Array<ComponentLoad>,
    /**
     * Sorted by component.
     */
    summed: Array<ComponentLoad>,
    /**
     * Hosts whose metrics the report holds.
     */
    hostsReporting: number,
  }
}
