/**
 * How the daemon is found. The order (documented in README.md, "Finding Python"):
 *
 *  1. `microstax.daemonCommand`: a full command line, used as is.
 *  2. `microstax.python`: `<python> -m microstax daemon` (an error if it lacks the package).
 *  3. The Python extension's selected interpreter, if it has the `microstax` package.
 *  4. `python3`, then `python`, on PATH, if it has the package.
 *  5. The `microstax` console script on PATH.
 *  6. A private environment the extension creates in its global storage from the wheel bundled in
 *     the .vsix (privateEnv.ts), reported to the user when it is created, re-used later.
 *
 * The probes that touch the system are passed in, so the order itself is tested without one.
 */
import type { ServerInfo } from './identity';
import type { Settings } from './settings';

export type DaemonSource =
    | 'setting:daemonCommand'
    | 'setting:python'
    | 'pythonExtension'
    | 'path:python'
    | 'path:consoleScript'
    | 'privateEnvironment';

export interface DaemonLaunch {
    command: string;
    args: string[];
    source: DaemonSource;
    /** For the log: where it came from, in words. */
    detail: string;
}

export interface DiscoveryProbes {
    /** The interpreter the Python extension selected for the workspace, when that extension is present. */
    pythonExtensionInterpreter(): Promise<string | undefined>;
    /** Whether `python` can import `module`. */
    hasModule(python: string, module: string): Promise<boolean>;
    /** Whether a file exists at `path` (to tell "no such file" from "no package"); absent: not checked. */
    exists?(path: string): Promise<boolean>;
    /** Absolute path of an executable on PATH. */
    which(name: string): Promise<string | undefined>;
    /** Creates (or re-uses) the private environment with the bundled wheel installed; returns its Python. */
    privateEnvironment(): Promise<string>;
    log(message: string): void;
}

export class DiscoveryError extends Error {
    constructor(
        message: string,
        readonly setting?: string,
    ) {
        super(message);
        this.name = 'DiscoveryError';
    }
}

export const PATH_PYTHONS = ['python3', 'python'] as const;

export async function discoverDaemon(settings: Settings, info: ServerInfo, probes: DiscoveryProbes): Promise<DaemonLaunch> {
    const moduleArgs = ['-m', info.module, ...info.daemonArgs];

    if (settings.daemonCommand.length > 0) {
        const [command, ...args] = settings.daemonCommand;
        return { command, args, source: 'setting:daemonCommand', detail: `${info.section}.daemonCommand` };
    }

    if (settings.python) {
        if (probes.exists && !(await probes.exists(settings.python))) {
            throw new DiscoveryError(
                `The interpreter in ${info.section}.python (${settings.python}) does not exist. ` +
                    `Point the setting at a Python that has the "${info.module}" package, or clear it to let the extension find one (or make its own).`,
                `${info.section}.python`,
            );
        }
        if (!(await probes.hasModule(settings.python, info.module))) {
            throw new DiscoveryError(
                `The interpreter in ${info.section}.python (${settings.python}) cannot import the "${info.module}" package. ` +
                    `Install the package into it, or clear the setting to let the extension find one (or make its own).`,
                `${info.section}.python`,
            );
        }
        return { command: settings.python, args: moduleArgs, source: 'setting:python', detail: `${info.section}.python` };
    }

    const selected = await probes.pythonExtensionInterpreter();
    if (selected) {
        if (await probes.hasModule(selected, info.module)) {
            return { command: selected, args: moduleArgs, source: 'pythonExtension', detail: "the Python extension's selected interpreter" };
        }
        probes.log(`The Python extension's interpreter ${selected} has no "${info.module}" package; looking further.`);
    }

    for (const name of PATH_PYTHONS) {
        const python = await probes.which(name);
        if (python && (await probes.hasModule(python, info.module))) {
            return { command: python, args: moduleArgs, source: 'path:python', detail: `${name} on PATH` };
        }
    }

    const script = await probes.which(info.module);
    if (script) {
        return { command: script, args: [...info.daemonArgs], source: 'path:consoleScript', detail: `the ${info.module} command on PATH` };
    }

    probes.log(`No Python with the "${info.module}" package found; using the private environment of this extension.`);
    const python = await probes.privateEnvironment();
    return { command: python, args: moduleArgs, source: 'privateEnvironment', detail: 'the private environment of this extension' };
}

/**
 * `microstax platform serve` run the way the daemon runs (`<python> -m microstax`, or the
 * console script of daemonCommand): Start Local Platform uses the same installation.
 */
export function platformServeCommand(launch: DaemonLaunch | undefined, daemonArgs: readonly string[]): { command: string; args: string[] } | undefined {
    if (!launch || launch.args.length < daemonArgs.length) {
        return undefined;
    }
    const head = launch.args.length - daemonArgs.length;
    if (!daemonArgs.every((a, i) => launch.args[head + i] === a)) {
        return undefined;
    }
    return { command: launch.command, args: [...launch.args.slice(0, head), 'platform', 'serve'] };
}
