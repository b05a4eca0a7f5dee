import type { ClusterState, Environment, FederateResult, IdentityStatus, TokenSummary } from '../src/common/protocol';

export const envs: Environment[] = [
    { name: 'prod', issuer: 'https://id.prod.example', default: false, signedIn: false },
    { name: 'dev', issuer: 'http://127.0.0.1:8000', default: true, signedIn: true },
];

export function cluster(name: string, over: Partial<ClusterState> = {}): ClusterState {
    return {
        name,
        environment: 'dev',
        region: 'eu-west-1',
        issuer: 'http://127.0.0.1:8000',
        tokenEndpoint: 'http://127.0.0.1:8000/token',
        headerBudget: 8192,
        audience: name,
        services: [],
        source: 'catalog',
        flavour: 'microstax',
        status: 'up',
        token: { state: 'not_exchanged' },
        ...over,
    };
}

export function identity(over: Partial<IdentityStatus> = {}): IdentityStatus {
    return {
        v: 1,
        environment: 'dev',
        signedIn: true,
        subject: 'alice@example.com',
        issuer: 'http://127.0.0.1:8000',
        expiresAt: '2030-01-01T01:00:00Z',
        secondsLeft: 3600,
        label: 'alice@example.com (dev)',
        clusters: [],
        summary: '0 of 2 clusters exchanged',
        ...over,
    };
}

export function summary(over: Partial<TokenSummary> = {}): TokenSummary {
    return {
        subject: 'alice@example.com',
        identityKind: 'user',
        identityDetail: {},
        issuer: 'http://127.0.0.1:8000',
        audience: ['stx-eu-west-cluster'],
        scopes: [],
        actors: [],
        expiresAt: '2030-01-01T00:05:00Z',
        secondsLeft: 300,
        expiresIn: 'expires in 5m',
        sizeBytes: 5400,
        signatures: { classical: { alg: 'ES256' }, pq: { alg: 'ML-DSA-65' } },
        verdict: { classical: 'verified', pq: 'verified' },
        ...over,
    };
}

export function federateResult(over: Partial<FederateResult> = {}): FederateResult {
    return {
        v: 1,
        token: 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.sig',
        summary: summary(),
        cluster: cluster('stx-eu-west-cluster', { token: { state: 'exchanged', secondsLeft: 300, service: 'default' } }),
        headerBudget: { bytes: 5400, limit: 8192, exceeds: false },
        ...over,
    };
}
