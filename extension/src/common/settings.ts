/**
 * Settings: reading them (with defaults, validation and `${var}` expansion), turning them into
 * the daemon's initialization options, and deciding what a change needs (restart or update).
 */
import type { InitializationOptions } from './protocol';

export type LogLevel = InitializationOptions['logLevel'];
export const LOG_LEVELS: readonly LogLevel[] = ['error', 'warn', 'info', 'debug'];

export interface Settings {
    python: string;
    daemonCommand: string[];
    environment: string;
    configFile: string;
    logLevel: LogLevel;
    diagnosticsEnabled: boolean;
    hoverEnabled: boolean;
    clearClipboardOnExpiry: boolean;
}

/** Setting keys relative to the section, and what a change to each needs. */
export const SETTING_KEYS = {
    python: 'python',
    daemonCommand: 'daemonCommand',
    environment: 'environment',
    configFile: 'configFile',
    logLevel: 'logLevel',
    diagnosticsEnabled: 'diagnostics.enabled',
    hoverEnabled: 'hover.enabled',
    clearClipboardOnExpiry: 'clipboard.clearOnExpiry',
} as const satisfies Record<keyof Settings, string>;

/** A change to one of these restarts the daemon: they decide what runs and what it loads. */
export const RESTART_KEYS: readonly (keyof Settings)[] = ['python', 'daemonCommand', 'configFile'];
/** A change to one of these is sent to the running daemon (`workspace/didChangeConfiguration`). */
export const UPDATE_KEYS: readonly (keyof Settings)[] = ['environment', 'logLevel', 'diagnosticsEnabled', 'hoverEnabled'];

export type ChangeKind = 'restart' | 'update' | 'none';

/**
 * What a configuration change needs. `affects` is `event.affectsConfiguration` bound to full
 * setting names.
 */
export function classifyChange(section: string, affects: (fullKey: string) => boolean): ChangeKind {
    if (RESTART_KEYS.some((k) => affects(`${section}.${SETTING_KEYS[k]}`))) {
        return 'restart';
    }
    if (UPDATE_KEYS.some((k) => affects(`${section}.${SETTING_KEYS[k]}`))) {
        return 'update';
    }
    return 'none';
}

export interface Variables {
    workspaceFolder?: string;
    userHome: string;
    env?: Record<string, string | undefined>;
}

/** Expands `~`, `${userHome}`, `${workspaceFolder}` and `${env:NAME}` in a path-like setting. */
export function expandVariables(value: string, vars: Variables): string {
    let out = value.trim();
    if (out === '~' || out.startsWith('~/')) {
        out = vars.userHome + out.slice(1);
    }
    return out.replace(/\$\{(userHome|workspaceFolder|env:([A-Za-z_][A-Za-z0-9_]*))\}/g, (whole, name: string, envName?: string) => {
        if (name === 'userHome') {
            return vars.userHome;
        }
        if (name === 'workspaceFolder') {
            return vars.workspaceFolder ?? whole;
        }
        return vars.env?.[envName ?? ''] ?? '';
    });
}

export interface SettingsProblem {
    key: string;
    message: string;
}

/**
 * Reads settings through `get(relativeKey)` (e.g. `WorkspaceConfiguration.get`). Bad values fall
 * back to the default and are reported in `problems`.
 */
export function readSettings(
    get: (key: string) => unknown,
    vars: Variables,
): { settings: Settings; problems: SettingsProblem[] } {
    const problems: SettingsProblem[] = [];
    const str = (key: string): string => {
        const v = get(key);
        if (v === undefined || v === null) {
            return '';
        }
        if (typeof v !== 'string') {
            problems.push({ key, message: `must be a string, got ${typeof v}` });
            return '';
        }
        return v.trim();
    };
    const bool = (key: string, dflt: boolean): boolean => {
        const v = get(key);
        if (v === undefined || v === null) {
            return dflt;
        }
        if (typeof v !== 'boolean') {
            problems.push({ key, message: `must be true or false, got ${JSON.stringify(v)}` });
            return dflt;
        }
        return v;
    };

    let daemonCommand: string[] = [];
    const rawCmd = get(SETTING_KEYS.daemonCommand);
    if (typeof rawCmd === 'string') {
        // Tolerate a single string: split on whitespace (no quoting rules, use an array for that).
        daemonCommand = rawCmd.trim() ? rawCmd.trim().split(/\s+/) : [];
    } else if (Array.isArray(rawCmd) && rawCmd.every((x) => typeof x === 'string')) {
        daemonCommand = rawCmd.map((x: string) => x.trim()).filter((x) => x.length > 0);
    } else if (rawCmd !== undefined && rawCmd !== null) {
        problems.push({ key: SETTING_KEYS.daemonCommand, message: 'must be an array of strings' });
    }
    if (daemonCommand.length > 0) {
        daemonCommand[0] = expandVariables(daemonCommand[0], vars);
    }

    let logLevel = str(SETTING_KEYS.logLevel) as LogLevel;
    if (!logLevel) {
        logLevel = 'info';
    } else if (!LOG_LEVELS.includes(logLevel)) {
        problems.push({ key: SETTING_KEYS.logLevel, message: `must be one of ${LOG_LEVELS.join(', ')}` });
        logLevel = 'info';
    }

    const python = str(SETTING_KEYS.python);
    const configFile = str(SETTING_KEYS.configFile);
    return {
        settings: {
            python: python ? expandVariables(python, vars) : '',
            daemonCommand,
            environment: str(SETTING_KEYS.environment),
            configFile: configFile ? expandVariables(configFile, vars) : '',
            logLevel,
            diagnosticsEnabled: bool(SETTING_KEYS.diagnosticsEnabled, true),
            hoverEnabled: bool(SETTING_KEYS.hoverEnabled, true),
            clearClipboardOnExpiry: bool(SETTING_KEYS.clearClipboardOnExpiry, true),
        },
        problems,
    };
}

/** The daemon's `initializationOptions` (and `didChangeConfiguration` payload). */
export function toInitializationOptions(s: Settings): InitializationOptions {
    const opts: InitializationOptions = {
        logLevel: s.logLevel,
        diagnostics: s.diagnosticsEnabled,
        hover: s.hoverEnabled,
    };
    if (s.configFile) {
        opts.configFile = s.configFile;
    }
    if (s.environment) {
        opts.environment = s.environment;
    }
    return opts;
}

/** The environment argument for a daemon command: the setting, else the daemon's default. */
export function environmentArg(s: Settings, explicit?: string): { environment?: string } {
    const env = explicit ?? s.environment;
    return env ? { environment: env } : {};
}
