/** The status bar item: who you are, where, and for how long. Driven by daemon notifications. */
import * as vscode from 'vscode';
import { presentStatus, type DaemonState, type StatusColour } from '../common/presentation';
import type { IdentityStatus } from '../common/protocol';

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
    private receivedAtMs = 0;
    private timer: NodeJS.Timeout | undefined;

    constructor(
        id: string,
        private readonly name: string,
        command: string,
    ) {
        this.item = vscode.window.createStatusBarItem(id, vscode.StatusBarAlignment.Left, 50);
        this.item.name = name;
        this.item.command = command;
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
        this.receivedAtMs = Date.now();
        this.render();
    }

    private render(): void {
        const p = presentStatus({
            daemon: this.daemon,
            identity: this.identity,
            receivedAtMs: this.receivedAtMs,
            nowMs: Date.now(),
            name: this.name,
        });
        this.item.text = p.text;
        this.item.backgroundColor = BACKGROUND[p.colour];
        const tooltip = new vscode.MarkdownString(p.tooltip);
        tooltip.supportThemeIcons = true;
        this.item.tooltip = tooltip;
        this.item.accessibilityInformation = { label: p.text.replace(/\$\([^)]*\)\s*/g, '') };
        if (this.timer) {
            clearTimeout(this.timer);
            this.timer = undefined;
        }
        if (Number.isFinite(p.refreshInMs)) {
            this.timer = setTimeout(() => this.render(), Math.min(p.refreshInMs, MAX_TICK_MS));
        }
    }

    dispose(): void {
        if (this.timer) {
            clearTimeout(this.timer);
        }
        this.item.dispose();
    }
}
