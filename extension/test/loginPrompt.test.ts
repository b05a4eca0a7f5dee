import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LoginPrompts } from '../src/common/loginPrompt';

const links = { openLoginPage: 'microstax.openLoginPage', copyLoginCode: 'microstax.copyLoginCode' };
const prompt = { environment: 'dev', userCode: 'WDJB-MJHT', verificationUri: 'http://127.0.0.1:8411/device', expiresAt: '2030-01-01T00:10:00Z' };

test('the device code goes into the sign-in progress, which ends with the sign-in', () => {
    const prompts = new LoginPrompts(links);
    const shown: string[] = [];
    const end = prompts.begin('dev', (m) => shown.push(m));
    assert.equal(prompts.route(prompt), true);
    assert.equal(shown.length, 1);
    assert.match(shown[0], /enter the code WDJB-MJHT at http:\/\/127\.0\.0\.1:8411\/device/);
    assert.match(shown[0], /\[Open Browser\]\(command:microstax\.openLoginPage\) · \[Copy Code\]\(command:microstax\.copyLoginCode\)/);
    end();
    assert.equal(prompts.route(prompt), false, 'no sign-in of ours: a notification of its own');
    assert.equal(prompts.last, prompt);
});

test('a prompt for another environment does not land in this sign-in', () => {
    const prompts = new LoginPrompts(links);
    const shown: string[] = [];
    const endFirst = prompts.begin('prod', (m) => shown.push(m));
    assert.equal(prompts.route(prompt), false);
    // A newer sign-in replaces the older; ending the older does not end the newer.
    const endSecond = prompts.begin(undefined, (m) => shown.push(`2:${m}`));
    endFirst();
    assert.equal(prompts.route(prompt), true);
    assert.match(shown.at(-1) ?? '', /^2:enter the code/);
    endSecond();
});
