/**
 * The "Federate Identity Token…" flow: environment → cluster → service, with Back. The UI and
 * the daemon are passed in, so the flow is tested without VS Code.
 */
import type { ClusterState, Environment, FederateParams } from './protocol';
import { clusterStatusIcon, clusterTokenText, isLocalPlatform } from './presentation';

export const BACK = Symbol('back');
export type Back = typeof BACK;

export interface PickItem<T> {
    label: string;
    description?: string;
    detail?: string;
    value: T;
    picked?: boolean;
}

export interface PickStep<T> {
    title: string;
    step: number;
    totalSteps: number;
    placeholder: string;
    /** May be a promise: the UI shows itself busy while it resolves. */
    items: PickItem<T>[] | Promise<PickItem<T>[]>;
    /** Turns text typed by the user into a value (an extra item), or undefined when not allowed. */
    custom?: (typed: string) => PickItem<T> | undefined;
    canGoBack: boolean;
}

export interface FlowUI {
    /** Resolves to the chosen value, BACK, or undefined when dismissed. */
    pick<T>(step: PickStep<T>): Promise<T | Back | undefined>;
}

export interface ClusterList {
    clusters: ClusterState[];
    /** Why the platform catalog could not be read: then an empty list is "unreachable", not "none". */
    catalogError?: string;
}

export interface FlowDaemon {
    listEnvironments(): Promise<Environment[]>;
    listClusters(environment: string): Promise<ClusterList>;
}

/** What the user can do in the cluster step when the catalog cannot be reached. */
export type FlowAction = 'retry' | 'startLocalPlatform' | 'showLogs';
export interface ActionPick {
    action: FlowAction;
}
export function isActionPick(v: unknown): v is ActionPick {
    return typeof v === 'object' && v !== null && 'action' in v && !('name' in v);
}

export interface FlowOptions {
    /** The `microstax.environment` setting, preselected. */
    defaultEnvironment?: string;
    /** Skip steps whose answer is already known (e.g. from the tree view). */
    preset?: { environment?: string; cluster?: ClusterState };
    /** Services used before, most recent first. */
    recentServices?: string[];
    nowMs?: () => number;
    /** Start Local Platform / Show Logs, picked in the cluster step (the flow then ends). */
    onAction?: (action: Exclude<FlowAction, 'retry'>) => void;
}

export const TITLE = 'MicroStax: Federate Identity Token';
export const DEFAULT_SERVICE = 'default';
const SERVICE_RE = /^[A-Za-z0-9][A-Za-z0-9._:/@-]{0,252}$/;

export function environmentItems(envs: Environment[], preferred?: string): PickItem<string>[] {
    const items = envs.map((e) => ({
        label: e.name,
        description: `${e.signedIn ? '$(account) signed in' : '$(circle-slash) signed out'}${e.default ? ' · default' : ''}`,
        detail: e.issuer,
        value: e.name,
        picked: preferred ? e.name === preferred : e.default,
    }));
    // Preferred (setting) first, then the config default, then the rest in the daemon's order.
    const rank = (i: PickItem<string>) => (i.value === preferred ? 0 : envs.find((e) => e.name === i.value)?.default ? 1 : 2);
    return items.map((item, idx) => ({ item, idx })).sort((a, b) => rank(a.item) - rank(b.item) || a.idx - b.idx).map((x) => x.item);
}

/**
 * The cluster step's items. With no clusters and a catalog error, the step says the platform is
 * unreachable and offers Retry (and Start Local Platform for a platform on this machine); with no
 * clusters and no error, it says the catalog is empty.
 */
export function clusterStepItems(list: ClusterList, issuer: string | undefined, receivedAtMs: number, nowMs: number): PickItem<ClusterState | ActionPick>[] {
    if (list.clusters.length === 0) {
        if (list.catalogError) {
            const items: PickItem<ClusterState | ActionPick>[] = [
                { label: '$(refresh) Retry', description: 'the platform is unreachable', detail: list.catalogError, value: { action: 'retry' } },
            ];
            if (isLocalPlatform(issuer)) {
                items.push({ label: '$(play) Start Local Platform', description: 'microstax platform serve, in a terminal', value: { action: 'startLocalPlatform' } });
            }
            items.push({ label: '$(output) Show Logs', value: { action: 'showLogs' } });
            return items;
        }
        return [{ label: '$(info) No clusters in the catalog', description: 'Retry', detail: 'The platform lists no cluster for this environment.', value: { action: 'retry' } }];
    }
    const items: PickItem<ClusterState | ActionPick>[] = clusterItems(list.clusters, receivedAtMs, nowMs);
    if (list.catalogError) {
        items.push({ label: '$(refresh) Retry', description: 'the catalog is unreachable: these are the last known clusters', detail: list.catalogError, value: { action: 'retry' } });
    }
    return items;
}

export function clusterItems(clusters: ClusterState[], receivedAtMs: number, nowMs: number): PickItem<ClusterState>[] {
    return clusters.map((c) => ({
        label: `$(${clusterStatusIcon(c)}) ${c.name}`,
        description: [c.region, c.status].filter(Boolean).join(' · '),
        detail: `Token: ${clusterTokenText(c, receivedAtMs, nowMs)}`,
        value: c,
    }));
}

export function serviceItems(cluster: ClusterState, recent: string[] = []): PickItem<string>[] {
    const seen = new Set<string>();
    const items: PickItem<string>[] = [];
    const add = (name: string | undefined, description: string) => {
        if (!name || seen.has(name)) {
            return;
        }
        seen.add(name);
        items.push({ label: name, description, value: name });
    };
    add(cluster.token.state === 'exchanged' ? cluster.token.service : undefined, 'has a token');
    for (const s of cluster.services ?? []) {
        add(s, 'from the catalog');
    }
    for (const s of recent) {
        add(s, 'used before');
    }
    add(DEFAULT_SERVICE, 'the default service account');
    return items;
}

export function customService(typed: string): PickItem<string> | undefined {
    const value = typed.trim();
    if (!SERVICE_RE.test(value)) {
        return undefined;
    }
    return { label: value, description: 'service typed above', value };
}

/** Runs the steps; resolves to the federate arguments, or undefined when the user gave up. */
export async function runFederateFlow(ui: FlowUI, daemon: FlowDaemon, opts: FlowOptions = {}): Promise<FederateParams | undefined> {
    const now = opts.nowMs ?? Date.now;
    let environment = opts.preset?.environment;
    let cluster = opts.preset?.cluster;
    let issuer: string | undefined;
    let envs: Environment[] | undefined;
    if (!environment && !cluster) {
        // A single environment skips step 1.
        envs = await daemon.listEnvironments();
        if (envs.length === 1) {
            environment = envs[0].name;
        }
    }
    const firstStep: 'environment' | 'cluster' | 'service' = cluster ? 'service' : environment ? 'cluster' : 'environment';
    const steps = firstStep === 'environment' ? 3 : firstStep === 'cluster' ? 2 : 1;
    let state: 'environment' | 'cluster' | 'service' = firstStep;
    const stepNo = (s: typeof state) => ({ environment: 1, cluster: 2, service: 3 })[s] - (3 - steps);

    for (;;) {
        if (state === 'environment') {
            const choice = await ui.pick<string>({
                title: TITLE,
                step: stepNo('environment'),
                totalSteps: steps,
                placeholder: 'Environment the token is for',
                items: (envs ? Promise.resolve(envs) : daemon.listEnvironments()).then((list) => {
                    envs = list;
                    return environmentItems(list, environment ?? opts.defaultEnvironment);
                }),
                canGoBack: false,
            });
            if (choice === undefined || choice === BACK) {
                return undefined;
            }
            environment = choice;
            state = 'cluster';
        } else if (state === 'cluster') {
            const env = environment as string;
            issuer = envs?.find((e) => e.name === env)?.issuer;
            const receivedAt = now();
            const choice = await ui.pick<ClusterState | ActionPick>({
                title: `${TITLE} (${env})`,
                step: stepNo('cluster'),
                totalSteps: steps,
                placeholder: 'Cluster to call',
                items: daemon.listClusters(env).then((list) => clusterStepItems(list, issuer, receivedAt, now())),
                canGoBack: firstStep === 'environment',
            });
            if (choice === undefined) {
                return undefined;
            }
            if (choice === BACK) {
                state = 'environment';
                continue;
            }
            if (isActionPick(choice)) {
                if (choice.action === 'retry') {
                    continue;
                }
                opts.onAction?.(choice.action);
                return undefined;
            }
            cluster = choice;
            state = 'service';
        } else {
            const c = cluster as ClusterState;
            const choice = await ui.pick<string>({
                title: `${TITLE} (${environment ?? c.environment} → ${c.name})`,
                step: stepNo('service'),
                totalSteps: steps,
                placeholder: 'Service (or type one)',
                items: serviceItems(c, opts.recentServices),
                custom: customService,
                canGoBack: firstStep !== 'service',
            });
            if (choice === undefined) {
                return undefined;
            }
            if (choice === BACK) {
                state = 'cluster';
                continue;
            }
            return { environment: environment ?? c.environment, target: c.name, service: choice };
        }
    }
}

/** Recent services list after using `service`: most recent first, unique, bounded. */
export function rememberService(recent: readonly string[], service: string, max = 8): string[] {
    return [service, ...recent.filter((s) => s !== service)].slice(0, max);
}
