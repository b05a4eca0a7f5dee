import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadServerInfo } from '../src/common/identity';
import { DiscoveryError, discoverDaemon, type DiscoveryProbes } from '../src/common/interpreter';
import { readSettings } from '../src/common/settings';

const info = loadServerInfo({ publisher: 'microstax', name: 'microstax-identity', serverInfo: { module: 'microstax', daemonArgs: ['daemon'] } });
const settings = (values: Record<string, unknown> = {}) => readSettings((k) => values[k], { userHome: '/h' }).settings;

function probes(opts: { ext?: string; withModule?: string[]; onPath?: Record<string, string> } = {}): DiscoveryProbes & { calls: string[] } {
    const calls: string[] = [];
    return {
        calls,
        pythonExtensionInterpreter: async () => {
            calls.push('ext');
            return opts.ext;
        },
        hasModule: async (python) => {
            calls.push(`has:${python}`);
            return (opts.withModule ?? []).includes(python);
        },
        which: async (name) => {
            calls.push(`which:${name}`);
            return opts.onPath?.[name];
        },
        privateEnvironment: async () => {
            calls.push('private');
            return '/storage/python-env/bin/python';
        },
        log: () => undefined,
    };
}

test('1. daemonCommand wins, untouched, without probing', async () => {
    const p = probes();
    const l = await discoverDaemon(settings({ daemonCommand: ['/opt/ms/bin/microstax', 'daemon', '--x'], python: '/py' }), info, p);
    assert.deepEqual([l.command, l.args, l.source], ['/opt/ms/bin/microstax', ['daemon', '--x'], 'setting:daemonCommand']);
    assert.deepEqual(p.calls, []);
});

test('2. microstax.python runs -m microstax daemon', async () => {
    const l = await discoverDaemon(settings({ python: '/venv/bin/python' }), info, probes({ withModule: ['/venv/bin/python'], ext: '/ext/python' }));
    assert.deepEqual([l.command, l.args, l.source], ['/venv/bin/python', ['-m', 'microstax', 'daemon'], 'setting:python']);
});

test('2. microstax.python without the package is an error naming the setting', async () => {
    await assert.rejects(
        discoverDaemon(settings({ python: '/usr/bin/python3' }), info, probes({ withModule: ['/ext/python'], ext: '/ext/python' })),
        (err: unknown) => err instanceof DiscoveryError && err.setting === 'microstax.python' && /cannot import/.test(err.message),
    );
});

test("3. the Python extension's interpreter, when it has the package", async () => {
    const l = await discoverDaemon(settings(), info, probes({ ext: '/ext/python', withModule: ['/ext/python', '/usr/bin/python3'] }));
    assert.equal(l.command, '/ext/python');
    assert.equal(l.source, 'pythonExtension');
});

test("4. python3 on PATH when the Python extension's interpreter lacks the package", async () => {
    const p = probes({ ext: '/ext/python', withModule: ['/usr/bin/python3'], onPath: { python3: '/usr/bin/python3' } });
    const l = await discoverDaemon(settings(), info, p);
    assert.deepEqual([l.command, l.source], ['/usr/bin/python3', 'path:python']);
    assert.deepEqual(p.calls, ['ext', 'has:/ext/python', 'which:python3', 'has:/usr/bin/python3']);
});

test('5. the console script when no Python has the package', async () => {
    const p = probes({ onPath: { python3: '/usr/bin/python3', microstax: '/usr/local/bin/microstax' } });
    const l = await discoverDaemon(settings(), info, p);
    assert.deepEqual([l.command, l.args, l.source], ['/usr/local/bin/microstax', ['daemon'], 'path:consoleScript']);
});

test('6. a private environment as the last resort', async () => {
    const p = probes({ onPath: { python3: '/usr/bin/python3' } });
    const l = await discoverDaemon(settings(), info, p);
    assert.deepEqual([l.command, l.args, l.source], ['/storage/python-env/bin/python', ['-m', 'microstax', 'daemon'], 'privateEnvironment']);
    assert.equal(p.calls.at(-1), 'private');
});

test('Start Local Platform runs microstax platform serve the way the daemon runs', async () => {
    const { platformServeCommand } = await import('../src/common/interpreter');
    const py = { command: '/venv/bin/python', args: ['-m', 'microstax', 'daemon'], source: 'setting:python' as const, detail: '' };
    assert.deepEqual(platformServeCommand(py, ['daemon']), { command: '/venv/bin/python', args: ['-m', 'microstax', 'platform', 'serve'] });
    const script = { command: '/opt/microstax/bin/microstax', args: ['daemon'], source: 'setting:daemonCommand' as const, detail: '' };
    assert.deepEqual(platformServeCommand(script, ['daemon']), { command: '/opt/microstax/bin/microstax', args: ['platform', 'serve'] });
    const custom = { command: '/usr/bin/env', args: ['my-wrapper'], source: 'setting:daemonCommand' as const, detail: '' };
    assert.equal(platformServeCommand(custom, ['daemon']), undefined, 'not ours to guess: the terminal gets the plain command');
    assert.equal(platformServeCommand(undefined, ['daemon']), undefined);
});

test('2. microstax.python naming no file says so, naming the setting', async () => {
    const p = { ...probes(), exists: async (f: string) => f === '/usr/bin/python3' };
    await assert.rejects(
        discoverDaemon(settings({ python: '/nope/python3' }), info, p),
        (err: unknown) => err instanceof DiscoveryError && err.setting === 'microstax.python' && /\(\/nope\/python3\) does not exist/.test(err.message),
    );
    await assert.rejects(
        discoverDaemon(settings({ python: '/usr/bin/python3' }), info, p),
        (err: unknown) => err instanceof DiscoveryError && /cannot import/.test(err.message),
        'an existing file without the package: the other message',
    );
});
