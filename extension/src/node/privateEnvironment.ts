/**
 * Makes (or re-uses) the private environment: the I/O around the decisions in
 * src/common/privateEnv.ts. Node only, no `vscode` (the notification and the progress are passed
 * in by src/vscode/python.ts), so a test can run the real thing: a venv from the packaged wheel.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import {
    type BundledWheel,
    chooseBasePython,
    ENV_DIR,
    type EnvMarker,
    type EnvPlan,
    failureHint,
    formatVersion,
    lastLines,
    LOCK_DIR,
    lockIsStale,
    MARKER_FILE,
    MARKER_FORMAT,
    parseMarker,
    parsePythonVersion,
    pickBundledWheel,
    pipEnvironment,
    pipInstallCommand,
    planPrivateEnvironment,
    type ProbedPython,
    PYTHON_VERSION_ARGS,
    reusedMessage,
    serializeMarker,
    venvCommand,
    venvPython,
    versionAnswerMatches,
    versionCommand,
} from '../common/privateEnv';
import { isExecutable, run as realRun, type Runner } from './process';

const PROBE_TIMEOUT_MS = 20_000;
const VENV_TIMEOUT_MS = 3 * 60_000;
const PIP_TIMEOUT_MS = 10 * 60_000;
const LOCK_POLL_MS = 1_000;

export interface PrivateEnvOptions {
    /** The extension's global storage folder; the environment is `<storageDir>/python-env`. */
    storageDir: string;
    /** `<extension>/bundled`, holding the wheel. */
    bundledDir: string;
    /** The package (and module) name: `microstax`. */
    module: string;
    /** The oldest Python the package supports, e.g. `3.11`. */
    minPython: string;
    /** The setting named in messages, e.g. `microstax.python`. */
    pythonSetting: string;
    /** Pythons to make the environment with, in order (see `baseCandidates`). */
    candidates(): Promise<string[]>;
    log(message: string): void;
    /** Wraps the slow part; `report` says which step runs. Default: none. */
    withProgress?<T>(title: string, task: (report: (step: string) => void) => Promise<T>): Promise<T>;
    /** For tests. */
    run?: Runner;
    platform?: NodeJS.Platform;
    env?: NodeJS.ProcessEnv;
}

export interface PrivateEnvResult {
    /** The environment's Python: start the daemon as `<python> -m <module> daemon`. */
    python: string;
    dir: string;
    /** True when it was made now (tell the user), false when re-used. */
    created: boolean;
    marker: EnvMarker;
}

export async function ensurePrivateEnvironment(o: PrivateEnvOptions): Promise<PrivateEnvResult> {
    const dir = path.join(o.storageDir, ENV_DIR);
    const python = venvPython(dir, o.platform ?? process.platform);
    const wheel = await bundledWheel(o);

    const first = await currentPlan(dir, python, wheel);
    if (first.action === 'reuse') {
        o.log(reusedMessage(dir, first.marker));
        return { python, dir, created: false, marker: first.marker };
    }

    await fs.mkdir(o.storageDir, { recursive: true });
    const release = await acquireLock(path.join(o.storageDir, LOCK_DIR), o.log);
    try {
        // Another window may have made it while this one waited for the lock.
        const plan = await currentPlan(dir, python, wheel);
        if (plan.action === 'reuse') {
            o.log(reusedMessage(dir, plan.marker));
            return { python, dir, created: false, marker: plan.marker };
        }
        o.log(`Making a private environment for the daemon in ${dir}: ${plan.reason}.`);
        const progress = o.withProgress ?? ((_title, task) => task(() => undefined));
        const marker = await progress('MicroStax: creating a private Python environment for the daemon', (report) =>
            make(o, dir, python, wheel, report),
        );
        return { python, dir, created: true, marker };
    } finally {
        await release();
    }
}

async function bundledWheel(o: PrivateEnvOptions): Promise<BundledWheel> {
    let files: string[] = [];
    try {
        files = await fs.readdir(o.bundledDir);
    } catch {
        // reported below
    }
    const wheel = pickBundledWheel(files, o.module);
    if (!wheel) {
        throw new Error(
            `No ${o.module} wheel is bundled with this extension (${o.bundledDir}), so it cannot make a private environment. ` +
                `Set ${o.pythonSetting} to an interpreter that has the ${o.module} package.`,
        );
    }
    return wheel;
}

async function currentPlan(dir: string, python: string, wheel: BundledWheel): Promise<EnvPlan> {
    let text: string | undefined;
    try {
        text = await fs.readFile(path.join(dir, MARKER_FILE), 'utf8');
    } catch {
        text = undefined;
    }
    return planPrivateEnvironment({ wheel, marker: parseMarker(text), pythonExists: await isExecutable(python) });
}

async function make(o: PrivateEnvOptions, dir: string, python: string, wheel: BundledWheel, report: (step: string) => void): Promise<EnvMarker> {
    const run = o.run ?? realRun;
    const env = pipEnvironment(o.env ?? process.env);

    report('looking for Python');
    const probed: ProbedPython[] = [];
    for (const candidate of await o.candidates()) {
        const r = await run(candidate, PYTHON_VERSION_ARGS, { timeoutMs: PROBE_TIMEOUT_MS, env });
        probed.push({ path: candidate, version: r.code === 0 ? parsePythonVersion(r.stdout) : undefined });
    }
    const chosen = chooseBasePython(probed, o.minPython, o.pythonSetting);
    if ('error' in chosen) {
        throw new Error(chosen.error);
    }
    const pythonVersion = formatVersion(chosen.version);

    // Without its marker the environment counts as unfinished, whatever happens next.
    await fs.rm(path.join(dir, MARKER_FILE), { force: true });

    report('creating the virtual environment');
    o.log(`Creating a virtual environment in ${dir} with ${chosen.python} (Python ${pythonVersion}).`);
    const venv = venvCommand(chosen.python, dir);
    const made = await run(venv.command, venv.args, { timeoutMs: VENV_TIMEOUT_MS, env });
    if (made.code !== 0) {
        o.log(lastLines(made.stderr + made.stdout, 30));
        throw new Error(
            `Could not create a virtual environment in ${dir} with ${chosen.python} (python -m venv failed). ${failureHint('venv', made.stderr)}`.trim(),
        );
    }

    const wheelPath = path.join(o.bundledDir, wheel.file);
    report(`installing ${wheel.distribution} ${wheel.version} and its dependencies`);
    o.log(`Installing ${wheel.file} (bundled with this extension) and its dependencies into ${dir}.`);
    const pip = pipInstallCommand(python, wheelPath);
    const started = Date.now();
    const installed = await run(pip.command, pip.args, { timeoutMs: PIP_TIMEOUT_MS, env });
    if (installed.code !== 0) {
        o.log(lastLines(installed.stderr + installed.stdout, 40));
        throw new Error(
            `Could not install ${wheel.file} into ${dir} (pip failed; see the log). ${failureHint('pip', installed.stderr + installed.stdout)}`.trim(),
        );
    }
    o.log(`${lastLines(installed.stdout, 1)} (${Math.round((Date.now() - started) / 1000)}s)`);

    const check = versionCommand(python, o.module);
    const answer = await run(check.command, check.args, { timeoutMs: PROBE_TIMEOUT_MS, env });
    if (answer.code !== 0 || !versionAnswerMatches(answer.stdout, wheel.version)) {
        o.log(lastLines(answer.stderr + answer.stdout, 30));
        throw new Error(`The private environment in ${dir} does not answer \`${o.module} --version\` with ${wheel.version} (see the log).`);
    }

    const marker: EnvMarker = {
        format: MARKER_FORMAT,
        distribution: wheel.distribution,
        version: wheel.version,
        wheel: wheel.file,
        basePython: chosen.python,
        pythonVersion,
        createdAt: new Date().toISOString(),
    };
    const file = path.join(dir, MARKER_FILE);
    await fs.writeFile(`${file}.tmp`, serializeMarker(marker));
    await fs.rename(`${file}.tmp`, file);
    return marker;
}

/** Holds `<storage>/python-env.lock` (a directory: mkdir is atomic) so two windows do not make the environment at once. */
async function acquireLock(lockDir: string, log: (m: string) => void): Promise<() => Promise<void>> {
    let told = false;
    for (;;) {
        try {
            await fs.mkdir(lockDir);
            return () => fs.rm(lockDir, { recursive: true, force: true });
        } catch (err) {
            if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
                throw err;
            }
        }
        let mtimeMs: number;
        try {
            mtimeMs = (await fs.stat(lockDir)).mtimeMs;
        } catch {
            continue; // released in between
        }
        if (lockIsStale(mtimeMs, Date.now())) {
            log(`Removing a stale lock (${lockDir}) left by a window that stopped while making the environment.`);
            await fs.rm(lockDir, { recursive: true, force: true });
            continue;
        }
        if (!told) {
            told = true;
            log('Another window is making the private environment; waiting for it.');
        }
        await new Promise((resolve) => setTimeout(resolve, LOCK_POLL_MS));
    }
}
