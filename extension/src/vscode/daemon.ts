/**
 * The daemon connection: finds and starts `microstax daemon` with vscode-languageclient over
 * stdio, restarts it (on demand, on a tracked setting change, after a crash), and turns its
 * notifications into events. Holds no token logic.
 */
import * as readline from 'node:readline';
import type { Readable } from 'node:stream';
import * as vscode from 'vscode';
import {
    CloseAction,
    type CloseHandlerResult,
    DidChangeConfigurationNotification,
    ErrorAction,
    type ErrorHandlerResult,
    ExecuteCommandRequest,
    LanguageClient,
    type LanguageClientOptions,
    type ServerOptions,
    State,
    TransportKind,
} from 'vscode-languageclient/node';
import type { ServerInfo } from '../common/identity';
import { userErrorCode } from '../common/errors';
import { hoverLinks, isTokenCard } from '../common/hoverLinks';
import { DiscoveryError, discoverDaemon, type DaemonLaunch, platformServeCommand } from '../common/interpreter';
import type { DaemonState } from '../common/presentation';
import {
    type ClusterState,
    DaemonCommand,
    type DaemonCommandName,
    DaemonNotification,
    type IdentityStatus,
    type InitializationOptions,
    type LoginPrompt,
} from '../common/protocol';
import { readSettings, type Settings, toInitializationOptions } from '../common/settings';
import { stderrLevel } from '../common/stderr';
import { formatRelative } from '../common/time';
import type { RedactingLogChannel } from './log';
import { probes } from './python';
import { openSetting } from './settingsUi';

/** Crashes allowed in CRASH_WINDOW_MS before the daemon is left stopped. */
const MAX_CRASHES = 4;
const CRASH_WINDOW_MS = 3 * 60_000;
const STOP_TIMEOUT_MS = 5_000;

export function currentSettings(info: ServerInfo, log?: RedactingLogChannel): Settings {
    const cfg = vscode.workspace.getConfiguration(info.section);
    const { settings, problems } = readSettings((k) => cfg.get(k), {
        workspaceFolder: vscode.workspace.workspaceFolders?.[0]?.uri.fsPath,
        userHome: process.env.HOME ?? process.env.USERPROFILE ?? '',
        env: process.env,
    });
    for (const p of problems) {
        log?.warn(`Setting ${info.section}.${p.key} ${p.message}; using the default.`);
    }
    return settings;
}

export class Daemon implements vscode.Disposable {
    private client: LanguageClient | undefined;
    private starting: Promise<LanguageClient | undefined> | undefined;
    private crashes: number[] = [];
    private toldAboutRestart = false;
    private _state: DaemonState = 'stopped';
    private _launch: DaemonLaunch | undefined;
    /** The daemon's log reaches us over LSP (window/logMessage): its stderr copy is debug only. */
    private lspLogging = false;
    private readonly disposables: vscode.Disposable[] = [];
    private readonly problemEmitter = new vscode.EventEmitter<{ code?: string; message: string } | undefined>();
    /** A real failure behind the identity status (bad config, unknown environment), or undefined once it is gone. */
    readonly onIdentityProblem = this.problemEmitter.event;

    private readonly identityEmitter = new vscode.EventEmitter<IdentityStatus>();
    private readonly clusterEmitter = new vscode.EventEmitter<ClusterState>();
    private readonly loginPromptEmitter = new vscode.EventEmitter<LoginPrompt>();
    private readonly stateEmitter = new vscode.EventEmitter<DaemonState>();
    /** `microstax/identityChanged`, and the status fetched after every (re)start. */
    readonly onIdentityChanged = this.identityEmitter.event;
    readonly onClusterStateChanged = this.clusterEmitter.event;
    readonly onLoginPrompt = this.loginPromptEmitter.event;
    readonly onStateChanged = this.stateEmitter.event;

    constructor(
        private readonly info: ServerInfo,
        private readonly context: vscode.ExtensionContext,
        private readonly log: RedactingLogChannel,
    ) {
        this.disposables.push(this.identityEmitter, this.clusterEmitter, this.loginPromptEmitter, this.stateEmitter, this.problemEmitter);
    }

    get state(): DaemonState {
        return this._state;
    }

    get launch(): DaemonLaunch | undefined {
        return this._launch;
    }

    private setState(state: DaemonState): void {
        if (this._state !== state) {
            this._state = state;
            void vscode.commands.executeCommand('setContext', `${this.info.section}.daemonRunning`, state === 'running');
            this.stateEmitter.fire(state);
        }
    }

    /** Starts the daemon unless it is running or starting. */
    start(): Promise<LanguageClient | undefined> {
        if (this.client && this._state === 'running') {
            return Promise.resolve(this.client);
        }
        if (!this.starting) {
            this.starting = this.doStart().finally(() => {
                this.starting = undefined;
            });
        }
        return this.starting;
    }

    private async doStart(): Promise<LanguageClient | undefined> {
        this.setState('starting');
        const settings = currentSettings(this.info, this.log);
        let launch: DaemonLaunch;
        try {
            launch = await discoverDaemon(
                settings,
                this.info,
                probes(this.context, this.info, (m) => this.log.info(m), () => this.log.show()),
            );
        } catch (err) {
            this.log.error(`Cannot start the daemon: ${err instanceof Error ? err.message : String(err)}`);
            this.setState('failed');
            if (err instanceof DiscoveryError && err.setting) {
                // A bad setting: say which, and open it.
                void this.showSettingError(`MicroStax: cannot start the daemon. ${err.message}`, err.setting);
            } else {
                void this.showError(`MicroStax: cannot start the daemon. ${err instanceof Error ? err.message : String(err)}`, true);
            }
            return undefined;
        }
        this._launch = launch;
        this.log.info(`Starting the daemon: ${launch.command} ${launch.args.join(' ')} (from ${launch.detail})`);

        const serverOptions: ServerOptions = {
            command: launch.command,
            args: launch.args,
            transport: TransportKind.stdio,
            options: { cwd: vscode.workspace.workspaceFolders?.[0]?.uri.fsPath, env: { ...process.env, PYTHONUNBUFFERED: '1' } },
        };
        const clientOptions: LanguageClientOptions = {
            // Hover and diagnostics for every document the user can see (not output channels).
            documentSelector: [{ scheme: 'file' }, { scheme: 'untitled' }, { scheme: 'vscode-notebook-cell' }, { scheme: 'vscode-remote' }],
            outputChannel: this.log,
            traceOutputChannel: this.log,
            revealOutputChannelOn: 4 /* RevealOutputChannelOn.Never */,
            stdioOptions: {
                stdout: (input: Readable) => this.pipeLines(input, () => 'debug'),
                stderr: (input: Readable) => this.pipeLines(input, (line) => stderrLevel(line, this.lspLogging)),
            },
            initializationOptions: toInitializationOptions(settings),
            errorHandler: {
                error: (): ErrorHandlerResult => ({ action: ErrorAction.Continue, handled: true }),
                closed: (): CloseHandlerResult => this.onClosed(),
            },
            middleware: {
                workspace: {
                    // The daemon may pull its settings: answer with the same shape as initializationOptions.
                    configuration: (params, token, next) => {
                        const items = params.items;
                        if (items.every((i) => i.section === this.info.section)) {
                            const opts = toInitializationOptions(currentSettings(this.info));
                            return items.map(() => opts);
                        }
                        return next(params, token);
                    },
                },
                provideHover: async (document, position, token, next) => {
                    if (!currentSettings(this.info).hoverEnabled) {
                        return undefined;
                    }
                    const hover = await next(document, position, token);
                    return hover ? this.withLinks(hover, document, position) : hover;
                },
            },
        };

        const client = new LanguageClient(this.info.section, this.info.name, serverOptions, clientOptions);
        // The daemon's executeCommand names (microstax.federate, …) overlap our VS Code command ids:
        // do not let the client register them as VS Code commands; we call them with sendRequest.
        const execFeature = client.getFeature(ExecuteCommandRequest.method);
        execFeature.register = () => undefined;

        client.onNotification(DaemonNotification.identityChanged, (p: IdentityStatus) => this.identityEmitter.fire(p));
        client.onNotification(DaemonNotification.clusterStateChanged, (p: ClusterState) => this.clusterEmitter.fire(p));
        client.onNotification(DaemonNotification.loginPrompt, (p: LoginPrompt) => this.loginPromptEmitter.fire(p));
        client.onDidChangeState((e) => {
            if (e.newState === State.Running) {
                this.lspLogging = true;
                this.setState('running');
                void this.refreshIdentity(currentSettings(this.info).environment || undefined);
            } else if (e.newState === State.Starting) {
                this.setState('starting');
            }
        });

        this.client = client;
        this.lspLogging = false;
        try {
            await client.start();
        } catch (err) {
            this.log.error(`The daemon did not start: ${err instanceof Error ? err.message : String(err)}`);
            this.client = undefined;
            this.setState('failed');
            try {
                await client.dispose(STOP_TIMEOUT_MS);
            } catch {
                // already gone
            }
            void this.showError('MicroStax: the daemon did not start.', true);
            return undefined;
        }
        this.setState('running');
        return client;
    }

    private pipeLines(input: Readable, level: (line: string) => 'error' | 'warn' | 'debug'): void {
        readline.createInterface({ input, crlfDelay: Infinity, terminal: false, historySize: 0 }).on('line', (line: string) => {
            this.log[level(line)](line);
        });
    }

    private onClosed(): CloseHandlerResult {
        const now = Date.now();
        this.crashes = this.crashes.filter((t) => now - t < CRASH_WINDOW_MS);
        this.crashes.push(now);
        if (this.crashes.length > MAX_CRASHES) {
            this.log.error(`The daemon stopped ${this.crashes.length} times in ${formatRelative(CRASH_WINDOW_MS / 1000, { style: 'duration' })}; not restarting it.`);
            this.setState('failed');
            void this.showError('MicroStax: the daemon keeps stopping, so it was not restarted.', true);
            return { action: CloseAction.DoNotRestart, handled: true };
        }
        this.log.warn('The daemon stopped unexpectedly; restarting it.');
        this.setState('starting');
        if (!this.toldAboutRestart) {
            this.toldAboutRestart = true;
            void vscode.window
                .showWarningMessage('MicroStax: the daemon stopped unexpectedly and was restarted.', 'Show Logs')
                .then((choice) => choice && this.log.show());
        }
        return { action: CloseAction.Restart, handled: true };
    }

    private async showError(message: string, offerRestart: boolean): Promise<void> {
        const buttons = offerRestart ? ['Show Logs', 'Restart Daemon'] : ['Show Logs'];
        const choice = await vscode.window.showErrorMessage(message, ...buttons);
        if (choice === 'Show Logs') {
            this.log.show();
        } else if (choice === 'Restart Daemon') {
            await this.restart('requested by the user');
        }
    }

    private async showSettingError(message: string, setting: string): Promise<void> {
        const choice = await vscode.window.showErrorMessage(message, 'Open Settings', 'Show Logs');
        if (choice === 'Open Settings') {
            await openSetting(this.info.section, setting);
        } else if (choice === 'Show Logs') {
            this.log.show();
        }
    }

    /** Decode · Verify · Copy Claims under a token's card (links name the position, not the token). */
    private withLinks(hover: vscode.Hover, document: vscode.TextDocument, position: vscode.Position): vscode.Hover {
        const first = hover.contents[0];
        const text = typeof first === 'string' ? first : first && 'value' in first ? first.value : '';
        if (!isTokenCard(text)) {
            return hover;
        }
        const at = hover.range?.start ?? position;
        const s = this.info.section;
        const ids = { decodeAt: `${s}.decodeAt`, verifyAt: `${s}.verifyAt`, copyClaimsAt: `${s}.copyClaimsAt` };
        const links = new vscode.MarkdownString(hoverLinks({ uri: document.uri.toString(), line: at.line, character: at.character }, ids));
        links.isTrusted = { enabledCommands: Object.values(ids) };
        return new vscode.Hover([...hover.contents, links], hover.range);
    }

    /** `microstax platform serve` with the same Python (or command) that runs the daemon. */
    platformServeCommand(): { command: string; args: string[] } | undefined {
        return platformServeCommand(this._launch, this.info.daemonArgs);
    }

    async stop(): Promise<void> {
        const client = this.client;
        this.client = undefined;
        if (client) {
            try {
                if (client.needsStop()) {
                    await client.stop(STOP_TIMEOUT_MS);
                }
                await client.dispose(STOP_TIMEOUT_MS);
            } catch (err) {
                this.log.warn(`Stopping the daemon: ${String(err)}`);
            }
        }
        this.setState('stopped');
    }

    async restart(reason: string): Promise<void> {
        if (this.starting) {
            await this.starting.catch(() => undefined);
        }
        this.log.info(`Restarting the daemon (${reason}).`);
        this.crashes = [];
        await this.stop();
        await this.start();
    }

    /** Sends the settings to the running daemon (`workspace/didChangeConfiguration`). */
    async pushSettings(): Promise<void> {
        const client = this.client;
        if (!client || this._state !== 'running') {
            return;
        }
        const opts: InitializationOptions = toInitializationOptions(currentSettings(this.info, this.log));
        await client.sendNotification(DidChangeConfigurationNotification.type, { settings: { [this.info.section]: opts } });
    }

    /** Runs a daemon command. Rejects with the daemon's ResponseError (see common/errors.ts). */
    async request<T>(command: DaemonCommandName, arg?: object, token?: vscode.CancellationToken): Promise<T> {
        let client = this.client;
        if (!client || this._state !== 'running') {
            client = await this.start();
        }
        if (!client) {
            throw new Error('The MicroStax daemon is not running.');
        }
        const params = { command, arguments: arg === undefined ? [] : [arg] };
        return (await client.sendRequest(ExecuteCommandRequest.type, params, token)) as T;
    }

    /** A status from a command's answer (sign in/out): the same path as the daemon's notifications. */
    publish(status: IdentityStatus): void {
        this.identityEmitter.fire(status);
    }

    /** The environment the daemon answers for when none is named (the config's default). */
    defaultEnvironment: string | undefined;

    async refreshIdentity(environment?: string): Promise<IdentityStatus | undefined> {
        try {
            const status = await this.request<IdentityStatus>(DaemonCommand.identityStatus, environment ? { environment } : {});
            if (status && !environment) {
                this.defaultEnvironment = status.environment;
            }
            if (status) {
                this.problemEmitter.fire(undefined);
                this.identityEmitter.fire(status);
            }
            return status;
        } catch (err) {
            const message = (err as { data?: { message?: string } }).data?.message ?? (err instanceof Error ? err.message : String(err));
            this.log.warn(`Could not get the identity status: ${message}`);
            const code = userErrorCode(err);
            if (code === 'CONFIG_INVALID' || code === 'UNKNOWN_ENVIRONMENT') {
                this.problemEmitter.fire({ code, message });
            }
            return undefined;
        }
    }

    dispose(): void {
        void this.stop();
        for (const d of this.disposables) {
            d.dispose();
        }
    }
}
