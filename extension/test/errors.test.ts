import assert from 'node:assert/strict';
import { test } from 'node:test';
import { clearDelayMs, JWT_SHAPE, MAX_TIMER_MS, tokenFromText } from '../src/common/clipboard';
import { ChangeDebouncer } from '../src/common/debounce';
import { isCancellation, presentError, userErrorCode } from '../src/common/errors';
import { redactTokens } from '../src/common/redact';

const userError = (code: string, message: string, action?: string) => Object.assign(new Error(message), { code: -32001, data: { code, message, action } });

test('NOT_SIGNED_IN offers Sign In (warning)', () => {
    const p = presentError(userError('NOT_SIGNED_IN', 'No session for dev.', 'signIn'), 'Federation failed');
    assert.deepEqual(p, { severity: 'warning', message: 'Federation failed: No session for dev.', actions: ['signIn', 'showLogs'], code: 'NOT_SIGNED_IN' });
    assert.equal(userErrorCode(userError('NOT_SIGNED_IN', 'x')), 'NOT_SIGNED_IN');
});

test('login errors offer Sign In even without an action; other actions map to buttons', () => {
    assert.deepEqual(presentError(userError('LOGIN_TIMEOUT', 'expired'), 'Sign-in failed').actions, ['signIn', 'showLogs']);
    assert.deepEqual(presentError(userError('UNKNOWN_ENVIRONMENT', 'no env', 'openSettings'), 'x').actions, ['openSettings', 'showLogs']);
    assert.deepEqual(presentError(userError('IDP_UNAVAILABLE', 'down', 'retry'), 'x').actions, ['retry', 'showLogs']);
    assert.deepEqual(presentError(userError('KEYRING_UNAVAILABLE', 'no keyring', 'showLogs'), 'x').actions, ['showLogs']);
    assert.deepEqual(presentError(userError('EXCHANGE_DENIED', 'policy', 'frobnicate'), 'x').actions, ['showLogs']);
});

test('unexpected errors point at the logs; a dead connection offers a restart', () => {
    const internal = presentError(Object.assign(new Error('Internal error'), { code: -32603 }), 'Federation failed');
    assert.deepEqual(internal, { severity: 'error', message: 'Federation failed: Internal error', actions: ['showLogs'] });
    assert.deepEqual(presentError(new Error('Connection got disposed.'), 'x').actions, ['restartDaemon', 'showLogs']);
    assert.deepEqual(presentError(new Error('The MicroStax daemon is not running.'), 'x').actions, ['restartDaemon', 'showLogs']);
});

test('cancellation is recognised', () => {
    assert.ok(isCancellation(Object.assign(new Error('Request cancelled'), { code: -32800 })));
    assert.ok(!isCancellation(userError('LOGIN_FAILED', 'cancelled by the user')));
    assert.ok(!isCancellation(new Error('boom')));
});

test('tokens are redacted from log text', () => {
    const jwt = 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl';
    const out = redactTokens(`result {"token": "${jwt}", "client_secret": "hunter22", "subject": "alice"}`);
    assert.ok(!out.includes(jwt));
    assert.ok(!out.includes('hunter22'));
    assert.match(out, /eyJ…\[token redacted, \d+ chars\]/);
    assert.match(out, /"subject": "alice"/);
    assert.equal(redactTokens('nothing to see'), 'nothing to see');
});

test('clipboard: clear delay and token extraction', () => {
    assert.equal(clearDelayMs(300, true), 300_000);
    assert.equal(clearDelayMs(300, false), undefined);
    assert.equal(clearDelayMs(undefined, true), undefined);
    assert.equal(clearDelayMs(-5, true), 0);
    assert.equal(clearDelayMs(1e12, true), MAX_TIMER_MS);
    assert.equal(tokenFromText('  Bearer abc.def.ghi \n'), 'abc.def.ghi');
    assert.equal(tokenFromText('"abc.def.ghi"'), 'abc.def.ghi');
    assert.equal(tokenFromText('   '), undefined);
    assert.ok(JWT_SHAPE.test('token: eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ9.sig'));
});

test('debouncer merges changes, restart wins', () => {
    const runs: string[] = [];
    let scheduled: (() => void) | undefined;
    let cancels = 0;
    const d = new ChangeDebouncer(
        100,
        (k) => {
            runs.push(k);
        },
        (fn) => {
            scheduled = fn;
            return 0 as unknown as ReturnType<typeof setTimeout>;
        },
        () => {
            cancels++;
        },
    );
    d.push('update');
    d.push('restart');
    d.push('update');
    d.push('none');
    scheduled?.();
    assert.deepEqual(runs, ['restart']);
    assert.equal(cancels, 2);
    d.push('update');
    scheduled?.();
    assert.deepEqual(runs, ['restart', 'update']);
});

test('daemon stderr lines: logging format by level, anything else as a warning', async () => {
    const { stderrLevel } = await import('../src/common/stderr');
    assert.equal(stderrLevel('2026-11-22 15:45:28,420 INFO microstax.daemon: starting'), 'debug');
    assert.equal(stderrLevel('2026-11-22 15:45:28,420 DEBUG pygls.protocol.json_rpc: Sending data'), 'debug');
    assert.equal(stderrLevel('2026-11-22 15:45:28,420 WARNING microstax.daemon: slow'), 'warn');
    assert.equal(stderrLevel('2026-11-22 15:45:28,420 ERROR microstax.daemon: boom'), 'error');
    assert.equal(stderrLevel('Traceback (most recent call last):'), 'warn');
    assert.equal(stderrLevel('ModuleNotFoundError: No module named microstax'), 'warn');
});

test('an unreachable platform: plain cause, then Retry / Start Local Platform / Show Logs', () => {
    const local = presentError(userError('IDP_UNAVAILABLE', 'dev: cannot read the metadata at http://127.0.0.1:8411: connection refused', 'retry'), 'Sign-in failed');
    assert.deepEqual(local.actions, ['retry', 'startLocalPlatform', 'showLogs']);
    assert.match(local.message, /connection refused\. Is the platform running\?$/);
    const remote = presentError(userError('IDP_UNAVAILABLE', 'cannot reach https://id.example.com (check that it is running?)'), 'x');
    assert.deepEqual(remote.actions, ['retry', 'showLogs']);
    assert.doesNotMatch(remote.message, /Is the platform running/);
});

test('daemon warnings appear once: with LSP logging up, the stderr copy is debug', async () => {
    const { stderrLevel } = await import('../src/common/stderr');
    const line = '2026-11-22 15:45:28,420 WARNING microstax.daemon: identity: bad config';
    assert.equal(stderrLevel(line), 'warn');
    assert.equal(stderrLevel(line, true), 'debug');
    assert.equal(stderrLevel('Traceback (most recent call last):', true), 'warn', 'a crash outside logging still shows');
});

test('a TOML error names the file and line: Open Config File goes there', async () => {
    const { configLocation } = await import('../src/common/errors');
    const msg = '/home/me/.config/microstax/config.toml is not valid TOML: Expected \'=\' after a key (at line 3, column 7)';
    assert.deepEqual(configLocation(msg), { path: '/home/me/.config/microstax/config.toml', line: 3, column: 7 });
    assert.deepEqual(configLocation("the config file /x/c.toml (flag:--config) does not exist"), { path: '/x/c.toml' });
    assert.equal(configLocation('no environment qa'), undefined);
    const p = presentError(userError('CONFIG_INVALID', msg, 'openSettings'), 'Sign-in failed');
    assert.deepEqual(p.actions, ['openConfigFile', 'openSettings', 'showLogs']);
});

test('Verify Token with no issuer to trust offers to pick an environment', async () => {
    const { offersIssuerPick } = await import('../src/common/errors');
    assert.equal(offersIssuerPick(userError('INVALID_TOKEN', "the token names no issuer ('iss'); pass the issuer to verify it against")), true);
    assert.equal(offersIssuerPick(userError('IDP_UNAVAILABLE', 'could not get the keys of https://x')), true);
    assert.equal(offersIssuerPick(userError('INVALID_TOKEN', 'this is not a well-formed JWT: bad base64')), false);
    assert.equal(offersIssuerPick(new Error('boom')), false);
});

test('a bad command argument (-32602 with BAD_REQUEST data) is shown as what it is', () => {
    const bad = Object.assign(new Error('target: expected a cluster name'), {
        code: -32602, data: { code: 'BAD_REQUEST', message: 'target: expected a cluster name' } });
    const p = presentError(bad, 'Federation failed');
    assert.equal(p.message, 'Federation failed: target: expected a cluster name');
    assert.equal(p.code, 'BAD_REQUEST');
    // -32602 without our data stays a generic failure
    const plain = presentError(Object.assign(new Error('Invalid params'), { code: -32602 }), 'x');
    assert.equal(plain.code, undefined);
});
