/** Running programs and finding them on PATH. Node only, no `vscode`: usable from tests as is. */
import { execFile } from 'node:child_process';
import { constants as fsConstants, promises as fs } from 'node:fs';
import * as path from 'node:path';

export interface RunResult {
    /** The exit code; 1 when the program could not be started or was killed (timeout). */
    code: number;
    stdout: string;
    stderr: string;
}

export interface RunOptions {
    timeoutMs: number;
    env?: NodeJS.ProcessEnv;
}

export type Runner = (command: string, args: string[], options: RunOptions) => Promise<RunResult>;

export const run: Runner = (command, args, { timeoutMs, env }) =>
    new Promise((resolve) => {
        execFile(command, args, { timeout: timeoutMs, env, windowsHide: true, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
            let code = 0;
            let extra = '';
            if (error) {
                const c = (error as NodeJS.ErrnoException).code;
                code = typeof c === 'number' ? c : 1;
                if (typeof c === 'string' || (error as { killed?: boolean }).killed) {
                    // Not started (ENOENT, EACCES) or killed by the timeout: say so where the output goes.
                    extra = `\n${error.message}`;
                }
            }
            resolve({ code, stdout: String(stdout), stderr: String(stderr) + extra });
        });
    });

export async function isExecutable(file: string): Promise<boolean> {
    try {
        await fs.access(file, process.platform === 'win32' ? fsConstants.F_OK : fsConstants.X_OK);
        return (await fs.stat(file)).isFile();
    } catch {
        return false;
    }
}

/** Absolute path of an executable on PATH. */
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
