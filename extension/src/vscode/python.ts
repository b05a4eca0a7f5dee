/** The probes behind the interpreter discovery order (src/common/interpreter.ts). */
import { execFile } from 'node:child_process';
import { constants as fsConstants, promises as fs } from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { DiscoveryProbes } from '../common/interpreter';
import { PATH_PYTHONS } from '../common/interpreter';

const PROBE_TIMEOUT_MS = 20_000;
const PIP_TIMEOUT_MS = 10 * 60_000;

function run(command: string, args: string[], timeout: number): Promise<{ code: number; stdout: string; stderr: string }> {
    return new Promise((resolve) => {
        execFile(command, args, { timeout, windowsHide: true, maxBuffer: 4 * 1024 * 1024 }, (error, stdout, stderr) => {
            const code = error ? (typeof (error as NodeJS.ErrnoException).code === 'number' ? Number((error as NodeJS.ErrnoException).code) : 1) : 0;
            resolve({ code, stdout: String(stdout), stderr: String(stderr) });
        });
    });
}

async function isExecutable(file: string): Promise<boolean> {
    try {
        await fs.access(file, process.platform === 'win32' ? fsConstants.F_OK : fsConstants.X_OK);
        return (await fs.stat(file)).isFile();
    } catch {
        return false;
    }
}

export async function which(name: string): Promise<string | undefined> {
    const exts = process.platform === 'win32' ? (process.env.PATHEXT ?? '.EXE;.CMD;.BAT').split(';') : [''];
    for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
        if (!dir) {
            continue;
        }
        for (const ext of exts) {
            const candidate = path.join(dir, name + ext);
            if (await isExecutable(candidate)) {
                return candidate;
            }
        }
    }
    return undefined;
}

export async function hasModule(python: string, module: string): Promise<boolean> {
    const code = `import importlib.util, sys; sys.exit(0 if importlib.util.find_spec(${JSON.stringify(module)}) else 3)`;
    const r = await run(python, ['-c', code], PROBE_TIMEOUT_MS);
    return r.code === 0;
}

interface PythonExtensionApi {
    environments?: {
        getActiveEnvironmentPath(resource?: vscode.Uri): { path: string } | undefined;
        resolveEnvironment(env: { path: string } | string): Promise<{ executable: { uri?: vscode.Uri } } | undefined>;
    };
}

/** The interpreter the Python extension selected, when that extension is installed. */
export async function pythonExtensionInterpreter(log: (m: string) => void): Promise<string | undefined> {
    const ext = vscode.extensions.getExtension<PythonExtensionApi>('ms-python.python');
    if (!ext) {
        return undefined;
    }
    try {
        const api = ext.isActive ? ext.exports : await ext.activate();
        const envs = api?.environments;
        if (!envs) {
            return undefined;
        }
        const resource = vscode.workspace.workspaceFolders?.[0]?.uri;
        const active = envs.getActiveEnvironmentPath(resource);
        if (!active) {
            return undefined;
        }
        const resolved = await envs.resolveEnvironment(active);
        return resolved?.executable.uri?.fsPath;
    } catch (err) {
        log(`Could not ask the Python extension for its interpreter: ${String(err)}`);
        return undefined;
    }
}

function venvPython(dir: string): string {
    return process.platform === 'win32' ? path.join(dir, 'Scripts', 'python.exe') : path.join(dir, 'bin', 'python');
}

/**
 * Creates (once) a virtual environment in the extension's global storage with `pipSpec` and
 * returns its Python. Tells the user where it is when it creates it.
 */
export async function privateEnvironment(storage: vscode.Uri, module: string, pipSpec: string, log: (m: string) => void): Promise<string> {
    const dir = path.join(storage.fsPath, 'python-env');
    const python = venvPython(dir);
    if ((await isExecutable(python)) && (await hasModule(python, module))) {
        return python;
    }
    let base: string | undefined;
    for (const name of PATH_PYTHONS) {
        base = await which(name);
        if (base) {
            break;
        }
    }
    if (!base) {
        throw new Error('No Python found (python3 or python on PATH). Install Python 3.11+ or set microstax.python.');
    }
    await fs.mkdir(storage.fsPath, { recursive: true });
    await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: 'MicroStax: creating a private Python environment for the daemon…' },
        async () => {
            log(`Creating a virtual environment in ${dir} with ${base}`);
            const venv = await run(base as string, ['-m', 'venv', dir], PIP_TIMEOUT_MS);
            if (venv.code !== 0) {
                log(venv.stderr);
                throw new Error(`Could not create a virtual environment in ${dir} (python -m venv failed; see the logs).`);
            }
            log(`Installing ${pipSpec} into ${dir}`);
            const pip = await run(python, ['-m', 'pip', 'install', '--disable-pip-version-check', '--quiet', pipSpec], PIP_TIMEOUT_MS);
            if (pip.code !== 0) {
                log(pip.stderr);
                throw new Error(`Could not install ${pipSpec} into ${dir} (see the logs).`);
            }
        },
    );
    void vscode.window.showInformationMessage(`MicroStax: the daemon runs from a private Python environment created at ${dir}.`);
    return python;
}

export function probes(storage: vscode.Uri, module: string, log: (m: string) => void): DiscoveryProbes {
    return {
        pythonExtensionInterpreter: () => pythonExtensionInterpreter(log),
        hasModule,
        which,
        privateEnvironment: (pipSpec) => privateEnvironment(storage, module, pipSpec, log),
        log,
    };
}
