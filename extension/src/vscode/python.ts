/** The probes behind the interpreter discovery order (src/common/interpreter.ts). */
import { stat } from 'node:fs/promises';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { ServerInfo } from '../common/identity';
import type { DiscoveryProbes } from '../common/interpreter';
import { baseCandidates, BUNDLED_DIR, createdMessage } from '../common/privateEnv';
import { ensurePrivateEnvironment } from '../node/privateEnvironment';
import { run, which } from '../node/process';

const PROBE_TIMEOUT_MS = 20_000;

export async function hasModule(python: string, module: string): Promise<boolean> {
    const code = `import importlib.util, sys; sys.exit(0 if importlib.util.find_spec(${JSON.stringify(module)}) else 3)`;
    const r = await run(python, ['-c', code], { timeoutMs: PROBE_TIMEOUT_MS });
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

/**
 * The private environment (src/node/privateEnvironment.ts) with a progress notification while it
 * is made, and a notification saying where it is once made.
 */
export async function privateEnvironment(
    context: vscode.ExtensionContext,
    info: ServerInfo,
    log: (m: string) => void,
    showLogs: () => void,
): Promise<string> {
    const result = await ensurePrivateEnvironment({
        storageDir: context.globalStorageUri.fsPath,
        bundledDir: path.join(context.extensionPath, BUNDLED_DIR),
        module: info.module,
        minPython: info.minPython,
        pythonSetting: `${info.section}.python`,
        candidates: async () =>
            baseCandidates({ python3: await which('python3'), python: await which('python') }, await pythonExtensionInterpreter(log)),
        log,
        withProgress: (title, task) =>
            Promise.resolve(
                vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title }, (progress) =>
                    task((step) => progress.report({ message: step })),
                ),
            ),
    });
    if (result.created) {
        const message = createdMessage(result.dir, result.marker);
        log(message);
        void vscode.window.showInformationMessage(message, 'Show Logs').then((choice) => choice && showLogs());
    }
    return result.python;
}

export function probes(context: vscode.ExtensionContext, info: ServerInfo, log: (m: string) => void, showLogs: () => void): DiscoveryProbes {
    return {
        pythonExtensionInterpreter: () => pythonExtensionInterpreter(log),
        hasModule,
        exists: async (file: string) => {
            try {
                await stat(file);
                return true;
            } catch {
                return false;
            }
        },
        which,
        privateEnvironment: () => privateEnvironment(context, info, log, showLogs),
        log,
    };
}
