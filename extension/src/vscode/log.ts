/**
 * The one output channel ({log: true}), wrapped so that nothing written through it carries a
 * token. Its level is VS Code's ("Developer: Set Log Level…"); vscode-languageclient maps the
 * Trace level to the LSP message trace of the daemon connection.
 */
import * as vscode from 'vscode';
import { redactTokens } from '../common/redact';

export class RedactingLogChannel implements vscode.LogOutputChannel {
    constructor(private readonly inner: vscode.LogOutputChannel) {}

    get name(): string {
        return this.inner.name;
    }
    get logLevel(): vscode.LogLevel {
        return this.inner.logLevel;
    }
    get onDidChangeLogLevel(): vscode.Event<vscode.LogLevel> {
        return this.inner.onDidChangeLogLevel;
    }
    trace(message: string, ...args: unknown[]): void {
        this.inner.trace(redactTokens(message), ...args.map(redactArg));
    }
    debug(message: string, ...args: unknown[]): void {
        this.inner.debug(redactTokens(message), ...args.map(redactArg));
    }
    info(message: string, ...args: unknown[]): void {
        this.inner.info(redactTokens(message), ...args.map(redactArg));
    }
    warn(message: string, ...args: unknown[]): void {
        this.inner.warn(redactTokens(message), ...args.map(redactArg));
    }
    error(error: string | Error, ...args: unknown[]): void {
        const e = typeof error === 'string' ? redactTokens(error) : redactTokens(error.stack ?? error.message);
        this.inner.error(e, ...args.map(redactArg));
    }
    append(value: string): void {
        this.inner.append(redactTokens(value));
    }
    appendLine(value: string): void {
        this.inner.appendLine(redactTokens(value));
    }
    replace(value: string): void {
        this.inner.replace(redactTokens(value));
    }
    clear(): void {
        this.inner.clear();
    }
    show(preserveFocus?: boolean): void;
    show(column?: vscode.ViewColumn, preserveFocus?: boolean): void;
    show(a?: boolean | vscode.ViewColumn, b?: boolean): void {
        if (typeof a === 'boolean' || a === undefined) {
            this.inner.show(a);
        } else {
            this.inner.show(a, b);
        }
    }
    hide(): void {
        this.inner.hide();
    }
    dispose(): void {
        this.inner.dispose();
    }
}

function redactArg(arg: unknown): unknown {
    if (typeof arg === 'string') {
        return redactTokens(arg);
    }
    if (arg instanceof Error) {
        return redactTokens(arg.stack ?? arg.message);
    }
    if (arg && typeof arg === 'object') {
        try {
            return redactTokens(JSON.stringify(arg));
        } catch {
            return '[unprintable]';
        }
    }
    return arg;
}

export function createLogChannel(name: string): RedactingLogChannel {
    return new RedactingLogChannel(vscode.window.createOutputChannel(name, { log: true }));
}
