/** The status bar item: who you are, where, and for how long. Driven by daemon notifications. */
import * as vscode from 'vscode';
import type { CommandIds } from '../common/identity';
import { presentStatus, type DaemonState, type StatusClick, type StatusColour } from '../common/presentation';
import type { IdentityStatus } from '../common/protocol';
import type { SessionTracker } from '../common/sessionState';

const BACKGROUND: Record<StatusColour, vscode.ThemeColor | undefined> = {
    normal: undefined,
    warning: new vscode.ThemeColor('statusBarItem.warningBackground'),
    error: new vscode.ThemeColor('statusBarItem.errorBackground'),
};

/** Longest wait between countdown re-renders (the daemon's notifications re-render at once). */
const MAX_TICK_MS = 60_000;

export class IdentityStatusBar implements vscode.Disposable {
    private readonly item: vscode.StatusBarItem;
    private daemon: DaemonState = 'starting';
    private identity: IdentityStatus | undefined;
    private problem: { code?: string; message: string } | undefined;
    private receivedAtMs = 0;
    private timer: NodeJS.Timeout | undefined;
    private countedDown = false;

    constructor(
        id: string,
        private readonly name: string,
        private readonly ids: CommandIds,
        private readonly section: string,
        private readonly sessions: SessionTracker,
        /** The countdown reached zero: ask the daemon, so every view agrees on "expired". */
        private readonly onCountdownEnded: (environment: string) => void = () => undefined,
    ) {
        this.item = vscode.window.createStatusBarItem(id, vscode.StatusBarAlignment.Left, 50);
        this.item.name = name;
        this.item.command = ids.quickActions;
        this.render();
        this.item.show();
    }

    get current(): IdentityStatus | undefined {
        return this.identity;
    }

    setDaemonState(state: DaemonState): void {
        this.daemon = state;
        if (state !== 'running') {
            this.identity = state === 'starting' ? this.identity : undefined;
        }
        this.render();
    }

    setIdentity(status: IdentityStatus): void {
        this.identity = status;
        this.problem = undefined;
        this.receivedAtMs = Date.now();
        this.countedDown = false;
        this.render();
    }

    /** A real failure behind the identity (bad config, unknown environment); undefined clears it. */
    setProblem(problem: { code?: string; message: string } | undefined): void {
        this.problem = problem;
        this.render();
    }

    render(): void {
        const p = presentStatus({
            daemon: this.daemon,
            identity: this.identity,
            receivedAtMs: this.receivedAtMs,
            nowMs: Date.now(),
            name: this.name,
            expired: this.identity ? this.sessions.isExpired(this.identity.environment) : false,
            problem: this.problem,
        });
        this.item.text = p.text;
        this.item.backgroundColor = BACKGROUND[p.colour];
        const tooltip = new vscode.MarkdownString(p.tooltip);
        tooltip.supportThemeIcons = true;
        this.item.tooltip = tooltip;
        this.item.command = this.commandFor(p.click);
        this.item.accessibilityInformation = { label: p.text.replace(/\$\([^)]*\)\s*/g, '') };
        if (this.timer) {
            clearTimeout(this.timer);
            this.timer = undefined;
        }
        if (Number.isFinite(p.refreshInMs)) {
            this.timer = setTimeout(() => this.render(), Math.min(p.refreshInMs, MAX_TICK_MS));
        } else if (this.identity?.signedIn && (this.identity.secondsLeft ?? 0) > 0 && p.click === 'signIn' && !this.countedDown) {
            // Signed in by the last status, expired by the clock: let the daemon confirm.
            this.countedDown = true;
            this.onCountdownEnded(this.identity.environment);
        }
    }

    private commandFor(click: StatusClick): string | vscode.Command {
        switch (click) {
            case 'signIn':
                return this.ids.signIn;
            case 'restartDaemon':
                return this.ids.restartDaemon;
            case 'openSettings':
                return { command: 'workbench.action.openSettings', title: 'Open Settings', arguments: [this.section] };
            default:
                return this.ids.quickActions;
        }
    }

    dispose(): void {
        if (this.timer) {
            clearTimeout(this.timer);
        }
        this.item.dispose();
    }
}
