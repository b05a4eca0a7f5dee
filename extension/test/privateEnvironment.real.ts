// The extension's private environment for real: a venv made from the bundled wheel, exactly as
// the extension makes it. Not part of `npm test` (it needs the packaged wheel and the package
// index); tests/e2e/vscode/test_private_environment.py runs it with the wheel from the .vsix.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { baseCandidates } from '../src/common/privateEnv';
import { ensurePrivateEnvironment, type PrivateEnvOptions } from '../src/node/privateEnvironment';
import { run, which } from '../src/node/process';

const roots: string[] = [];
after(() => {
    for (const root of roots) rmSync(root, { recursive: true, force: true });
});

const REAL_BUNDLED = process.env.MICROSTAX_REAL_PRIVATE_ENV_BUNDLED;
assert.ok(REAL_BUNDLED, 'set MICROSTAX_REAL_PRIVATE_ENV_BUNDLED to a folder holding the bundled wheel');

test(
    'for real: a venv from the bundled wheel answers `-m microstax --version`, and is re-used',
    { timeout: 15 * 60_000 },
    async () => {
        const bundledDir = path.resolve(REAL_BUNDLED as string);
        let storageDir = process.env.MICROSTAX_REAL_PRIVATE_ENV_STORAGE;
        if (!storageDir) {
            storageDir = mkdtempSync(path.join(tmpdir(), 'msx-privenv-real-'));
            roots.push(storageDir);
        }
        const logs: string[] = [];
        const options: PrivateEnvOptions = {
            storageDir,
            bundledDir,
            module: 'microstax',
            minPython: '3.11',
            pythonSetting: 'microstax.python',
            // As the extension does, without the Python extension.
            candidates: async () => baseCandidates({ python3: await which('python3'), python: await which('python') }),
            log: (m) => {
                logs.push(m);
                console.log(`[private env] ${m}`);
            },
        };
        const made = await ensurePrivateEnvironment(options);
        assert.equal(made.created, true, 'a fresh storage folder gets a new environment');
        const answer = await run(made.python, ['-m', 'microstax', '--version'], { timeoutMs: 60_000 });
        assert.equal(answer.code, 0, answer.stderr);
        assert.ok(answer.stdout.includes(made.marker.version), answer.stdout);
        console.log(`[private env] ${made.python} -m microstax --version: ${answer.stdout.trim()}`);

        const again = await ensurePrivateEnvironment(options);
        assert.deepEqual([again.created, again.python], [false, made.python]);
    },
);
