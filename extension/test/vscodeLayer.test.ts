/** The vscode layer against a stubbed vscode API (test/stubs/vscode.ts). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as vscode from 'vscode';
import { runFederateFlow, type FlowDaemon } from '../src/common/federateFlow';
import { VsCodeFlowUI } from '../src/vscode/quickPick';
import { commandIds } from '../src/common/identity';
import { SessionTracker } from '../src/common/sessionState';
import { IdentityStatusBar } from '../src/vscode/statusBar';
import type { FakeQuickPick, FakeStatusBarItem } from './stubs/vscode';
import { cluster, envs, identity } from './fixtures';

const stub = vscode as unknown as typeof import('./stubs/vscode');

/** Each time a quick pick shows, let `act` drive it once its items are there. */
function drive(actions: ((qp: FakeQuickPick<{ label: string }>) => void)[]): FakeQuickPick<{ label: string }>[] {
    const seen: FakeQuickPick<{ label: string }>[] = [];
    stub.window.shown.event((qp) => {
        seen.push(qp);
        const act = actions.shift();
        const wait = () => (qp.disposed ? undefined : qp.busy ? setTimeout(wait, 1) : act?.(qp));
        setTimeout(wait, 1);
    });
    return seen;
}

const daemon: FlowDaemon = {
    listEnvironments: async () => envs,
    listClusters: async () => ({ clusters: [cluster('stx-eu-west-cluster'), cluster('stx-us-east-cluster')] }),
};

test('quick pick flow through the VS Code widgets: steps, busy loading, preselection, typed service', async () => {
    const seen = drive([
        (qp) => {
            assert.equal(qp.activeItems[0]?.label, 'dev', 'the default environment is preselected');
            qp.choose('dev');
        },
        (qp) => qp.choose('stx-us-east-cluster'),
        (qp) => {
            qp.type('payments');
            assert.equal(qp.items[0].label, 'payments');
            qp.choose('payments');
        },
    ]);
    const params = await runFederateFlow(new VsCodeFlowUI(), daemon);
    assert.deepEqual(params, { environment: 'dev', target: 'stx-us-east-cluster', service: 'payments' });
    assert.deepEqual(
        seen.map((q) => [q.step, q.totalSteps, q.buttons.length, q.ignoreFocusOut, q.disposed]),
        [
            [1, 3, 0, true, true],
            [2, 3, 1, true, true],
            [3, 3, 1, true, true],
        ],
    );
});

test('Back button and Escape', async () => {
    drive([
        (qp) => qp.choose('prod'),
        (qp) => qp.button.fire(stub.QuickInputButtons.Back),
        (qp) => qp.choose('dev'),
        (qp) => qp.hide(),
    ]);
    assert.equal(await runFederateFlow(new VsCodeFlowUI(), daemon), undefined);
});

test('a daemon error while loading items closes the pick and rejects', async () => {
    const seen = drive([(qp) => qp.choose('dev'), () => undefined]);
    const failing: FlowDaemon = { listEnvironments: async () => envs, listClusters: () => Promise.reject(new Error('not running')) };
    await assert.rejects(runFederateFlow(new VsCodeFlowUI(), failing), /not running/);
    assert.equal(seen[1].disposed, true);
});

test('status bar follows the daemon: starting → signed in → near expiry → signed out', () => {
    const sessions = new SessionTracker();
    const bar = new IdentityStatusBar('identity', 'MicroStax Identity', commandIds('microstax'), 'microstax', sessions);
    const item = stub.window.statusBarItems.at(-1) as FakeStatusBarItem;
    assert.equal(item.visible, true);
    assert.equal(item.command, 'microstax.quickActions');
    assert.match(item.text, /sync~spin/);
    bar.setDaemonState('running');
    bar.setIdentity(identity({ secondsLeft: 3600 }));
    assert.equal(item.text, '$(verified) alice@example.com@dev · 1h left', 'no zero parts, as the daemon words it');
    assert.equal(item.backgroundColor, undefined);
    bar.setIdentity(identity({ secondsLeft: 120 }));
    assert.equal((item.backgroundColor as unknown as vscode.ThemeColor).id, 'statusBarItem.warningBackground');
    bar.setIdentity(identity({ signedIn: false, subject: undefined, secondsLeft: undefined }));
    assert.equal(item.text, '$(account) MicroStax: Sign in');
    assert.equal(item.backgroundColor, undefined, 'signed out is not a failure');
    assert.equal(item.command, 'microstax.signIn');
    assert.equal(item.accessibilityInformation?.label, 'MicroStax: Sign in');
    bar.setProblem({ code: 'CONFIG_INVALID', message: 'bad TOML' });
    assert.equal((item.backgroundColor as unknown as vscode.ThemeColor).id, 'statusBarItem.errorBackground');
    bar.setDaemonState('failed');
    assert.match(item.text, /daemon stopped/);
    bar.dispose();
});

test('expiry: the status bar and the tracker agree; signing out is not expiring', () => {
    const sessions = new SessionTracker();
    const bar = new IdentityStatusBar('identity', 'MicroStax Identity', commandIds('microstax'), 'microstax', sessions);
    const item = stub.window.statusBarItems.at(-1) as FakeStatusBarItem;
    bar.setDaemonState('running');
    const t0 = Date.now();
    const signedIn = identity({ secondsLeft: 1 });
    sessions.observe(signedIn, t0 - 2000); // ended a second ago by the clock
    bar.setIdentity(signedIn);
    const out = identity({ signedIn: false, subject: undefined, secondsLeft: undefined });
    assert.equal(sessions.observe(out, t0), true, 'expired: notify once');
    assert.equal(sessions.observe(out, t0 + 10), false);
    bar.setIdentity(out);
    assert.equal(item.text, '$(warning) MicroStax: session expired (dev)');
    assert.equal(item.command, 'microstax.signIn');
    // A sign-out long before the end is not an expiry.
    const other = new SessionTracker();
    other.observe(identity({ secondsLeft: 3600 }), t0);
    assert.equal(other.observe(out, t0 + 1000), false);
    assert.equal(other.isExpired('dev'), false);
    sessions.forget('dev');
    assert.equal(sessions.isExpired('dev'), false);
    bar.dispose();
});
