/** The "MicroStax Identity" view: environments → clusters, with token state and TTL. */
import * as vscode from 'vscode';
import { clusterTreeItem, environmentTreeItem, isUnconfigured, type TreeItemPresentation, unreachableText } from '../common/presentation';
import type { SessionTracker } from '../common/sessionState';
import { type ClusterState, DaemonCommand, type Environment, type IdentityStatus, type ListClustersResult, type ListEnvironmentsResult } from '../common/protocol';
import type { Daemon } from './daemon';

export type Node =
    | { kind: 'environment'; env: Environment }
    | { kind: 'cluster'; cluster: ClusterState; receivedAtMs: number }
    | { kind: 'message'; text: string; tooltip?: string; retry?: boolean; environment?: string };

function toTreeItem(p: TreeItemPresentation, collapsible: vscode.TreeItemCollapsibleState): vscode.TreeItem {
    const item = new vscode.TreeItem(p.label, collapsible);
    item.description = p.description;
    item.tooltip = p.tooltip;
    item.contextValue = p.contextValue;
    item.iconPath = new vscode.ThemeIcon(p.icon, p.iconColour ? new vscode.ThemeColor(p.iconColour) : undefined);
    return item;
}

export class IdentityTree implements vscode.TreeDataProvider<Node>, vscode.Disposable {
    private readonly changed = new vscode.EventEmitter<Node | undefined>();
    readonly onDidChangeTreeData = this.changed.event;
    /** Clusters by environment, as last heard from the daemon. */
    private readonly clusters = new Map<string, { list: ClusterState[]; receivedAtMs: number; catalogError?: string }>();
    private environments: Environment[] | undefined;

    constructor(
        private readonly daemon: Daemon,
        private readonly sessions: SessionTracker,
        private readonly section: string,
        /** Called with the first-run state ("nothing configured") whenever the environments are read. */
        private readonly onConfigured: (unconfigured: boolean) => void = () => undefined,
    ) {}

    refresh(): void {
        this.environments = undefined;
        this.clusters.clear();
        this.changed.fire(undefined);
    }

    /** Re-render with what is known (e.g. an environment's session expired). */
    redraw(): void {
        this.changed.fire(undefined);
    }

    /** A `microstax/clusterStateChanged` notification: update that row only. */
    updateCluster(c: ClusterState): void {
        const entry = this.clusters.get(c.environment);
        if (!entry) {
            return;
        }
        const idx = entry.list.findIndex((x) => x.name === c.name);
        if (idx >= 0) {
            entry.list[idx] = c;
        } else {
            entry.list.push(c);
        }
        entry.receivedAtMs = Date.now();
        this.changed.fire(undefined);
    }

    /** A `microstax/identityChanged` notification: signed-in state and that environment's clusters. */
    updateIdentity(s: IdentityStatus): void {
        if (this.environments) {
            const env = this.environments.find((e) => e.name === s.environment);
            if (env) {
                env.signedIn = s.signedIn;
            }
        }
        if (Array.isArray(s.clusters) && (s.clusters.length > 0 || s.catalogError)) {
            this.clusters.set(s.environment, { list: [...s.clusters], receivedAtMs: Date.now(), catalogError: s.catalogError });
        }
        this.changed.fire(undefined);
    }

    getTreeItem(node: Node): vscode.TreeItem {
        if (node.kind === 'environment') {
            const item = toTreeItem(environmentTreeItem(node.env, this.sessions.isExpired(node.env.name)), vscode.TreeItemCollapsibleState.Expanded);
            item.id = `env:${node.env.name}`;
            return item;
        }
        if (node.kind === 'cluster') {
            const item = toTreeItem(clusterTreeItem(node.cluster, node.receivedAtMs, Date.now()), vscode.TreeItemCollapsibleState.None);
            item.id = `cluster:${node.cluster.environment}/${node.cluster.name}`;
            return item;
        }
        const item = new vscode.TreeItem(node.text, vscode.TreeItemCollapsibleState.None);
        item.tooltip = node.tooltip;
        if (node.retry) {
            item.iconPath = new vscode.ThemeIcon('warning', new vscode.ThemeColor('list.warningForeground'));
            item.contextValue = 'message.retry';
            item.command = { command: `${this.section}.view.refresh`, title: 'Retry' };
        } else {
            item.iconPath = new vscode.ThemeIcon('info');
        }
        return item;
    }

    async getChildren(node?: Node): Promise<Node[]> {
        if (this.daemon.state !== 'running') {
            return [];
        }
        try {
            if (!node) {
                if (!this.environments) {
                    const r = await this.daemon.request<ListEnvironmentsResult>(DaemonCommand.listEnvironments);
                    this.environments = r.environments;
                }
                const unconfigured = isUnconfigured(this.environments);
                this.onConfigured(unconfigured);
                // First run (nothing configured, not signed in): empty, so the welcome view shows.
                if (unconfigured && !this.environments[0].signedIn) {
                    return [];
                }
                return this.environments.map((env) => ({ kind: 'environment', env }));
            }
            if (node.kind === 'environment') {
                let entry = this.clusters.get(node.env.name);
                if (!entry) {
                    const r = await this.daemon.request<ListClustersResult>(DaemonCommand.listClusters, { environment: node.env.name });
                    entry = { list: r.clusters, receivedAtMs: Date.now(), catalogError: r.catalogError };
                    this.clusters.set(node.env.name, entry);
                }
                if (entry.list.length === 0) {
                    if (entry.catalogError) {
                        const t = unreachableText(node.env.name, entry.catalogError);
                        return [{ kind: 'message', text: t.label, tooltip: t.tooltip, retry: true, environment: node.env.name }];
                    }
                    return [{ kind: 'message', text: 'No clusters in the catalog' }];
                }
                const at = entry.receivedAtMs;
                const rows: Node[] = entry.list.map((cluster) => ({ kind: 'cluster', cluster, receivedAtMs: at }));
                if (entry.catalogError) {
                    const tooltip = `${entry.catalogError}\n\nThese are the last known clusters. Click to retry.`;
                    rows.unshift({ kind: 'message', text: 'Catalog unreachable — Retry', tooltip, retry: true, environment: node.env.name });
                }
                return rows;
            }
        } catch (err) {
            const e = err as { message?: string; data?: { message?: string } };
            const why = e.data?.message ?? e.message ?? String(err);
            return [{ kind: 'message', text: `${why} — Retry`, tooltip: `${why}\n\nClick to retry.`, retry: true }];
        }
        return [];
    }

    dispose(): void {
        this.changed.dispose();
    }
}
