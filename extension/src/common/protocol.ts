/**
 * The daemon protocol (docs/daemon-protocol.md), as types. Everything the extension shows comes
 * from these shapes; the extension never parses token contents itself.
 *
 * No `vscode` import here: this module is shared by pure logic and its unit tests.
 */

/** `workspace/executeCommand` names understood by the daemon. */
export const DaemonCommand = {
    listEnvironments: 'microstax.listEnvironments',
    listClusters: 'microstax.listClusters',
    federate: 'microstax.federate',
    decode: 'microstax.decode',
    verify: 'microstax.verify',
    identityStatus: 'microstax.identityStatus',
    login: 'microstax.login',
    logout: 'microstax.logout',
    configurePlatform: 'microstax.configurePlatform',
} as const;
export type DaemonCommandName = (typeof DaemonCommand)[keyof typeof DaemonCommand];

/** Notifications the daemon sends. */
export const DaemonNotification = {
    identityChanged: 'microstax/identityChanged',
    clusterStateChanged: 'microstax/clusterStateChanged',
    loginPrompt: 'microstax/loginPrompt',
} as const;

/** The JSON-RPC error code of every user error; `data.code` says which one. */
export const USER_ERROR_CODE = -32001;
/** JSON-RPC invalid params: the daemon's answer to a bad command argument (data.code BAD_REQUEST). */
export const INVALID_PARAMS_CODE = -32602;

export type UserErrorCode =
    | 'NOT_SIGNED_IN'
    | 'UNKNOWN_ENVIRONMENT'
    | 'UNKNOWN_CLUSTER'
    | 'EXCHANGE_DENIED'
    | 'IDP_UNAVAILABLE'
    | 'UNTRUSTED_TOKEN'
    | 'INVALID_TOKEN'
    | 'KEYRING_UNAVAILABLE'
    | 'LOGIN_FAILED'
    | 'LOGIN_TIMEOUT'
    | 'BAD_REQUEST'
    | 'CONFIG_INVALID'
    | 'JWKS_FILE_INVALID';

export type UserErrorAction = 'signIn' | 'openSettings' | 'retry' | 'showLogs';

export interface UserErrorData {
    code: UserErrorCode | string;
    message: string;
    action?: UserErrorAction | string;
    /** What to do next, in words (some codes). */
    hint?: string;
}

/** Settings as the daemon wants them: `initialize.initializationOptions`. */
export interface InitializationOptions {
    configFile?: string;
    environment?: string;
    logLevel: 'error' | 'warn' | 'info' | 'debug';
    diagnostics: boolean;
    hover: boolean;
}

export interface Environment {
    name: string;
    issuer: string;
    default: boolean;
    signedIn: boolean;
    /** Where it was defined: `default` is the built-in `dev` (a local platform on 127.0.0.1:8411). */
    source?: string;
    description?: string;
}

export interface ListEnvironmentsResult {
    v: number;
    environments: Environment[];
}

/** From the platform catalog; `degraded`: up, but some of its services are failing. */
export type ClusterStatus = 'up' | 'down' | 'degraded' | 'unknown';
/** Where the daemon learnt about the cluster: the platform catalog or the user's config. */
export type ClusterSource = 'catalog' | 'config';
/** The token-exchange dialect of the cluster's identity provider. */
export type ClusterFlavour = 'microstax' | 'dex' | 'keycloak' | 'rfc8693';
export type TokenState = 'exchanged' | 'not_exchanged' | 'failed';

export interface ClusterTokenState {
    state: TokenState;
    expiresAt?: string;
    secondsLeft?: number;
    service?: string;
    failure?: { kind: 'network' | 'auth' | 'config' | string; message: string };
}

export interface ClusterState {
    name: string;
    environment: string;
    region?: string;
    issuer?: string;
    tokenEndpoint?: string;
    headerBudget?: number;
    /** The audience a token for this cluster is issued for. */
    audience: string;
    /** Services to offer in the service pick (may be empty). */
    services: string[];
    source: ClusterSource;
    flavour: ClusterFlavour;
    /** A status this client does not know (a newer daemon) is shown like `unknown`. */
    status: ClusterStatus;
    token: ClusterTokenState;
}

export interface ListClustersResult {
    v: number;
    environment: string;
    clusters: ClusterState[];
    /** Why the platform catalog could not be read (the clusters are then the last known, or none). */
    catalogError?: string;
}

export type ClassicalVerdict = 'verified' | 'invalid' | 'unverifiable' | 'not_checked';
/**
 * `missing`: the issuer signs hybrid but the token has no PQ part (stripped);
 * `absent`: no PQ part, and the issuer does not sign hybrid (e.g. Keycloak) — nothing is wrong.
 */
export type PqVerdict = 'verified' | 'invalid' | 'missing' | 'absent' | 'unverifiable' | 'not_checked';

export interface TokenSummary {
    subject: string;
    identityKind: 'user' | 'service' | 'spiffe' | 'jwt-svid' | 'kubernetes' | 'unknown';
    identityDetail?: Record<string, unknown>;
    issuer: string;
    audience: string[];
    scopes: string[];
    clientId?: string;
    jti?: string;
    actors: string[];
    issuedAt?: string;
    notBefore?: string;
    expiresAt?: string;
    secondsLeft?: number;
    lifetimeSeconds?: number;
    expiresIn: string;
    sizeBytes: number;
    sizeWarning?: string;
    signatures: { classical: { alg: string; kid?: string }; pq?: { alg: string; kid?: string } };
    verdict: { classical: ClassicalVerdict; pq: PqVerdict; reason?: string; reasonCode?: string };
}

export interface FederateParams {
    environment?: string;
    target: string;
    service: string;
    scopes?: string[];
    audience?: string;
}

export interface FederateResult {
    v: number;
    token: string;
    summary: TokenSummary;
    cluster: ClusterState;
    headerBudget: { bytes: number; limit: number; exceeds: boolean };
}

export interface DecodeResult {
    v: number;
    summary: TokenSummary;
    markdown: string;
    header?: Record<string, unknown>;
    claims?: Record<string, unknown>;
}

export interface ConfigurePlatformParams {
    environment: string;
    platform: string;
    default?: boolean;
}

export interface ConfigurePlatformResult {
    v: number;
    path: string;
    environment: string;
    platform: string;
    changed: boolean;
    default: boolean;
}

/** `microstax.verify`: against the token's own issuer, `issuer`'s keys, or a JWKS file (`jwks`, an absolute path; offline). */
export interface VerifyParams {
    token: string;
    issuer?: string;
    audience?: string;
    jwks?: string;
}

export interface VerifyResult {
    v: number;
    valid: boolean;
    reason?: string;
    summary: TokenSummary;
    markdown: string;
}

export interface IdentityStatus {
    v: number;
    environment: string;
    signedIn: boolean;
    subject?: string;
    issuer?: string;
    expiresAt?: string;
    secondsLeft?: number;
    label: string;
    clusters: ClusterState[];
    summary: string;
    catalogError?: string;
}

export interface LoginPrompt {
    environment: string;
    userCode: string;
    verificationUri: string;
    verificationUriComplete?: string;
    expiresAt: string;
}
