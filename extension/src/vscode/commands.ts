/** The commands (all in category "MicroStax"). Each asks the daemon and shows the answer. */
import * as vscode from 'vscode';
import { clearDelayMs, tokenAround, tokenFromText } from '../common/clipboard';
import { ACTION_LABELS, configLocation, type ErrorAction, isCancellation, offersIssuerPick, presentError, userErrorCode } from '../common/errors';
import { environmentNameProblem, LOCAL_PLATFORM, platformUrlProblem, suggestEnvironmentName } from '../common/configurePlatform';
import { rememberService, runFederateFlow, DEFAULT_SERVICE } from '../common/federateFlow';
import type { CommandIds, ServerInfo } from '../common/identity';
import { clusterTokenText, decodedDocument, federatedMessage, headerBudgetWarning, isUnconfigured, verifyMessage } from '../common/presentation';
import { parseTokenAt } from '../common/hoverLinks';
import { LoginPrompts } from '../common/loginPrompt';
import type { SessionTracker } from '../common/sessionState';
import {
    type ClusterState,
    type ConfigurePlatformParams,
    type ConfigurePlatformResult,
    type DecodeResult,
    DaemonCommand,
    type FederateParams,
    type FederateResult,
    type IdentityStatus,
    type ListClustersResult,
    type ListEnvironmentsResult,
    type LoginPrompt,
    type VerifyResult,
} from '../common/protocol';
import { environmentArg } from '../common/settings';
import { chooseVerifyKeys, keysPhrase, OTHER_KEYS_LABEL, type VerifyKeys, verifyParams } from '../common/verifyFlow';
import { currentSettings, type Daemon } from './daemon';
import type { TokenDocuments } from './documents';
import type { RedactingLogChannel } from './log';
import { VsCodeFlowUI } from './quickPick';
import type { IdentityStatusBar } from './statusBar';
import type { IdentityTree, Node } from './tree';


const RECENT_SERVICES_KEY = 'microstax.recentServices';

/** Local time, with the date only when it is not today. */
function formatTime(iso: string): string {
    const d = new Date(iso);
    if (Number.isNaN(d.getTime())) {
        return iso;
    }
    const today = new Date().toDateString() === d.toDateString();
    return today ? d.toLocaleTimeString() : d.toLocaleString(undefined, { dateStyle: 'short', timeStyle: 'medium' });
}

export class Commands implements vscode.Disposable {
    private readonly clipboardTimers = new Set<NodeJS.Timeout>();
    /** The sign-in in progress: its notification shows the device code, and closes when it ends. */
    private readonly prompts: LoginPrompts;
    private platformTerminal: vscode.Terminal | undefined;

    constructor(
        private readonly info: ServerInfo,
        private readonly ids: CommandIds,
        private readonly context: vscode.ExtensionContext,
        private readonly daemon: Daemon,
        private readonly log: RedactingLogChannel,
        private readonly statusBar: IdentityStatusBar,
        private readonly tree: IdentityTree,
        private readonly docs: TokenDocuments,
        private readonly sessions: SessionTracker,
    ) {
        this.prompts = new LoginPrompts({ openLoginPage: ids.openLoginPage, copyLoginCode: ids.copyLoginCode });
    }

    register(): vscode.Disposable[] {
        const r = vscode.commands.registerCommand;
        return [
            r(this.ids.federate, () => this.federate()),
            r(this.ids.decodeToken, () => this.decodeToken()),
            r(this.ids.verifyToken, () => this.verifyToken()),
            r(this.ids.signIn, (arg?: unknown) => this.signIn(environmentOf(arg))),
            r(this.ids.signOut, (arg?: unknown) => this.signOut(environmentOf(arg))),
            r(this.ids.showIdentityStatus, () => this.showIdentityStatus()),
            r(this.ids.restartDaemon, () => this.daemon.restart('requested by the user')),
            r(this.ids.showLogs, () => this.log.show()),
            r(this.ids.quickActions, () => this.quickActions()),
            r(this.ids.viewRefresh, () => this.tree.refresh()),
            r(this.ids.viewFederate, (node?: Node) =>
                node?.kind === 'cluster' ? this.federate({ environment: node.cluster.environment, cluster: node.cluster }) : this.federate(),
            ),
            r(this.ids.viewCopy, (node?: Node) => (node?.kind === 'cluster' ? this.copyCluster(node.cluster) : undefined)),
            r(this.ids.configurePlatform, () => this.configurePlatform()),
            r(this.ids.startLocalPlatform, () => this.startLocalPlatform()),
            r(this.ids.openDocs, () => this.openDocs()),
            r(this.ids.decodeAt, async (arg?: unknown) => {
                const token = await this.tokenAt(arg);
                return token ? this.decode(token) : undefined;
            }),
            r(this.ids.verifyAt, async (arg?: unknown) => {
                const token = await this.tokenAt(arg);
                return token ? this.verify(token) : undefined;
            }),
            r(this.ids.copyClaimsAt, async (arg?: unknown) => {
                const token = await this.tokenAt(arg);
                return token ? this.copyClaims(token) : undefined;
            }),
            r(this.ids.copyLoginCode, () => (this.prompts.last ? vscode.env.clipboard.writeText(this.prompts.last.userCode) : undefined)),
            r(this.ids.openLoginPage, () => {
                const p = this.prompts.last;
                return p ? vscode.env.openExternal(vscode.Uri.parse(p.verificationUriComplete ?? p.verificationUri)) : undefined;
            }),
        ];
    }

    // ---- errors --------------------------------------------------------------------------

    /** Shows a daemon failure with the buttons its `data.action` calls for. */
    async reportError(err: unknown, what: string, retry?: () => Promise<unknown>): Promise<void> {
        if (isCancellation(err)) {
            return;
        }
        const p = presentError(err, what);
        this.log.error(p.message);
        const actions = p.actions.filter((a) => a !== 'retry' || retry);
        const labels = actions.map((a) => ACTION_LABELS[a]);
        const show = p.severity === 'warning' ? vscode.window.showWarningMessage : vscode.window.showErrorMessage;
        const choice = await show(`MicroStax: ${p.message}`, ...labels);
        const action = actions[labels.indexOf(choice as string)] as ErrorAction | undefined;
        switch (action) {
            case 'signIn':
                await this.signIn();
                break;
            case 'openSettings':
                await vscode.commands.executeCommand('workbench.action.openSettings', this.info.section);
                break;
            case 'retry':
                await retry?.();
                break;
            case 'showLogs':
                this.log.show();
                break;
            case 'restartDaemon':
                await this.daemon.restart('requested by the user');
                break;
            case 'startLocalPlatform':
                await this.startLocalPlatform();
                break;
            case 'openConfigFile':
                await openConfigAt(p.message);
                break;
            default:
                break;
        }
    }

    // ---- federate ------------------------------------------------------------------------

    async federate(preset?: { environment?: string; cluster?: ClusterState }): Promise<void> {
        const settings = currentSettings(this.info);
        let params: FederateParams | undefined;
        try {
            params = await runFederateFlow(
                new VsCodeFlowUI(),
                {
                    listEnvironments: async () => (await this.daemon.request<ListEnvironmentsResult>(DaemonCommand.listEnvironments)).environments,
                    listClusters: async (environment) => {
                        const r = await this.daemon.request<ListClustersResult>(DaemonCommand.listClusters, { environment });
                        return { clusters: r.clusters, catalogError: r.catalogError };
                    },
                },
                {
                    defaultEnvironment: settings.environment || undefined,
                    preset,
                    recentServices: this.context.globalState.get<string[]>(RECENT_SERVICES_KEY, []),
                    onAction: (action) => void (action === 'startLocalPlatform' ? this.startLocalPlatform() : this.log.show()),
                },
            );
        } catch (err) {
            await this.reportError(err, 'Could not list environments and clusters', () => this.federate(preset));
            return;
        }
        if (!params) {
            return;
        }
        await this.context.globalState.update(
            RECENT_SERVICES_KEY,
            rememberService(this.context.globalState.get<string[]>(RECENT_SERVICES_KEY, []), params.service),
        );
        await this.federateAndCopy(params);
    }

    private async copyCluster(cluster: ClusterState): Promise<void> {
        await this.federateAndCopy({ environment: cluster.environment, target: cluster.name, service: cluster.token.service ?? DEFAULT_SERVICE });
    }

    async federateAndCopy(params: FederateParams): Promise<void> {
        let result: FederateResult;
        try {
            result = await vscode.window.withProgress(
                {
                    location: vscode.ProgressLocation.Notification,
                    title: `MicroStax: exchanging a token for ${params.target} (service ${params.service})…`,
                    cancellable: true,
                },
                (_progress, token) => this.daemon.request<FederateResult>(DaemonCommand.federate, params, token),
            );
        } catch (err) {
            await this.reportError(err, `Federation for ${params.target} failed`, () => this.federateAndCopy(params));
            return;
        }
        await this.copyToClipboard(result.token, result.summary.secondsLeft);
        this.tree.updateCluster(result.cluster);
        this.log.info(`Federated a token for ${params.target} (service ${params.service}); copied to the clipboard.`);
        const warning = headerBudgetWarning(result);
        if (warning) {
            void vscode.window.showWarningMessage(`MicroStax: ${warning}`);
        }
        const token = result.token;
        void vscode.window.showInformationMessage(`MicroStax: ${federatedMessage(result, params.service, formatTime)}`, 'Decode').then(async (choice) => {
            if (choice === 'Decode') {
                await this.decode(token);
            }
        });
    }

    /** Copies with vscode.env.clipboard (the user's machine, even in Remote) and clears it at expiry. */
    private async copyToClipboard(token: string, secondsLeft: number | undefined): Promise<void> {
        await vscode.env.clipboard.writeText(token);
        const delay = clearDelayMs(secondsLeft, currentSettings(this.info).clearClipboardOnExpiry);
        if (delay === undefined) {
            return;
        }
        const timer = setTimeout(async () => {
            this.clipboardTimers.delete(timer);
            try {
                if ((await vscode.env.clipboard.readText()) === token) {
                    await vscode.env.clipboard.writeText('');
                    this.log.info('Cleared the clipboard: the token copied there has expired.');
                }
            } catch (err) {
                this.log.warn(`Could not clear the clipboard: ${String(err)}`);
            }
        }, delay);
        timer.unref?.();
        this.clipboardTimers.add(timer);
    }

    // ---- decode / verify -----------------------------------------------------------------

    private async tokenFromEditorOrClipboard(): Promise<string | undefined> {
        const editor = vscode.window.activeTextEditor;
        if (editor) {
            if (!editor.selection.isEmpty) {
                return tokenFromText(editor.document.getText(editor.selection));
            }
            const pos = editor.selection.active;
            const found = tokenAround(editor.document.lineAt(pos.line).text, pos.character);
            if (found) {
                return found.token;
            }
        }
        const fromClipboard = tokenFromText(await vscode.env.clipboard.readText());
        if (!fromClipboard) {
            void vscode.window.showWarningMessage('MicroStax: select a token (or put the cursor on one), or copy one to the clipboard first.');
        }
        return fromClipboard;
    }

    /** The token at a hover link's position, read from the document (the link never holds it). */
    private async tokenAt(arg: unknown): Promise<string | undefined> {
        const at = parseTokenAt(arg);
        if (!at) {
            return undefined;
        }
        const doc = await vscode.workspace.openTextDocument(vscode.Uri.parse(at.uri));
        if (at.line >= doc.lineCount) {
            return undefined;
        }
        const found = tokenAround(doc.lineAt(at.line).text, at.character)?.token;
        if (!found) {
            this.log.warn(`No token at ${at.uri}:${at.line + 1}:${at.character + 1} any more.`);
        }
        return found;
    }

    private async copyClaims(token: string): Promise<void> {
        try {
            const r = await this.daemon.request<DecodeResult>(DaemonCommand.decode, { token });
            if (!r.claims) {
                return;
            }
            await vscode.env.clipboard.writeText(JSON.stringify(r.claims, null, 2));
            void vscode.window.showInformationMessage('MicroStax: the token\'s claims (decoded, not verified) are on the clipboard.');
        } catch (err) {
            await this.reportError(err, 'Could not decode the token');
        }
    }

    async decodeToken(): Promise<void> {
        const token = await this.tokenFromEditorOrClipboard();
        if (token) {
            await this.decode(token);
        }
    }

    private async decode(token: string): Promise<void> {
        try {
            const r = await this.daemon.request<DecodeResult>(DaemonCommand.decode, { token });
            const json = decodedDocument(r);
            if (json) {
                await this.docs.showJson(json);
            } else {
                await this.docs.show('decoded', r.markdown);
            }
        } catch (err) {
            await this.reportError(err, 'Could not decode the token');
        }
    }

    async verifyToken(): Promise<void> {
        const token = await this.tokenFromEditorOrClipboard();
        if (!token) {
            return;
        }
        await this.verify(token);
    }

    /** Verifies against the token's own issuer's keys, or the `keys` the user chose. */
    private async verify(token: string, keys?: VerifyKeys): Promise<void> {
        let r: VerifyResult;
        try {
            r = await vscode.window.withProgress(
                { location: vscode.ProgressLocation.Notification, title: `MicroStax: verifying the token${keysPhrase(keys)}…`, cancellable: true },
                (_p, ct) => this.daemon.request<VerifyResult>(DaemonCommand.verify, verifyParams(token, keys), ct),
            );
        } catch (err) {
            await this.verifyFailed(err, token, keys);
            return;
        }
        await this.docs.showReport(r.markdown);
        const msg = `MicroStax: ${verifyMessage(r.valid, r.summary, r.reason)}`;
        if (r.valid) {
            void vscode.window.showInformationMessage(msg);
            return;
        }
        // Not valid against these keys: other keys (another environment, a key set file) may tell more.
        const choice = await vscode.window.showWarningMessage(msg, OTHER_KEYS_LABEL);
        if (choice === OTHER_KEYS_LABEL) {
            await this.verifyWithChosenKeys(token);
        }
    }

    private async verifyFailed(err: unknown, token: string, keys?: VerifyKeys): Promise<void> {
        if (isCancellation(err)) {
            return;
        }
        const code = userErrorCode(err);
        const offerKeys = (!keys && offersIssuerPick(err)) || code === 'JWKS_FILE_INVALID';
        if (!offerKeys) {
            await this.reportError(err, 'Could not verify the token', () => this.verify(token, keys));
            return;
        }
        // No issuer to trust (none named, or its keys unreachable), or a key set file that
        // cannot be used: not a dead end, other keys can be chosen.
        const p = presentError(err, 'Could not verify the token');
        this.log.error(p.message);
        const pickLabel = code === 'JWKS_FILE_INVALID' ? 'Pick Another File…' : OTHER_KEYS_LABEL;
        const show = code === 'JWKS_FILE_INVALID' ? vscode.window.showErrorMessage : vscode.window.showWarningMessage;
        const choice = await show(`MicroStax: ${p.message}`, pickLabel, ACTION_LABELS.showLogs);
        if (choice === pickLabel) {
            await this.verifyWithChosenKeys(token);
        } else if (choice === ACTION_LABELS.showLogs) {
            this.log.show();
        }
    }

    /** The choice of keys: a configured environment's issuer, or a JWKS file (offline). */
    private async verifyWithChosenKeys(token: string): Promise<void> {
        const keys = await chooseVerifyKeys(
            {
                pick: (step) => new VsCodeFlowUI().pick(step),
                pickJwksFile: async () => {
                    const uris = await vscode.window.showOpenDialog({
                        title: 'MicroStax: a JWKS file to verify the token against',
                        openLabel: 'Verify Against This Key Set',
                        canSelectFiles: true,
                        canSelectFolders: false,
                        canSelectMany: false,
                        filters: { 'JSON Web Key Set': ['json', 'jwks'], 'All files': ['*'] },
                    });
                    const uri = uris?.[0];
                    return uri ? { scheme: uri.scheme, fsPath: uri.fsPath } : undefined;
                },
                warn: (message) => void vscode.window.showWarningMessage(`MicroStax: ${message}`),
            },
            {
                listEnvironments: async () => {
                    try {
                        return (await this.daemon.request<ListEnvironmentsResult>(DaemonCommand.listEnvironments)).environments;
                    } catch (err) {
                        this.log.warn(`Could not list the environments: ${presentError(err, 'listEnvironments').message}`);
                        throw err;
                    }
                },
            },
        );
        if (keys) {
            await this.verify(token, keys);
        }
    }

    // ---- session -------------------------------------------------------------------------

    async signIn(environment?: string): Promise<void> {
        const arg = environmentArg(currentSettings(this.info), environment);
        try {
            const status = await vscode.window.withProgress(
                {
                    location: vscode.ProgressLocation.Notification,
                    title: `MicroStax: signing in${arg.environment ? ` to ${arg.environment}` : ''}…`,
                    cancellable: true,
                },
                async (progress, ct) => {
                    // The device code shows in this notification, which closes when sign-in ends.
                    const end = this.prompts.begin(arg.environment, (message) => progress.report({ message }));
                    try {
                        return await this.daemon.request<IdentityStatus>(DaemonCommand.login, arg, ct);
                    } finally {
                        end();
                    }
                },
            );
            if (status?.environment) {
                this.sessions.forget(status.environment);
            }
            this.acceptIdentity(status);
            void vscode.window.showInformationMessage(`MicroStax: signed in to ${status.environment}${status.subject ? ` as ${status.subject}` : ''}.`);
        } catch (err) {
            await this.reportError(err, 'Sign-in failed', () => this.signIn(environment));
        }
    }

    /** `microstax/loginPrompt`: show the device code and offer the browser. */
    async onLoginPrompt(p: LoginPrompt): Promise<void> {
        if (this.prompts.route(p)) {
            return;
        }
        const choice = await vscode.window.showInformationMessage(
            `MicroStax: to sign in to ${p.environment}, enter the code ${p.userCode} at ${p.verificationUri}`,
            'Open Browser',
            'Copy Code',
        );
        if (choice === 'Open Browser') {
            await vscode.env.openExternal(vscode.Uri.parse(p.verificationUriComplete ?? p.verificationUri));
        } else if (choice === 'Copy Code') {
            await vscode.env.clipboard.writeText(p.userCode);
        }
    }

    async signOut(environment?: string): Promise<void> {
        const arg = environmentArg(currentSettings(this.info), environment);
        try {
            const status = await this.daemon.request<IdentityStatus>(DaemonCommand.logout, arg);
            if (status?.environment) {
                this.sessions.forget(status.environment);
            }
            this.acceptIdentity(status);
            void vscode.window.showInformationMessage(`MicroStax: signed out of ${status.environment}.`);
        } catch (err) {
            await this.reportError(err, 'Sign-out failed');
        }
    }

    private acceptIdentity(status: IdentityStatus | undefined): void {
        if (status && typeof status === 'object' && 'signedIn' in status) {
            this.daemon.publish(status);
        }
    }

    // ---- status --------------------------------------------------------------------------

    async showIdentityStatus(): Promise<void> {
        const env = currentSettings(this.info).environment || undefined;
        let status: IdentityStatus;
        try {
            status = await this.daemon.request<IdentityStatus>(DaemonCommand.identityStatus, env ? { environment: env } : {});
        } catch (err) {
            await this.reportError(err, 'Could not get the identity status');
            return;
        }
        this.acceptIdentity(status);
        const now = Date.now();
        type Item = vscode.QuickPickItem & { run?: () => unknown };
        const items: Item[] = [
            {
                label: status.signedIn ? `$(account) ${status.subject ?? status.label}` : '$(circle-slash) Not signed in',
                description: status.environment,
                detail: [status.issuer, status.signedIn && status.expiresAt ? `session until ${formatTime(status.expiresAt)}` : '', status.summary]
                    .filter(Boolean)
                    .join(' · '),
                run: status.signedIn ? () => this.signOut(status.environment) : () => this.signIn(status.environment),
            },
            { label: 'Clusters', kind: vscode.QuickPickItemKind.Separator },
            ...status.clusters.map((c) => ({
                label: `$(${c.token.state === 'exchanged' ? 'key' : 'server'}) ${c.name}`,
                description: [c.region, c.status].filter(Boolean).join(' · '),
                detail: clusterTokenText(c, now, now),
                run: () => this.federate({ environment: c.environment, cluster: c }),
            })),
        ];
        const choice = await vscode.window.showQuickPick(items, {
            title: `MicroStax: Identity Status (${status.environment})`,
            placeHolder: status.signedIn ? 'Pick a cluster to federate a token for it, or yourself to sign out' : 'Pick to sign in',
            matchOnDescription: true,
        });
        await choice?.run?.();
    }

    async quickActions(): Promise<void> {
        const status = this.statusBar.current;
        type Item = vscode.QuickPickItem & { command: string };
        const federate: Item = { label: '$(key) Federate Identity Token…', command: this.ids.federate };
        const signIn: Item = { label: '$(sign-in) Sign In', description: status?.environment, command: this.ids.signIn };
        const signOut: Item = { label: '$(sign-out) Sign Out', description: status?.environment, command: this.ids.signOut };
        const rest: Item[] = [
            { label: '$(info) Show Identity Status', command: this.ids.showIdentityStatus },
            { label: '$(symbol-key) Decode Token', command: this.ids.decodeToken },
            { label: '$(verified) Verify Token', command: this.ids.verifyToken },
            { label: '$(server-environment) Configure Platform…', command: this.ids.configurePlatform },
            { label: '$(output) Show Logs', command: this.ids.showLogs },
            { label: '$(debug-restart) Restart Daemon', command: this.ids.restartDaemon },
        ];
        // Ordered by state: what you can do next comes first.
        const items: Item[] = status?.signedIn ? [federate, ...rest.slice(0, 3), signOut, ...rest.slice(3)] : [signIn, ...rest];
        const choice = await vscode.window.showQuickPick(items, { title: 'MicroStax', placeHolder: 'What do you want to do?' });
        if (choice) {
            await vscode.commands.executeCommand(choice.command);
        }
    }

    // ---- first run -----------------------------------------------------------------------

    /** Adds a platform environment to the user config file, through the daemon (no TOML by hand). */
    async configurePlatform(): Promise<void> {
        let envs: { name: string; source?: string }[] = [];
        try {
            envs = (await this.daemon.request<ListEnvironmentsResult>(DaemonCommand.listEnvironments)).environments;
        } catch {
            // a bad config file: the daemon says so when we write
        }
        const unconfigured = isUnconfigured(envs as never);
        const existing = envs.filter((e) => e.source !== 'default' && !(e.source ?? '').startsWith('catalog:')).map((e) => e.name);
        type Where = vscode.QuickPickItem & { url?: string };
        const where = await vscode.window.showQuickPick<Where>(
            [
                { label: '$(vm) A platform on this machine', description: LOCAL_PLATFORM, detail: 'Start it with "MicroStax: Start Local Platform" (microstax platform serve).', url: LOCAL_PLATFORM },
                { label: '$(globe) A platform at a URL…', detail: "Your team's MicroStax platform, e.g. https://identity.example.com" },
            ],
            { title: 'MicroStax: Configure Platform (1/2)', placeHolder: 'Where does your MicroStax platform run?', ignoreFocusOut: true },
        );
        if (!where) {
            return;
        }
        let url = where.url;
        if (!url) {
            url = await vscode.window.showInputBox({
                title: 'MicroStax: Configure Platform — URL',
                prompt: 'The base URL of the platform (its issuer)',
                placeHolder: 'https://identity.example.com',
                ignoreFocusOut: true,
                validateInput: (v) => platformUrlProblem(v),
            });
            if (!url) {
                return;
            }
        }
        const name = await vscode.window.showInputBox({
            title: 'MicroStax: Configure Platform (2/2)',
            prompt: 'A name for this environment (used by the CLI as --env NAME)',
            value: suggestEnvironmentName(url, existing),
            ignoreFocusOut: true,
            validateInput: (v) => environmentNameProblem(v, existing),
        });
        if (!name) {
            return;
        }
        const params: ConfigurePlatformParams = { environment: name.trim(), platform: url.trim(), default: unconfigured || existing.length === 0 };
        let done: ConfigurePlatformResult;
        try {
            done = await this.daemon.request<ConfigurePlatformResult>(DaemonCommand.configurePlatform, params);
        } catch (err) {
            await this.reportError(err, 'Could not configure the platform', () => this.configurePlatform());
            return;
        }
        this.log.info(`Configured environment ${done.environment} (platform ${done.platform}) in ${done.path}.`);
        this.tree.refresh();
        void this.daemon.refreshIdentity(currentSettings(this.info).environment || undefined);
        const what = done.changed ? `added environment ${done.environment} (${done.platform}) to ${done.path}` : `${done.environment} already points at ${done.platform}`;
        const choice = await vscode.window.showInformationMessage(`MicroStax: ${what}.`, 'Sign In', 'Open Config File');
        if (choice === 'Sign In') {
            await this.signIn(done.environment);
        } else if (choice === 'Open Config File') {
            await vscode.window.showTextDocument(vscode.Uri.file(done.path));
        }
    }

    /** `microstax platform serve` in a terminal, with the daemon's own Python. */
    async startLocalPlatform(): Promise<void> {
        if (this.platformTerminal && this.platformTerminal.exitStatus === undefined) {
            this.platformTerminal.show();
            return;
        }
        if (this.daemon.state !== 'running') {
            await this.daemon.start();
        }
        const cmd = this.daemon.platformServeCommand();
        const name = 'MicroStax platform';
        this.platformTerminal = cmd
            ? vscode.window.createTerminal({ name, shellPath: cmd.command, shellArgs: cmd.args })
            : vscode.window.createTerminal({ name });
        if (!cmd) {
            this.platformTerminal.sendText('microstax platform serve');
        }
        this.platformTerminal.show();
        this.log.info(`Started a local platform in the terminal "${name}" (${cmd ? `${cmd.command} ${cmd.args.join(' ')}` : 'microstax platform serve'}).`);
        void vscode.window.showInformationMessage(`MicroStax: starting a local platform on ${LOCAL_PLATFORM} in the terminal "${name}".`, 'Sign In').then((c) =>
            c === 'Sign In' ? this.signIn() : undefined,
        );
    }

    async openDocs(): Promise<void> {
        const readme = vscode.Uri.joinPath(this.context.extensionUri, 'README.md');
        try {
            await vscode.commands.executeCommand('markdown.showPreview', readme);
        } catch {
            await vscode.window.showTextDocument(readme);
        }
    }

    dispose(): void {
        for (const t of this.clipboardTimers) {
            clearTimeout(t);
        }
        this.clipboardTimers.clear();
    }
}

/** Commands invoked from the view pass a node; from the palette, nothing. */
function environmentOf(arg: unknown): string | undefined {
    const node = arg as Node | undefined;
    if (node && typeof node === 'object' && 'kind' in node && node.kind === 'environment') {
        return node.env.name;
    }
    return typeof arg === 'string' ? arg : undefined;
}

/** Opens the config file a message names, at the line it names (a TOML error). */
export async function openConfigAt(message: string): Promise<void> {
    const where = configLocation(message);
    if (!where) {
        return;
    }
    const editor = await vscode.window.showTextDocument(vscode.Uri.file(where.path));
    if (where.line) {
        const pos = new vscode.Position(where.line - 1, Math.max(0, (where.column ?? 1) - 1));
        editor.selection = new vscode.Selection(pos, pos);
        editor.revealRange(new vscode.Range(pos, pos), vscode.TextEditorRevealType.InCenter);
    }
}
