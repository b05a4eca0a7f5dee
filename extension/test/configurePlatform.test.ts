import assert from 'node:assert/strict';
import { test } from 'node:test';
import { environmentNameProblem, platformUrlProblem, suggestEnvironmentName } from '../src/common/configurePlatform';

test('platform URLs: https, or http on this machine only', () => {
    assert.equal(platformUrlProblem('https://identity.example.com'), undefined);
    assert.equal(platformUrlProblem('http://127.0.0.1:8411'), undefined);
    assert.match(platformUrlProblem('http://identity.example.com') ?? '', /only for a platform on this machine/);
    assert.match(platformUrlProblem('identity.example.com') ?? '', /Not a URL/);
    assert.match(platformUrlProblem('ftp://x') ?? '', /Only https/);
    assert.match(platformUrlProblem('https://u:p@x.example.com') ?? '', /credentials/);
    assert.match(platformUrlProblem('') ?? '', /e\.g\./);
});

test('environment names', () => {
    assert.equal(environmentNameProblem('staging'), undefined);
    assert.match(environmentNameProblem('a b') ?? '', /Letters/);
    assert.match(environmentNameProblem('dev', ['dev']) ?? '', /already configured/);
    assert.equal(suggestEnvironmentName('http://127.0.0.1:8411'), 'dev');
    assert.equal(suggestEnvironmentName('http://127.0.0.1:8411', ['dev']), 'dev-2');
    assert.equal(suggestEnvironmentName('https://identity.example.com'), 'identity');
});
