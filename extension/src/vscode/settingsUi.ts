/** Opening a setting where it can be edited. */
import * as vscode from 'vscode';

/** Settings that only user (or remote machine) settings may hold: see package.json `scope`. */
const MACHINE_SCOPED = new Set(['python', 'daemonCommand', 'configFile']);

/**
 * Opens the Settings editor on `fullKey`. In a remote window (code-server, SSH, WSL) a
 * machine-scoped setting lives in the Remote settings: the User tab would say "No Settings Found".
 */
export async function openSetting(section: string, fullKey: string): Promise<void> {
    const key = fullKey.startsWith(`${section}.`) ? fullKey.slice(section.length + 1) : fullKey;
    if (vscode.env.remoteName && MACHINE_SCOPED.has(key)) {
        await vscode.commands.executeCommand('workbench.action.openRemoteSettings', { query: fullKey });
        return;
    }
    await vscode.commands.executeCommand('workbench.action.openSettings', fullKey);
}
