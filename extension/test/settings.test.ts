import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { classifyChange, expandVariables, readSettings, toInitializationOptions, environmentArg } from '../src/common/settings';

const vars = { workspaceFolder: '/ws', userHome: '/home/u', env: { MSX: '/opt/msx' } };
const getter = (values: Record<string, unknown>) => (k: string) => values[k];

test('defaults when nothing is set', () => {
    const { settings, problems } = readSettings(getter({}), vars);
    assert.deepEqual(problems, []);
    assert.deepEqual(settings, {
        python: '',
        daemonCommand: [],
        environment: '',
        configFile: '',
        logLevel: 'info',
        diagnosticsEnabled: true,
        hoverEnabled: true,
        clearClipboardOnExpiry: true,
    });
    assert.deepEqual(toInitializationOptions(settings), { logLevel: 'info', diagnostics: true, hover: true });
});

test('values become initialization options in the protocol shape', () => {
    const { settings } = readSettings(
        getter({
            python: '${workspaceFolder}/.venv/bin/python',
            configFile: '~/microstax/config.toml',
            environment: ' dev ',
            logLevel: 'debug',
            'diagnostics.enabled': false,
            'hover.enabled': false,
            'clipboard.clearOnExpiry': false,
        }),
        vars,
    );
    assert.equal(settings.python, '/ws/.venv/bin/python');
    assert.equal(settings.clearClipboardOnExpiry, false);
    assert.deepEqual(toInitializationOptions(settings), {
        configFile: '/home/u/microstax/config.toml',
        environment: 'dev',
        logLevel: 'debug',
        diagnostics: false,
        hover: false,
    });
    assert.deepEqual(environmentArg(settings), { environment: 'dev' });
    assert.deepEqual(environmentArg(settings, 'prod'), { environment: 'prod' });
});

test('the daemon reads exactly the settings the extension sends (daemon/settings.py _FIELDS)', () => {
    // out/test/settings.test.js → ../../../server/…: the daemon's one list of accepted keys
    const daemon = readFileSync(join(__dirname, '..', '..', '..', 'server', 'microstax', 'daemon', 'settings.py'), 'utf8');
    const block = /^_FIELDS = \{([\s\S]*?)^\}/m.exec(daemon)?.[1] ?? '';
    const accepted = [...block.matchAll(/^\s+"(\w+)":/gm)].map((m) => m[1]).sort();
    const { settings } = readSettings(getter({ configFile: '/c.toml', environment: 'dev' }), vars);
    assert.deepEqual(Object.keys(toInitializationOptions(settings)).sort(), accepted);
});

test('bad values fall back to defaults and are reported', () => {
    const { settings, problems } = readSettings(getter({ logLevel: 'loud', 'hover.enabled': 'yes', daemonCommand: [1, 2], python: 3 }), vars);
    assert.equal(settings.logLevel, 'info');
    assert.equal(settings.hoverEnabled, true);
    assert.deepEqual(settings.daemonCommand, []);
    assert.equal(settings.python, '');
    assert.deepEqual(
        problems.map((p) => p.key).sort(),
        ['daemonCommand', 'hover.enabled', 'logLevel', 'python'],
    );
});

test('daemonCommand: array used as is (first element expanded), string split on spaces', () => {
    assert.deepEqual(readSettings(getter({ daemonCommand: ['${env:MSX}/bin/microstax', 'daemon', ''] }), vars).settings.daemonCommand, [
        '/opt/msx/bin/microstax',
        'daemon',
    ]);
    assert.deepEqual(readSettings(getter({ daemonCommand: ' microstax  daemon ' }), vars).settings.daemonCommand, ['microstax', 'daemon']);
});

test('expandVariables leaves unknown and unavailable variables alone', () => {
    assert.equal(expandVariables('${workspaceFolder}/x', { userHome: '/h' }), '${workspaceFolder}/x');
    assert.equal(expandVariables('${foo}/x', vars), '${foo}/x');
    assert.equal(expandVariables('~', vars), '/home/u');
    assert.equal(expandVariables('~user/x', vars), '~user/x');
});

test('what a change needs: restart for what runs, update for the rest', () => {
    const affects = (...keys: string[]) => (k: string) => keys.includes(k);
    assert.equal(classifyChange('microstax', affects('microstax.python')), 'restart');
    assert.equal(classifyChange('microstax', affects('microstax.daemonCommand')), 'restart');
    assert.equal(classifyChange('microstax', affects('microstax.configFile', 'microstax.logLevel')), 'restart');
    assert.equal(classifyChange('microstax', affects('microstax.logLevel')), 'update');
    assert.equal(classifyChange('microstax', affects('microstax.hover.enabled')), 'update');
    assert.equal(classifyChange('microstax', affects('microstax.clipboard.clearOnExpiry')), 'none');
    assert.equal(classifyChange('microstax', affects('editor.fontSize')), 'none');
});
