/**
 * MicroStax Identity: a thin shell over the `microstax daemon` language server. It starts the
 * daemon and turns its answers into VS Code UI; it holds no token logic.
 */
import * as vscode from 'vscode';
import { ChangeDebouncer } from './common/debounce';
import { commandIds, loadServerInfo } from './common/identity';
import { classifyChange } from './common/settings';
import { Commands } from './vscode/commands';
import { currentSettings, Daemon } from './vscode/daemon';
import { TokenDocuments } from './vscode/documents';
import { createLogChannel } from './vscode/log';
import { IdentityStatusBar } from './vscode/statusBar';
import { IdentityTree } from './vscode/tree';

const SETTINGS_DEBOUNCE_MS = 750;

let daemon: Daemon | undefined;

export async function activate(context: vscode.ExtensionContext): Promise<void> {
    const info = loadServerInfo(context.extension.packageJSON);
    const ids = commandIds(info.section);
    const log = createLogChannel(info.name);
    context.subscriptions.push(log);
    log.info(`${info.name} ${String(context.extension.packageJSON.version)} activating`);

    daemon = new Daemon(info, context, log);
    const statusBar = new IdentityStatusBar('identity', info.name, ids.quickActions);
    const tree = new IdentityTree(daemon);
    const docs = new TokenDocuments();
    const commands = new Commands(info, ids, context, daemon, log, statusBar, tree, docs);
    const view = vscode.window.createTreeView(`${info.section}.identityView`, { treeDataProvider: tree });
    context.subscriptions.push(daemon, statusBar, tree, docs, commands, view, ...commands.register());

    const d = daemon;
    context.subscriptions.push(
        d.onStateChanged((state) => {
            statusBar.setDaemonState(state);
            if (state === 'running' || state === 'failed' || state === 'stopped') {
                tree.refresh();
            }
        }),
        d.onIdentityChanged((status) => {
            // With an environment set, the status bar follows that one environment.
            const wanted = currentSettings(info).environment;
            if (!wanted || status.environment === wanted) {
                statusBar.setIdentity(status);
            }
            tree.updateIdentity(status);
        }),
        d.onClusterStateChanged((cluster) => tree.updateCluster(cluster)),
        d.onLoginPrompt((prompt) => void commands.onLoginPrompt(prompt)),
    );

    const debouncer = new ChangeDebouncer(SETTINGS_DEBOUNCE_MS, async (kind) => {
        if (kind === 'restart') {
            await d.restart('a setting changed');
        } else {
            await d.pushSettings();
            await d.refreshIdentity(currentSettings(info).environment || undefined);
        }
    });
    context.subscriptions.push(
        { dispose: () => debouncer.dispose() },
        vscode.workspace.onDidChangeConfiguration((e) => debouncer.push(classifyChange(info.section, (key) => e.affectsConfiguration(key)))),
    );

    void d.start();
}

export async function deactivate(): Promise<void> {
    await daemon?.stop();
    daemon = undefined;
}
