/**
 * MicroStax Identity: a thin shell over the `microstax daemon` language server. It starts the
 * daemon and turns its answers into VS Code UI; it holds no token logic.
 */
import * as vscode from 'vscode';
import { ChangeDebouncer } from './common/debounce';
import { commandIds, loadServerInfo } from './common/identity';
import { SessionTracker } from './common/sessionState';
import { classifyChange, readSettings } from './common/settings';
import { Commands } from './vscode/commands';
import { currentSettings, Daemon } from './vscode/daemon';
import { TokenDocuments } from './vscode/documents';
import { createLogChannel } from './vscode/log';
import { IdentityStatusBar } from './vscode/statusBar';
import { openSetting } from './vscode/settingsUi';
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
    const d = daemon;
    const sessions = new SessionTracker();
    const setContext = (key: string, value: unknown) => void vscode.commands.executeCommand('setContext', `${info.section}.${key}`, value);
    setContext('signedIn', false);
    const statusBar = new IdentityStatusBar('identity', info.name, ids, info.section, sessions, (env) => void d.refreshIdentity(env));
    const tree = new IdentityTree(d, sessions, info.section, (unconfigured) => setContext('unconfigured', unconfigured));
    const docs = new TokenDocuments();
    const commands = new Commands(info, ids, context, d, log, statusBar, tree, docs, sessions);
    const view = vscode.window.createTreeView(`${info.section}.identityView`, { treeDataProvider: tree });
    context.subscriptions.push(d, statusBar, tree, docs, commands, view, ...commands.register());

    context.subscriptions.push(
        d.onStateChanged((state) => {
            statusBar.setDaemonState(state);
            if (state !== 'running') {
                setContext('signedIn', false);
            }
            if (state === 'running' || state === 'failed' || state === 'stopped') {
                tree.refresh();
            }
        }),
        d.onIdentityProblem((problem) => statusBar.setProblem(problem)),
        d.onIdentityChanged((status) => {
            // One answer for "expired": the status bar, its tooltip and the view read the tracker.
            const justExpired = sessions.observe(status, Date.now());
            // The status bar follows one environment: the setting's, else the config's default.
            const follow = currentSettings(info).environment || d.defaultEnvironment;
            if (!follow || status.environment === follow) {
                statusBar.setIdentity(status);
                setContext('signedIn', status.signedIn && !sessions.isExpired(status.environment));
                setContext('sessionExpired', sessions.isExpired(status.environment));
            }
            tree.updateIdentity(status);
            if (justExpired) {
                void vscode.window
                    .showWarningMessage(`MicroStax: your session in ${status.environment} has expired. Sign in again to federate tokens.`, 'Sign In')
                    .then((choice) => (choice === 'Sign In' ? vscode.commands.executeCommand(ids.signIn, status.environment) : undefined));
            }
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
        vscode.workspace.onDidChangeConfiguration((e) => {
            if (!e.affectsConfiguration(info.section)) {
                return;
            }
            // An invalid value is reported at once, naming the setting.
            const cfg = vscode.workspace.getConfiguration(info.section);
            const { problems } = readSettings((k) => cfg.get(k), { userHome: process.env.HOME ?? '', env: process.env });
            for (const p of problems) {
                void vscode.window
                    .showWarningMessage(`MicroStax: the setting ${info.section}.${p.key} ${p.message}; using the default.`, 'Open Settings')
                    .then((c) => (c ? openSetting(info.section, `${info.section}.${p.key}`) : undefined));
            }
            debouncer.push(classifyChange(info.section, (key) => e.affectsConfiguration(key)));
        }),
    );

    void d.start();
}

export async function deactivate(): Promise<void> {
    await daemon?.stop();
    daemon = undefined;
}
