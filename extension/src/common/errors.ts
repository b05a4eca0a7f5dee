/**
 * Turning a daemon failure into a message and buttons. User errors (JSON-RPC -32001) carry
 * `data: {code, message, action?}`; anything else is unexpected and points at the logs.
 */
import { INVALID_PARAMS_CODE, USER_ERROR_CODE, type UserErrorData } from './protocol';

export type ErrorAction = 'signIn' | 'openSettings' | 'retry' | 'showLogs' | 'restartDaemon' | 'startLocalPlatform' | 'openConfigFile';

export const ACTION_LABELS: Record<ErrorAction, string> = {
    signIn: 'Sign In',
    openSettings: 'Open Settings',
    retry: 'Retry',
    showLogs: 'Show Logs',
    restartDaemon: 'Restart Daemon',
    startLocalPlatform: 'Start Local Platform',
    openConfigFile: 'Open Config File',
};

export interface ConfigLocation {
    path: string;
    /** 1-based, when the message names one (a TOML syntax error). */
    line?: number;
    column?: number;
}

/** The config file (and the line) a CONFIG_INVALID message names, e.g. tomllib's "(at line 3, column 7)". */
export function configLocation(message: string): ConfigLocation | undefined {
    const path = /((?:[A-Za-z]:)?[\\/][^\s:'"()]*\.toml)\b/.exec(message)?.[1];
    if (!path) {
        return undefined;
    }
    const at = /at line (\d+), column (\d+)/.exec(message);
    return at ? { path, line: Number(at[1]), column: Number(at[2]) } : { path };
}

/** A platform on this machine named in a message: Start Local Platform can help. */
const LOCAL_URL = /https?:\/\/(127\.0\.0\.1|localhost|\[::1\])(:\d+)?/;

export interface ErrorPresentation {
    severity: 'error' | 'warning';
    message: string;
    actions: ErrorAction[];
    /** The daemon's `data.code`, when it sent one. */
    code?: string;
}

const SIGN_IN_CODES = new Set(['NOT_SIGNED_IN', 'LOGIN_FAILED', 'LOGIN_TIMEOUT']);
const KNOWN_ACTIONS = new Set<string>(['signIn', 'openSettings', 'retry', 'showLogs']);

interface ResponseErrorLike {
    code?: unknown;
    message?: unknown;
    data?: unknown;
}

function isUserErrorData(data: unknown): data is UserErrorData {
    return typeof data === 'object' && data !== null && typeof (data as UserErrorData).code === 'string';
}

/** The daemon's `data.code` of a user error, or undefined. */
export function userErrorCode(err: unknown): string | undefined {
    const e = err as ResponseErrorLike | undefined;
    return e && isUserErrorData(e.data) ? e.data.code : undefined;
}

/** Messages of vscode-jsonrpc when the connection is gone. */
const NOT_RUNNING = /(connection (got )?(closed|disposed)|client is not running|Client is not running|Pending response rejected since connection got disposed|not running)/i;

/**
 * @param what the failed step in words, e.g. "Federation failed".
 */
export function presentError(err: unknown, what: string): ErrorPresentation {
    const e = (err ?? {}) as ResponseErrorLike;
    const message = typeof e.message === 'string' ? e.message : String(err);
    // -32602 (invalid params) carries the same data for a bad command argument (BAD_REQUEST).
    if (isUserErrorData(e.data) && (e.code === USER_ERROR_CODE || e.code === INVALID_PARAMS_CODE || e.code === undefined)) {
        const data = e.data;
        const actions: ErrorAction[] = [];
        if (data.action && KNOWN_ACTIONS.has(data.action)) {
            actions.push(data.action as ErrorAction);
        }
        if (SIGN_IN_CODES.has(data.code) && !actions.includes('signIn')) {
            actions.unshift('signIn');
        }
        let text = data.message || message;
        if (data.code === 'IDP_UNAVAILABLE') {
            // Plain cause, then the next step.
            if (!actions.includes('retry')) {
                actions.unshift('retry');
            }
            if (LOCAL_URL.test(text)) {
                actions.splice(1, 0, 'startLocalPlatform');
            }
            if (!/running\?/.test(text)) {
                text = `${text.replace(/[.\s]+$/, '')}. Is the platform running?`;
            }
        }
        if (data.code === 'JWKS_FILE_INVALID' && data.hint) {
            // The file's problem, then what to pick instead.
            text = `${text.replace(/[.\s]+$/, '')}. ${data.hint.charAt(0).toUpperCase()}${data.hint.slice(1).replace(/[.\s]*$/, '.')}`;
        }
        if (data.code === 'CONFIG_INVALID' && configLocation(text)) {
            actions.unshift('openConfigFile');
        }
        if (!actions.includes('showLogs')) {
            actions.push('showLogs');
        }
        const severity = data.code === 'NOT_SIGNED_IN' ? 'warning' : 'error';
        return { severity, message: `${what}: ${text}`, actions, code: data.code };
    }
    if (NOT_RUNNING.test(message)) {
        return { severity: 'error', message: `${what}: the MicroStax daemon is not running.`, actions: ['restartDaemon', 'showLogs'] };
    }
    return { severity: 'error', message: `${what}: ${message}`, actions: ['showLogs'] };
}

/** True when a request was cancelled by the user (nothing to report). */
export function isCancellation(err: unknown): boolean {
    const e = err as ResponseErrorLike | undefined;
    return !!e && (e.code === -32800 || (typeof e.message === 'string' && /cancel/i.test(e.message) && e.code !== USER_ERROR_CODE));
}

/**
 * Verify Token failed for want of an issuer to check against (the token names none, or its
 * issuer's keys cannot be had): offer to verify against a configured environment's issuer.
 */
export function offersIssuerPick(err: unknown): boolean {
    const code = userErrorCode(err);
    const message = String((err as { data?: { message?: unknown } } | undefined)?.data?.message ?? '');
    return code === 'IDP_UNAVAILABLE' || (code === 'INVALID_TOKEN' && /issuer/.test(message));
}
