/** The private environment's decisions (src/common/privateEnv.ts). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
    baseCandidates,
    chooseBasePython,
    compareVersions,
    type EnvMarker,
    failureHint,
    LOCK_STALE_MS,
    lockIsStale,
    meetsMinimum,
    parseMarker,
    parsePythonVersion,
    parseWheelName,
    pickBundledWheel,
    pipEnvironment,
    pipInstallCommand,
    planPrivateEnvironment,
    serializeMarker,
    venvCommand,
    venvPython,
    versionAnswerMatches,
    versionCommand,
} from '../src/common/privateEnv';

const WHEEL = 'microstax-0.1.0-py3-none-any.whl';
const wheel = parseWheelName(WHEEL)!;
const marker = (over: Partial<EnvMarker> = {}): EnvMarker => ({
    format: 1,
    distribution: 'microstax',
    version: '0.1.0',
    wheel: WHEEL,
    basePython: '/usr/bin/python3',
    pythonVersion: '3.12.3',
    createdAt: '2030-01-01T00:00:00.000Z',
    ...over,
});

test('wheel file names (PEP 427)', () => {
    assert.deepEqual(parseWheelName(WHEEL), { file: WHEEL, distribution: 'microstax', version: '0.1.0' });
    assert.deepEqual(parseWheelName('micro_stax-1.2.3rc1-1-py3-none-any.whl'), {
        file: 'micro_stax-1.2.3rc1-1-py3-none-any.whl',
        distribution: 'micro_stax',
        version: '1.2.3rc1',
    });
    assert.equal(parseWheelName('microstax-0.1.0.tar.gz'), undefined);
    assert.equal(parseWheelName('microstax-0.1.0-py3-none.whl'), undefined);
    assert.equal(parseWheelName('.gitkeep'), undefined);
});

test('the bundled wheel: of the distribution, the newest when there are several', () => {
    assert.deepEqual(pickBundledWheel(['README', WHEEL, 'other-9.0-py3-none-any.whl'], 'microstax'), wheel);
    assert.equal(pickBundledWheel(['microstax-0.9.1-py3-none-any.whl', 'microstax-0.10.0-py3-none-any.whl'], 'microstax')?.version, '0.10.0');
    assert.equal(pickBundledWheel(['Micro_Stax-1.0-py3-none-any.whl'], 'micro-stax')?.version, '1.0');
    assert.equal(pickBundledWheel([], 'microstax'), undefined);
    assert.equal(pickBundledWheel(['other-1.0-py3-none-any.whl'], 'microstax'), undefined);
    assert.equal(compareVersions('0.10.0', '0.9.1'), 1);
    assert.equal(compareVersions('1.0', '1.0.0'), 0);
    assert.equal(compareVersions('1.0.0', '1.0.1'), -1);
});

test('the marker: round trip; anything else is no marker', () => {
    assert.deepEqual(parseMarker(serializeMarker(marker())), marker());
    for (const bad of [undefined, '', 'not json', 'null', '[]', '{"format":2}', JSON.stringify({ ...marker(), format: 2 }), JSON.stringify({ ...marker(), version: 1 })]) {
        assert.equal(parseMarker(bad), undefined, String(bad));
    }
});

test('plan: re-use only a finished environment holding the bundled version', () => {
    assert.deepEqual(planPrivateEnvironment({ wheel, marker: marker(), pythonExists: true }), { action: 'reuse', marker: marker() });
    const reasons = [
        [undefined, false, 'there is none yet'],
        [undefined, true, 'the last attempt to make it did not finish'],
        [marker({ version: '0.0.9' }), true, 'it holds microstax 0.0.9; this extension bundles 0.1.0'],
        [marker({ distribution: 'other' }), true, 'it holds other, not microstax'],
        [marker(), false, 'its Python is gone'],
    ] as const;
    for (const [m, exists, reason] of reasons) {
        assert.deepEqual(planPrivateEnvironment({ wheel, marker: m, pythonExists: exists }), { action: 'create', reason });
    }
});

test('Python versions and the minimum', () => {
    assert.deepEqual(parsePythonVersion('3.11.7\n'), [3, 11, 7]);
    assert.deepEqual(parsePythonVersion('Python 3.13'), [3, 13, 0]);
    assert.equal(parsePythonVersion('garbage'), undefined);
    assert.equal(meetsMinimum([3, 11, 0], '3.11'), true);
    assert.equal(meetsMinimum([3, 12, 1], '3.11'), true);
    assert.equal(meetsMinimum([4, 0, 0], '3.11'), true);
    assert.equal(meetsMinimum([3, 10, 14], '3.11'), false);
    assert.equal(meetsMinimum([2, 7, 18], '3.11'), false);
});

test('base Pythons: python3, python, then the Python extension, once each; the first new enough', () => {
    assert.deepEqual(baseCandidates({ python3: '/usr/bin/python3', python: '/usr/bin/python' }, '/ws/.venv/bin/python'), [
        '/usr/bin/python3',
        '/usr/bin/python',
        '/ws/.venv/bin/python',
    ]);
    assert.deepEqual(baseCandidates({ python3: '/usr/bin/python3', python: '/usr/bin/python3' }), ['/usr/bin/python3']);
    assert.deepEqual(baseCandidates({}), []);
    const probed = [
        { path: '/usr/bin/python3', version: [3, 9, 2] as [number, number, number] },
        { path: '/usr/bin/python' },
        { path: '/opt/py/bin/python3.12', version: [3, 12, 0] as [number, number, number] },
    ];
    assert.deepEqual(chooseBasePython(probed, '3.11', 'microstax.python'), { python: '/opt/py/bin/python3.12', version: [3, 12, 0] });
    const none = chooseBasePython(probed.slice(0, 2), '3.11', 'microstax.python');
    assert.ok('error' in none);
    assert.match(none.error, /No Python 3\.11 or newer.*found \/usr\/bin\/python3 \(3\.9\.2\), \/usr\/bin\/python \(did not run\)\. .*microstax\.python/);
    const nothing = chooseBasePython([], '3.11', 'microstax.python');
    assert.ok('error' in nothing && /python3 or python on PATH/.test(nothing.error));
});

test('command lines: venv, pip install of the wheel, the version check', () => {
    assert.equal(venvPython('/s/python-env', 'linux'), '/s/python-env/bin/python');
    assert.equal(venvPython('C:\\s\\python-env', 'win32'), 'C:\\s\\python-env\\Scripts\\python.exe');
    assert.deepEqual(venvCommand('/usr/bin/python3', '/s/python-env'), { command: '/usr/bin/python3', args: ['-m', 'venv', '--clear', '/s/python-env'] });
    assert.deepEqual(pipInstallCommand('/s/python-env/bin/python', `/ext/bundled/${WHEEL}`), {
        command: '/s/python-env/bin/python',
        args: ['-m', 'pip', 'install', '--disable-pip-version-check', '--no-input', '--progress-bar', 'off', `/ext/bundled/${WHEEL}`],
    });
    assert.deepEqual(versionCommand('/s/python-env/bin/python', 'microstax'), { command: '/s/python-env/bin/python', args: ['-m', 'microstax', '--version'] });
    assert.equal(versionAnswerMatches('microstax, version 0.1.0\n', '0.1.0'), true);
    assert.equal(versionAnswerMatches('microstax v0.1.0', '0.1.0'), true);
    assert.equal(versionAnswerMatches('microstax, version 10.1.0', '0.1.0'), false);
    assert.equal(versionAnswerMatches('microstax, version 0.1.01', '0.1.0'), false);
    assert.equal(versionAnswerMatches('', '0.1.0'), false);
});

test("pip's environment: the user's index settings stay, installs elsewhere than the venv do not", () => {
    const env = pipEnvironment({ PATH: '/bin', PIP_INDEX_URL: 'https://mirror.internal/simple', PIP_USER: '1', PIP_TARGET: '/t', PYTHONPATH: '/x', PYTHONHOME: '/y' });
    assert.deepEqual(env, { PATH: '/bin', PIP_INDEX_URL: 'https://mirror.internal/simple', PIP_USER: '0' });
});

test('failure hints', () => {
    assert.match(failureHint('venv', 'The virtual environment was not created successfully because ensurepip is not\navailable.'), /python3-venv/);
    assert.match(failureHint('pip', 'ERROR: Could not find a version that satisfies the requirement pygls<3,>=2.1'), /package index/);
    assert.match(failureHint('pip', "Failed to establish a new connection: [Errno -3] Temporary failure in name resolution"), /network, proxy/);
    assert.equal(failureHint('pip', 'ERROR: something else'), '');
    assert.equal(failureHint('venv', 'Error: [Errno 13] Permission denied'), '');
});

test('a lock is stale after LOCK_STALE_MS', () => {
    assert.equal(lockIsStale(0, LOCK_STALE_MS), false);
    assert.equal(lockIsStale(0, LOCK_STALE_MS + 1), true);
});
