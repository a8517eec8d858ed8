declare module 'wasmcloud:lattice-control/types@1.2.0' {
  /**
   * A string-to-string map (labels, annotations, constraints, config values).
   */
  export type StringMap = Array<[string, string]>;
  /**
   * Why a call failed. Every case carries a human-readable message.
   */
  export type CtlError = CtlErrorTimeout | CtlErrorNoResponders | CtlErrorTransport | CtlErrorDecode | CtlErrorInvalidArgument | CtlErrorRejected | CtlErrorNotLinked | CtlErrorNotPermitted;
  /**
   * No answer within the request or scatter timeout (the message says what was last seen).
   */
  export interface CtlErrorTimeout {
    tag: 'timeout',
    val: string,
  }
  /**
   * Nobody listens on that control subject: no host, or a wrong topic prefix. (An unknown
   * host id is `invalid-argument`: host arguments are resolved first.)
   */
  export interface CtlErrorNoResponders {
    tag: 'no-responders',
    val: string,
  }
  /**
   * The link's NATS connection failed (unreachable server, refused credentials).
   */
  export interface CtlErrorTransport {
    tag: 'transport',
    val: string,
  }
  /**
   * A reply could not be decoded.
   */
  export interface CtlErrorDecode {
    tag: 'decode',
    val: string,
  }
  /**
   * Refused before anything was sent: empty ids, `hostcore.*` labels, zero timeouts, unknown hosts, ...
   */
  export interface CtlErrorInvalidArgument {
    tag: 'invalid-argument',
    val: string,
  }
  /**
   * A host answered and refused; carries the host's message.
   */
  export interface CtlErrorRejected {
    tag: 'rejected',
    val: string,
  }
  /**
   * The caller has no link to this provider (or the call named no source component).
   */
  export interface CtlErrorNotLinked {
    tag: 'not-linked',
    val: string,
  }
  /**
   * The link's policy forbids this call; names the rule.
   */
  export interface CtlErrorNotPermitted {
    tag: 'not-permitted',
    val: string,
  }
  /**
   * The success message of a control command (`CtlResponse.message`).
   */
  export interface Ack {
    message: string,
  }
  /**
   * Options of queries that otherwise take no argument.
   */
  export interface QueryOptions {
    /**
     * Overrides the link's scatter timeout (auctions) or request timeout (`get-claims`), in ms.
     */
    timeoutMs?: number,
  }
  /**
   * How `get-hosts` collects the lattice's answers.
   */
  export interface HostQuery {
    /**
     * Return as soon as this many distinct hosts answered.
     */
    expected?: number,
    /**
     * Wait out the whole scatter timeout, as the upstream client does.
     */
    fullWait: boolean,
    /**
     * Overall bound instead of the link's scatter timeout, in ms.
     */
    timeoutMs?: number,
  }
  /**
   * A host as answered to a ping (`Host`).
   */
  export interface Host {
    id: string,
    friendlyName: string,
    labels: StringMap,
    lattice: string,
    version?: string,
    uptimeSeconds: bigint,
    uptimeHuman?: string,
    rpcHost?: string,
    ctlHost?: string,
    jsDomain?: string,
  }
  /**
   * A component running on a host (`ComponentDescription`).
   */
  export interface ComponentDescription {
    id: string,
    imageRef: string,
    name?: string,
    annotations?: StringMap,
    revision: number,
    maxInstances: number,
    limits?: StringMap,
  }
  /**
   * A provider running on a host (`ProviderDescription`).
   */
  export interface ProviderDescription {
    id: string,
    imageRef?: string,
    name?: string,
    revision: number,
    annotations?: StringMap,
  }
  /**
   * What runs on one host (`HostInventory`).
   */
  export interface HostInventory {
    hostId: string,
    friendlyName: string,
    labels: StringMap,
    version: string,
    uptimeHuman: string,
    uptimeSeconds: bigint,
    components: Array<ComponentDescription>,
    providers: Array<ProviderDescription>,
  }
  /**
   * An interface link (`Link`, wasmCloud 1.x).
   */
  export interface Link {
    sourceId: string,
    target: string,
    name: string,
    witNamespace: string,
    witPackage: string,
    interfaces: Array<string>,
    sourceConfig: Array<string>,
    targetConfig: Array<string>,
  }
  /**
   * Which link to delete (`DeleteInterfaceLinkDefinitionRequest`).
   */
  export interface DeleteLinkRequest {
    sourceId: string,
    name: string,
    witNamespace: string,
    witPackage: string,
  }
  export interface ComponentAuctionRequest {
    componentRef: string,
    componentId: string,
    constraints: StringMap,
  }
  export interface ComponentAuctionAck {
    componentRef: string,
    componentId: string,
    hostId: string,
    constraints: StringMap,
  }
  export interface ProviderAuctionRequest {
    providerRef: string,
    providerId: string,
    constraints: StringMap,
  }
  export interface ProviderAuctionAck {
    hostId: string,
    providerRef: string,
    providerId: string,
    constraints: StringMap,
  }
  /**
   * Scale a component on a host; `max-instances` 0 stops it (`ScaleComponentCommand`).
   */
  export interface ScaleComponentCommand {
    componentRef: string,
    componentId: string,
    /**
     * Full id, unique id prefix or friendly name.
     */
    hostId: string,
    maxInstances: number,
    annotations?: StringMap,
    componentLimits?: StringMap,
    /**
     * Named configs given to the component.
     */
    config: Array<string>,
    allowUpdate: boolean,
  }
  /**
   * Replace a running component's image (`UpdateComponentCommand`).
   */
  export interface UpdateComponentCommand {
    componentId: string,
    hostId: string,
    newComponentRef: string,
    annotations?: StringMap,
  }
  export interface StartProviderCommand {
    providerId: string,
    providerRef: string,
    hostId: string,
    config: Array<string>,
    annotations?: StringMap,
  }
  export interface StopProviderCommand {
    hostId: string,
    providerId: string,
  }
  export interface StopHostCommand {
    hostId: string,
    /**
     * How long the host may take to stop, in ms (0: stop now, without waiting for its
     * workloads to stop).
     */
    timeout?: bigint,
  }
  /**
   * Credentials for one OCI registry (`RegistryCredential`).
   */
  export interface RegistryCredential {
    /**
     * `oci` unless told otherwise.
     */
    registryType: string,
    username?: string,
    password?: string,
    token?: string,
  }
  /**
   * Bounds a wait form.
   */
  export interface WaitOptions {
    /**
     * How long to wait for the outcome event, in ms.
     */
    timeoutMs: number,
  }
  /**
   * What `provider-info` reports; it never reaches the lattice.
   */
  export interface LinkInfo {
    /**
     * Version of this provider.
     */
    version: string,
    /**
     * The lattice this caller's link manages.
     */
    lattice: string,
    /**
     * The calling component and link, as the provider saw them.
     */
    sourceId: string,
    linkName: string,
    /**
     * The link's policy in short (`all`, `read-only`, or a list and restrictions).
     */
    policy: string,
    /**
     * Operations the link may call.
     */
    allowedOperations: Array<string>,
    /**
     * Lattice event types this link receives (empty: none).
     */
    eventSubscriptions: Array<string>,
  }
}
