import assert from 'node:assert/strict';
import { test } from 'node:test';
import { presentError } from '../src/common/errors';
import { BACK, type Back, type PickStep } from '../src/common/federateFlow';
import {
    chooseVerifyKeys,
    JWKS_FILE_LABEL,
    jwksPathOf,
    keysPhrase,
    type PickedFile,
    type VerifyKeysUI,
    verifyParams,
} from '../src/common/verifyFlow';
import { envs } from './fixtures';

type PickAnswer = string | typeof BACK | undefined;

/** A UI that answers picks and file dialogs from scripts and records what it was shown. */
function scriptedUI(picks: PickAnswer[], files: (PickedFile | undefined)[] = []) {
    const shown: { labels: string[]; details: (string | undefined)[]; placeholder: string; back: boolean }[] = [];
    const warnings: string[] = [];
    let dialogs = 0;
    const ui: VerifyKeysUI = {
        async pick<T>(step: PickStep<T>): Promise<T | Back | undefined> {
            const items = await step.items;
            shown.push({ labels: items.map((i) => i.label), details: items.map((i) => i.detail), placeholder: step.placeholder, back: step.canGoBack });
            const a = picks.shift();
            if (a === undefined || a === BACK) {
                return a as Back | undefined;
            }
            const hit = items.find((i) => i.label === a);
            assert.ok(hit, `no item "${a}" in ${items.map((i) => i.label).join(', ')}`);
            return hit.value;
        },
        async pickJwksFile() {
            dialogs += 1;
            return files.shift();
        },
        warn: (message) => void warnings.push(message),
    };
    return { ui, shown, warnings, dialogs: () => dialogs };
}

const daemon = { listEnvironments: async () => envs };
const file = (fsPath: string, scheme = 'file'): PickedFile => ({ scheme, fsPath });

test('the choice offers every environment, then "Pick a JWKS file…"', async () => {
    const s = scriptedUI(['prod']);
    assert.deepEqual(await chooseVerifyKeys(s.ui, daemon), { environment: 'prod', issuer: 'https://id.prod.example' });
    assert.deepEqual(s.shown[0].labels, ['prod', 'dev', JWKS_FILE_LABEL]);
    assert.equal(s.shown[0].details[0], 'The keys of https://id.prod.example');
    assert.match(s.shown[0].placeholder, /JWKS file/);
    assert.equal(s.shown[0].back, false);
    assert.equal(s.dialogs(), 0, 'no file dialog for an environment');
});

test('a picked JWKS file becomes the jwks argument (its absolute path)', async () => {
    const s = scriptedUI([JWKS_FILE_LABEL], [file('/home/dev/keys/jwks.json')]);
    const keys = await chooseVerifyKeys(s.ui, daemon);
    assert.deepEqual(keys, { jwks: '/home/dev/keys/jwks.json' });
    assert.deepEqual(verifyParams('t.o.k', keys), { token: 't.o.k', jwks: '/home/dev/keys/jwks.json' });
    assert.equal(keysPhrase(keys), ' against the keys in jwks.json');
});

test('a dismissed file dialog goes back to the choice; a dismissed choice gives up', async () => {
    const s = scriptedUI([JWKS_FILE_LABEL, 'dev'], [undefined]);
    assert.deepEqual(await chooseVerifyKeys(s.ui, daemon), { environment: 'dev', issuer: 'http://127.0.0.1:8000' });
    assert.equal(s.shown.length, 2);
    assert.equal(s.dialogs(), 1);

    const gone = scriptedUI([undefined]);
    assert.equal(await chooseVerifyKeys(gone.ui, daemon), undefined);
    assert.equal(gone.dialogs(), 0);
});

test('a file the daemon cannot read (not on its machine) is refused with a reason, and the choice shows again', async () => {
    assert.deepEqual(jwksPathOf(file('/k.json')), { path: '/k.json' });
    assert.match((jwksPathOf(file('/k.json', 'vscode-vfs')) as { problem: string }).problem, /vscode-vfs: files cannot be used/);
    const s = scriptedUI([JWKS_FILE_LABEL, JWKS_FILE_LABEL], [file('/remote/k.json', 'vscode-vfs'), file('/tmp/k.json')]);
    assert.deepEqual(await chooseVerifyKeys(s.ui, daemon), { jwks: '/tmp/k.json' });
    assert.equal(s.warnings.length, 1);
    assert.equal(s.shown.length, 2);
});

test('environments that cannot be listed leave the JWKS file choice (offline verification still works)', async () => {
    const broken = { listEnvironments: async () => Promise.reject(new Error('config.toml: bad TOML')) };
    const s = scriptedUI([JWKS_FILE_LABEL], [file('/tmp/jwks.json')]);
    assert.deepEqual(await chooseVerifyKeys(s.ui, broken), { jwks: '/tmp/jwks.json' });
    assert.deepEqual(s.shown[0].labels, [JWKS_FILE_LABEL]);
    assert.match(s.shown[0].details[0] ?? '', /Environments unavailable \(config\.toml: bad TOML\)/);
});

test('verify arguments: own issuer, an environment\'s issuer, a file', () => {
    assert.deepEqual(verifyParams('a.b.c'), { token: 'a.b.c' });
    assert.deepEqual(verifyParams('a.b.c', { environment: 'prod', issuer: 'https://id.prod.example' }), { token: 'a.b.c', issuer: 'https://id.prod.example' });
    assert.equal(keysPhrase(), '');
    assert.equal(keysPhrase({ environment: 'prod', issuer: 'https://id.prod.example' }), ' against the keys of prod');
    assert.equal(keysPhrase({ jwks: 'C:\\keys\\set.jwks' }), ' against the keys in set.jwks');
});

test('JWKS_FILE_INVALID: the file\'s problem, then the daemon\'s hint, with Show Logs', () => {
    const err = Object.assign(new Error('x'), {
        code: -32001,
        data: {
            code: 'JWKS_FILE_INVALID',
            message: 'cannot read the JWKS file /tmp/k.json: is a FIFO (named pipe), not a regular file; give the path of a file',
            action: 'showLogs',
            hint: 'pick a JSON Web Key Set file (a JSON object with "keys")',
            path: '/tmp/k.json',
        },
    });
    const p = presentError(err, 'Could not verify the token');
    assert.deepEqual(p, {
        severity: 'error',
        message:
            'Could not verify the token: cannot read the JWKS file /tmp/k.json: is a FIFO (named pipe), not a regular file; give the path of a file. Pick a JSON Web Key Set file (a JSON object with "keys").',
        actions: ['showLogs'],
        code: 'JWKS_FILE_INVALID',
    });
});
