/**
 * The private environment, the last step of the daemon discovery (interpreter.ts): the decisions,
 * without touching the system.
 *
 * The .vsix carries the project's wheel in `bundled/` (built at packaging time by
 * scripts/bundle-wheel.mjs). When no interpreter with the package is found, the extension creates
 * a virtual environment in its global storage with a Python ≥ `minPython`, installs that wheel
 * (its dependencies come from the user's normal package index, as pip is configured), checks that
 * `<venv python> -m <module> --version` answers with the wheel's version, and writes a marker
 * file last. A later start re-uses the environment while the marker names the bundled wheel's
 * version; an environment without a marker (an interrupted install) is made again.
 *
 * No `vscode` and no `node:` imports: the I/O is in src/node/privateEnvironment.ts.
 */

/** Folder of the wheel inside the extension. */
export const BUNDLED_DIR = 'bundled';
/** Folder of the environment inside the extension's global storage. */
export const ENV_DIR = 'python-env';
/** The marker, inside the environment's folder (removing the folder removes it). */
export const MARKER_FILE = 'microstax-env.json';
/** Held (a directory, created atomically) while an environment is being made. */
export const LOCK_DIR = 'python-env.lock';
export const MARKER_FORMAT = 1;
/** A lock older than this is left over from a crashed window; longer than the pip timeout. */
export const LOCK_STALE_MS = 15 * 60_000;

export interface Command {
    command: string;
    args: string[];
}

// ---- the bundled wheel ---------------------------------------------------------------------

export interface BundledWheel {
    /** File name, e.g. `microstax-0.1.0-py3-none-any.whl`. */
    file: string;
    /** The distribution as the file name spells it (`microstax`). */
    distribution: string;
    version: string;
}

/** PEP 503 normalisation, so `Micro_Stax` and `micro-stax` compare equal. */
export function normalizeDistribution(name: string): string {
    return name.toLowerCase().replace(/[-_.]+/g, '-');
}

/**
 * A wheel file name (PEP 427: `{distribution}-{version}(-{build})?-{python}-{abi}-{platform}.whl`),
 * or undefined for anything else.
 */
export function parseWheelName(file: string): BundledWheel | undefined {
    const m = /^([A-Za-z0-9](?:[A-Za-z0-9._]*[A-Za-z0-9])?)-([^-]+)(?:-\d[^-]*)?-[^-]+-[^-]+-[^-]+\.whl$/.exec(file);
    if (!m) {
        return undefined;
    }
    return { file, distribution: m[1], version: m[2] };
}

/** Compares dotted versions numerically (`0.10.0` > `0.9.1`); other parts as text. */
export function compareVersions(a: string, b: string): number {
    const pa = a.split(/[.+-]/);
    const pb = b.split(/[.+-]/);
    for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
        const x = pa[i] ?? '0';
        const y = pb[i] ?? '0';
        const nx = /^\d+$/.test(x) ? Number(x) : NaN;
        const ny = /^\d+$/.test(y) ? Number(y) : NaN;
        const d = !Number.isNaN(nx) && !Number.isNaN(ny) ? nx - ny : x < y ? -1 : x > y ? 1 : 0;
        if (d !== 0) {
            return Math.sign(d);
        }
    }
    return 0;
}

/** The wheel of `distribution` among the files of `bundled/` (the newest, should there be several). */
export function pickBundledWheel(files: readonly string[], distribution: string): BundledWheel | undefined {
    const want = normalizeDistribution(distribution);
    return files
        .map(parseWheelName)
        .filter((w): w is BundledWheel => w !== undefined && normalizeDistribution(w.distribution) === want)
        .sort((a, b) => compareVersions(b.version, a.version))[0];
}

// ---- the marker ----------------------------------------------------------------------------

export interface EnvMarker {
    format: number;
    distribution: string;
    /** The bundled wheel's version installed in the environment. */
    version: string;
    wheel: string;
    /** The Python the environment was made with, and its version. */
    basePython: string;
    pythonVersion: string;
    createdAt: string;
}

export function serializeMarker(m: EnvMarker): string {
    return `${JSON.stringify(m, null, 2)}\n`;
}

/** The marker, or undefined when it is missing, unreadable or of another format. */
export function parseMarker(text: string | undefined): EnvMarker | undefined {
    if (!text) {
        return undefined;
    }
    let doc: unknown;
    try {
        doc = JSON.parse(text);
    } catch {
        return undefined;
    }
    if (!doc || typeof doc !== 'object') {
        return undefined;
    }
    const m = doc as Record<string, unknown>;
    const strings = ['distribution', 'version', 'wheel', 'basePython', 'pythonVersion', 'createdAt'];
    if (m.format !== MARKER_FORMAT || !strings.every((k) => typeof m[k] === 'string')) {
        return undefined;
    }
    return m as unknown as EnvMarker;
}

// ---- what to do ----------------------------------------------------------------------------

export type EnvPlan = { action: 'reuse'; marker: EnvMarker } | { action: 'create'; reason: string };

export interface PlanInput {
    wheel: BundledWheel;
    /** The parsed marker file, if any. */
    marker: EnvMarker | undefined;
    /** Whether the environment's Python exists and is executable. */
    pythonExists: boolean;
}

/** Re-use the environment when it is complete and holds the bundled wheel's version; else make it again. */
export function planPrivateEnvironment({ wheel, marker, pythonExists }: PlanInput): EnvPlan {
    if (!marker) {
        return { action: 'create', reason: pythonExists ? 'the last attempt to make it did not finish' : 'there is none yet' };
    }
    if (normalizeDistribution(marker.distribution) !== normalizeDistribution(wheel.distribution)) {
        return { action: 'create', reason: `it holds ${marker.distribution}, not ${wheel.distribution}` };
    }
    if (marker.version !== wheel.version) {
        return { action: 'create', reason: `it holds ${marker.distribution} ${marker.version}; this extension bundles ${wheel.version}` };
    }
    if (!pythonExists) {
        return { action: 'create', reason: 'its Python is gone' };
    }
    return { action: 'reuse', marker };
}

// ---- the base Python -----------------------------------------------------------------------

/** Prints `major.minor.micro`. */
export const PYTHON_VERSION_ARGS = ['-c', 'import sys; print("%d.%d.%d" % sys.version_info[:3])'];

export type Version = [number, number, number];

export function parsePythonVersion(text: string): Version | undefined {
    const m = /(\d+)\.(\d+)(?:\.(\d+))?/.exec(text.trim());
    return m ? [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)] : undefined;
}

export function formatVersion(v: Version): string {
    return v.join('.');
}

export function meetsMinimum(version: Version, minimum: string): boolean {
    const min = parsePythonVersion(minimum) ?? [3, 0, 0];
    for (let i = 0; i < 3; i++) {
        if (version[i] !== min[i]) {
            return version[i] > min[i];
        }
    }
    return true;
}

/**
 * The Pythons to make the environment with, in order, without duplicates: `python3`, then
 * `python` on PATH, then the Python extension's selected interpreter (it lacks the package, but
 * may be a good base when PATH has none or an old one).
 */
export function baseCandidates(onPath: { python3?: string; python?: string }, pythonExtension?: string): string[] {
    return [...new Set([onPath.python3, onPath.python, pythonExtension].filter((p): p is string => !!p))];
}

export interface ProbedPython {
    path: string;
    /** Undefined when it did not run or printed no version. */
    version?: Version;
}

/** The first candidate that is new enough, or why none is. */
export function chooseBasePython(
    probed: readonly ProbedPython[],
    minimum: string,
    pythonSetting: string,
): { python: string; version: Version } | { error: string } {
    for (const p of probed) {
        if (p.version && meetsMinimum(p.version, minimum)) {
            return { python: p.path, version: p.version };
        }
    }
    const seen = probed.map((p) => `${p.path} (${p.version ? formatVersion(p.version) : 'did not run'})`);
    return {
        error:
            `No Python ${minimum} or newer found to create the daemon's environment with` +
            (seen.length ? `: found ${seen.join(', ')}` : ' (python3 or python on PATH)') +
            `. Install Python ${minimum}+, or set ${pythonSetting} to an interpreter that has the daemon's package.`,
    };
}

// ---- the command lines ---------------------------------------------------------------------

/** The environment's Python. */
export function venvPython(dir: string, platform: string): string {
    return platform === 'win32' ? `${dir}\\Scripts\\python.exe` : `${dir}/bin/python`;
}

/** Makes (or empties and makes again) the environment. */
export function venvCommand(basePython: string, dir: string): Command {
    return { command: basePython, args: ['-m', 'venv', '--clear', dir] };
}

/** Installs the bundled wheel; its dependencies come from the package index pip is configured with. */
export function pipInstallCommand(python: string, wheelPath: string): Command {
    return {
        command: python,
        args: ['-m', 'pip', 'install', '--disable-pip-version-check', '--no-input', '--progress-bar', 'off', wheelPath],
    };
}

/** Asks the installed package its version (`microstax, version 0.1.0`). */
export function versionCommand(python: string, module: string): Command {
    return { command: python, args: ['-m', module, '--version'] };
}

export function versionAnswerMatches(stdout: string, version: string): boolean {
    return stdout
        .trim()
        .split(/[\s,]+/)
        .some((word) => word === version || word === `v${version}`);
}

/**
 * Environment for the venv and pip: the user's pip configuration (index, proxy, certificates)
 * stays; settings that would install elsewhere than into the venv (`PIP_USER`, `PIP_TARGET`,
 * `PIP_PREFIX`) or make Python look elsewhere (`PYTHONHOME`, `PYTHONPATH`) are dropped, and
 * `PIP_USER=0` overrides a `user = true` in a pip config file.
 */
export function pipEnvironment(env: Readonly<Record<string, string | undefined>>): Record<string, string | undefined> {
    const out: Record<string, string | undefined> = {};
    for (const [k, v] of Object.entries(env)) {
        if (!['PIP_USER', 'PIP_TARGET', 'PIP_PREFIX', 'PYTHONHOME', 'PYTHONPATH'].includes(k.toUpperCase())) {
            out[k] = v;
        }
    }
    out.PIP_USER = '0';
    return out;
}

// ---- what to tell the user -----------------------------------------------------------------

/** A hint for a failed step, from its stderr; '' when there is nothing better to say than the log. */
export function failureHint(step: 'venv' | 'pip' | 'check', stderr: string): string {
    if (step === 'venv' && /ensurepip is not\s+available|No module named venv|No module named ensurepip/i.test(stderr)) {
        return 'That Python cannot create virtual environments: on Debian and Ubuntu, install the python3-venv package.';
    }
    if (
        step === 'pip' &&
        /No matching distribution|Could not find a version that satisfies|Failed to establish a new connection|Temporary failure in name resolution|Name or service not known|ProxyError|SSLError|Network is unreachable|Read timed out/i.test(
            stderr,
        )
    ) {
        return "pip could not get the daemon's dependencies from your package index: check the network, proxy and pip configuration (pip.conf, PIP_INDEX_URL).";
    }
    return '';
}

/** The last `n` non-empty lines, for the log. */
export function lastLines(text: string, n: number): string {
    return text
        .split(/\r?\n/)
        .filter((l) => l.trim() !== '')
        .slice(-n)
        .join('\n');
}

export function createdMessage(dir: string, marker: EnvMarker): string {
    return (
        `MicroStax: created a private Python environment for the daemon at ${dir} ` +
        `(${marker.distribution} ${marker.version} bundled with this extension, Python ${marker.pythonVersion}); the daemon runs from it.`
    );
}

export function reusedMessage(dir: string, marker: EnvMarker): string {
    return `Using the private environment at ${dir} (${marker.distribution} ${marker.version}, Python ${marker.pythonVersion}, made ${marker.createdAt}).`;
}

export function lockIsStale(lockMtimeMs: number, nowMs: number): boolean {
    return nowMs - lockMtimeMs > LOCK_STALE_MS;
}
