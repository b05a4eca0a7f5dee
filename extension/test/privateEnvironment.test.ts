/**
 * Making the private environment (src/node/privateEnvironment.ts): in a temporary folder with a
 * fake runner standing in for python/pip, and, when MICROSTAX_REAL_PRIVATE_ENV_BUNDLED is set (a
 * folder holding the wheel, e.g. `bundled/` taken out of the .vsix), for real: a venv, pip
 * installing the wheel and its dependencies, `<venv>/bin/python -m microstax --version`.
 * tests/e2e/vscode/test_private_environment.py runs the real one with the packaged wheel.
 */
import assert from 'node:assert/strict';
import { promises as fs, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { baseCandidates, ENV_DIR, LOCK_DIR, LOCK_STALE_MS, MARKER_FILE, parseMarker, PYTHON_VERSION_ARGS, serializeMarker } from '../src/common/privateEnv';
import { ensurePrivateEnvironment, type PrivateEnvOptions } from '../src/node/privateEnvironment';
import { run, type Runner, which } from '../src/node/process';

const WHEEL = 'microstax-0.1.0-py3-none-any.whl';

interface Fake {
    runner: Runner;
    calls: string[];
    /** Overrides by step: exit code and stderr. */
    fail: Partial<Record<'venv' | 'pip' | 'check', { code: number; stderr: string }>>;
}

/** python/pip stand-ins: `-m venv` makes `<dir>/bin/python`, pip succeeds, `--version` answers. */
function fakeRunner(versions: Record<string, string>, installedVersion = () => '0.1.0'): Fake {
    const fake: Fake = { calls: [], fail: {}, runner: async () => ({ code: 0, stdout: '', stderr: '' }) };
    fake.runner = async (command, args) => {
        if (args.join(' ') === PYTHON_VERSION_ARGS.join(' ')) {
            fake.calls.push(`version ${command}`);
            return versions[command] ? { code: 0, stdout: `${versions[command]}\n`, stderr: '' } : { code: 1, stdout: '', stderr: 'not found' };
        }
        const step = args[1] === 'venv' ? 'venv' : args[1] === 'pip' ? 'pip' : 'check';
        fake.calls.push(`${step} ${command} ${args.slice(2).join(' ')}`.trim());
        const failure = fake.fail[step];
        if (failure) {
            return { code: failure.code, stdout: '', stderr: failure.stderr };
        }
        if (step === 'venv') {
            const dir = args[3];
            await fs.rm(dir, { recursive: true, force: true });
            await fs.mkdir(path.join(dir, 'bin'), { recursive: true });
            await fs.writeFile(path.join(dir, 'bin', 'python'), '#!/bin/sh\n', { mode: 0o755 });
            return { code: 0, stdout: '', stderr: '' };
        }
        if (step === 'pip') {
            return { code: 0, stdout: 'Processing ./microstax-0.1.0-py3-none-any.whl\nSuccessfully installed microstax-0.1.0 pygls-2.1.0\n', stderr: '' };
        }
        return { code: 0, stdout: `microstax, version ${installedVersion()}\n`, stderr: '' };
    };
    return fake;
}

const roots: string[] = [];
after(() => Promise.all(roots.map((r) => fs.rm(r, { recursive: true, force: true }))));

async function setup(wheels: string[] = [WHEEL]) {
    const root = mkdtempSync(path.join(tmpdir(), 'msx-privenv-'));
    roots.push(root);
    const bundledDir = path.join(root, 'extension', 'bundled');
    await fs.mkdir(bundledDir, { recursive: true });
    for (const w of wheels) {
        await fs.writeFile(path.join(bundledDir, w), 'PK');
    }
    const storageDir = path.join(root, 'storage');
    const logs: string[] = [];
    const options = (fake: Fake, over: Partial<PrivateEnvOptions> = {}): PrivateEnvOptions => ({
        storageDir,
        bundledDir,
        module: 'microstax',
        minPython: '3.11',
        pythonSetting: 'microstax.python',
        candidates: async () => ['/usr/bin/python3', '/usr/bin/python'],
        log: (m) => logs.push(m),
        run: fake.runner,
        platform: 'linux',
        env: { PATH: '/bin', PIP_USER: '1' },
        ...over,
    });
    const envDir = path.join(storageDir, ENV_DIR);
    const marker = async () => parseMarker(await fs.readFile(path.join(envDir, MARKER_FILE), 'utf8').catch(() => undefined));
    return { root, bundledDir, storageDir, envDir, logs, options, marker };
}

test('first start makes the environment from the bundled wheel, with progress; the next start re-uses it', async () => {
    const s = await setup();
    const fake = fakeRunner({ '/usr/bin/python3': '3.10.12', '/usr/bin/python': '3.12.3' });
    const steps: string[] = [];
    const withProgress: PrivateEnvOptions['withProgress'] = (title, task) => {
        steps.push(title);
        return task((step) => steps.push(step));
    };
    const r = await ensurePrivateEnvironment(s.options(fake, { withProgress }));
    const python = path.join(s.envDir, 'bin', 'python');
    assert.deepEqual([r.python, r.dir, r.created], [python, s.envDir, true]);
    assert.deepEqual(fake.calls, [
        'version /usr/bin/python3',
        'version /usr/bin/python',
        `venv /usr/bin/python --clear ${s.envDir}`,
        `pip ${python} install --disable-pip-version-check --no-input --progress-bar off ${path.join(s.bundledDir, WHEEL)}`,
        `check ${python} --version`,
    ]);
    assert.deepEqual(steps, [
        'MicroStax: creating a private Python environment for the daemon',
        'looking for Python',
        'creating the virtual environment',
        'installing microstax 0.1.0 and its dependencies',
    ]);
    const m = await s.marker();
    assert.deepEqual(
        [m?.distribution, m?.version, m?.wheel, m?.basePython, m?.pythonVersion],
        ['microstax', '0.1.0', WHEEL, '/usr/bin/python', '3.12.3'],
    );
    assert.deepEqual(r.marker, m);
    assert.ok(s.logs.some((l) => l.includes('there is none yet')));
    assert.ok(s.logs.some((l) => l.startsWith('Successfully installed microstax-0.1.0')));
    await assert.rejects(fs.stat(path.join(s.storageDir, LOCK_DIR)), 'the lock is released');

    const again = fakeRunner({});
    const r2 = await ensurePrivateEnvironment(s.options(again));
    assert.deepEqual([r2.python, r2.created], [python, false]);
    assert.deepEqual(again.calls, [], 'nothing runs when the environment is current');
    assert.match(s.logs.at(-1) ?? '', /^Using the private environment at .*\(microstax 0\.1\.0, Python 3\.12\.3/);
});

test('a new bundled version makes the environment again', async () => {
    const s = await setup();
    await ensurePrivateEnvironment(s.options(fakeRunner({ '/usr/bin/python3': '3.12.3' })));
    await fs.rename(path.join(s.bundledDir, WHEEL), path.join(s.bundledDir, 'microstax-0.2.0-py3-none-any.whl'));
    const fake = fakeRunner({ '/usr/bin/python3': '3.12.3' }, () => '0.2.0');
    const r = await ensurePrivateEnvironment(s.options(fake));
    assert.equal(r.created, true);
    assert.equal((await s.marker())?.version, '0.2.0');
    assert.ok(fake.calls.some((c) => c.startsWith('venv ')));
    assert.ok(s.logs.some((l) => l.includes('it holds microstax 0.1.0; this extension bundles 0.2.0')));
});

test('a failed install leaves no marker, says why, and the next start makes it again', async () => {
    const s = await setup();
    const fake = fakeRunner({ '/usr/bin/python3': '3.12.3' });
    fake.fail.pip = { code: 1, stderr: 'ERROR: Could not find a version that satisfies the requirement pygls<3,>=2.1' };
    await assert.rejects(ensurePrivateEnvironment(s.options(fake)), /Could not install microstax-0\.1\.0-py3-none-any\.whl .*package index/);
    assert.equal(await s.marker(), undefined);
    assert.ok(s.logs.some((l) => l.includes('Could not find a version')), 'pip says why in the log');
    await assert.rejects(fs.stat(path.join(s.storageDir, LOCK_DIR)), 'the lock is released after a failure too');

    const ok = fakeRunner({ '/usr/bin/python3': '3.12.3' });
    assert.equal((await ensurePrivateEnvironment(s.options(ok))).created, true);
    assert.ok(s.logs.some((l) => l.includes('the last attempt to make it did not finish')));
});

test('a wrong version answer is a failure, not a marker', async () => {
    const s = await setup();
    await assert.rejects(ensurePrivateEnvironment(s.options(fakeRunner({ '/usr/bin/python3': '3.12.3' }, () => '0.0.1'))), /does not answer `microstax --version` with 0\.1\.0/);
    assert.equal(await s.marker(), undefined);
});

test('no venv module: the hint names python3-venv', async () => {
    const s = await setup();
    const fake = fakeRunner({ '/usr/bin/python3': '3.12.3' });
    fake.fail.venv = { code: 1, stderr: 'The virtual environment was not created successfully because ensurepip is not\navailable.' };
    await assert.rejects(ensurePrivateEnvironment(s.options(fake)), /python -m venv failed\)\. .*python3-venv/);
});

test('no Python new enough, no bundled wheel: errors that say what to do', async () => {
    const s = await setup();
    const fake = fakeRunner({ '/usr/bin/python3': '3.9.2' });
    await assert.rejects(ensurePrivateEnvironment(s.options(fake)), /No Python 3\.11 or newer .*\/usr\/bin\/python3 \(3\.9\.2\).*microstax\.python/);
    assert.deepEqual(fake.calls, ['version /usr/bin/python3', 'version /usr/bin/python']);

    const empty = await setup([]);
    await assert.rejects(ensurePrivateEnvironment(empty.options(fakeRunner({}))), /No microstax wheel is bundled .*microstax\.python/);
});

test('another window making it: wait for its lock, then re-use what it made', async () => {
    const s = await setup();
    const lock = path.join(s.storageDir, LOCK_DIR);
    await fs.mkdir(lock, { recursive: true });
    // The other window finishes after a moment: the environment, its marker, then the lock released.
    const other = (async () => {
        await new Promise((r) => setTimeout(r, 300));
        await fs.mkdir(path.join(s.envDir, 'bin'), { recursive: true });
        await fs.writeFile(path.join(s.envDir, 'bin', 'python'), '#!/bin/sh\n', { mode: 0o755 });
        const marker = { format: 1, distribution: 'microstax', version: '0.1.0', wheel: WHEEL, basePython: '/usr/bin/python3', pythonVersion: '3.12.3', createdAt: 'x' };
        await fs.writeFile(path.join(s.envDir, MARKER_FILE), serializeMarker(marker));
        await fs.rm(lock, { recursive: true });
    })();
    const mine = fakeRunner({ '/usr/bin/python3': '3.12.3' });
    const [r] = await Promise.all([ensurePrivateEnvironment(s.options(mine)), other]);
    assert.ok(s.logs.includes('Another window is making the private environment; waiting for it.'));
    assert.deepEqual([r.python, r.created], [path.join(s.envDir, 'bin', 'python'), false]);
    assert.deepEqual(mine.calls, [], 'nothing made twice');
});

test('a stale lock (a window that died while making it) is taken over', async () => {
    const s = await setup();
    const lock = path.join(s.storageDir, LOCK_DIR);
    await fs.mkdir(lock, { recursive: true });
    const old = new Date(Date.now() - LOCK_STALE_MS - 60_000);
    await fs.utimes(lock, old, old);
    const r = await ensurePrivateEnvironment(s.options(fakeRunner({ '/usr/bin/python3': '3.12.3' })));
    assert.equal(r.created, true);
    assert.ok(s.logs.some((l) => l.startsWith('Removing a stale lock')));
});
