import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
    BACK,
    type Back,
    customService,
    environmentItems,
    type FlowDaemon,
    type FlowUI,
    type PickStep,
    rememberService,
    runFederateFlow,
    serviceItems,
} from '../src/common/federateFlow';
import { cluster, envs } from './fixtures';

type Answer = string | typeof BACK | undefined | ((items: { label: string; value: unknown }[]) => unknown);

/** A UI that answers each step from a script and records what it was shown. */
function scriptedUI(answers: Answer[]): FlowUI & { shown: { title: string; step: number; total: number; labels: string[]; back: boolean }[] } {
    const shown: { title: string; step: number; total: number; labels: string[]; back: boolean }[] = [];
    return {
        shown,
        async pick<T>(step: PickStep<T>): Promise<T | Back | undefined> {
            const items = await step.items;
            shown.push({ title: step.title, step: step.step, total: step.totalSteps, labels: items.map((i) => i.label), back: step.canGoBack });
            const a = answers.shift();
            if (a === undefined || a === BACK) {
                return a as Back | undefined;
            }
            if (typeof a === 'function') {
                return a(items) as T;
            }
            const hit = items.find((i) => i.label === a || i.label.endsWith(` ${a}`));
            if (hit) {
                return hit.value;
            }
            const custom = step.custom?.(a);
            assert.ok(custom, `no item "${a}" in ${items.map((i) => i.label).join(', ')}`);
            return custom.value;
        },
    };
}

const clusters = [cluster('stx-eu-west-cluster'), cluster('stx-us-east-cluster', { status: 'down' })];
const daemon: FlowDaemon & { calls: string[] } = {
    calls: [],
    async listEnvironments() {
        this.calls.push('envs');
        return envs;
    },
    async listClusters(env) {
        this.calls.push(`clusters:${env}`);
        return { clusters };
    },
};

test('environment → cluster → service', async () => {
    const ui = scriptedUI(['dev', 'stx-eu-west-cluster', 'default']);
    const params = await runFederateFlow(ui, daemon);
    assert.deepEqual(params, { environment: 'dev', target: 'stx-eu-west-cluster', service: 'default' });
    assert.deepEqual(
        ui.shown.map((s) => [s.step, s.total, s.back]),
        [
            [1, 3, false],
            [2, 3, true],
            [3, 3, true],
        ],
    );
    assert.deepEqual(ui.shown[1].labels, ['$(pass) stx-eu-west-cluster', '$(error) stx-us-east-cluster']);
    assert.match(ui.shown[2].title, /dev → stx-eu-west-cluster/);
});

test('default environment (config default, or the setting) comes first and is preselected', () => {
    const byConfig = environmentItems(envs);
    assert.equal(byConfig[0].value, 'dev');
    assert.equal(byConfig[0].picked, true);
    const bySetting = environmentItems(envs, 'prod');
    assert.deepEqual(
        bySetting.map((i) => [i.value, i.picked]),
        [
            ['prod', true],
            ['dev', false],
        ],
    );
});

test('Back goes to the previous step; dismissing gives undefined', async () => {
    const ui = scriptedUI(['prod', BACK, 'dev', 'stx-us-east-cluster', BACK, 'stx-eu-west-cluster', 'billing']);
    const params = await runFederateFlow(ui, daemon);
    assert.deepEqual(params, { environment: 'dev', target: 'stx-eu-west-cluster', service: 'billing' });
    assert.equal(await runFederateFlow(scriptedUI(['dev', undefined]), daemon), undefined);
    assert.equal(await runFederateFlow(scriptedUI([undefined]), daemon), undefined);
});

test('a preset cluster (from the view) asks only for the service, without Back', async () => {
    const c = cluster('stx-eu-west-cluster', { environment: 'dev', token: { state: 'exchanged', service: 'billing', secondsLeft: 10 } });
    const ui = scriptedUI(['billing']);
    const params = await runFederateFlow(ui, daemon, { preset: { environment: 'dev', cluster: c } });
    assert.deepEqual(params, { environment: 'dev', target: 'stx-eu-west-cluster', service: 'billing' });
    assert.deepEqual(ui.shown.map((s) => [s.step, s.total, s.back]), [[1, 1, false]]);
    assert.deepEqual(ui.shown[0].labels, ['billing', 'default']);
});

test('a preset environment starts at the cluster', async () => {
    const ui = scriptedUI(['stx-eu-west-cluster', BACK, 'stx-eu-west-cluster', 'default']);
    const params = await runFederateFlow(ui, daemon, { preset: { environment: 'prod' } });
    assert.deepEqual(params, { environment: 'prod', target: 'stx-eu-west-cluster', service: 'default' });
    assert.deepEqual(
        ui.shown.map((s) => [s.step, s.total, s.back]),
        [
            [1, 2, false],
            [2, 2, true],
            [1, 2, false],
            [2, 2, true],
        ],
    );
});

test('service items: current token, catalog, recent, default; typed names are validated', () => {
    const c = cluster('x', { services: ['payments', 'billing'], token: { state: 'exchanged', service: 'billing' } });
    assert.deepEqual(
        serviceItems(c, ['audit', 'payments']).map((i) => [i.label, i.description]),
        [
            ['billing', 'has a token'],
            ['payments', 'from the catalog'],
            ['audit', 'used before'],
            ['default', 'the default service account'],
        ],
    );
    assert.equal(customService(' orders ')?.value, 'orders');
    assert.equal(customService('bad name'), undefined);
    assert.equal(customService(''), undefined);
    assert.deepEqual(rememberService(['a', 'b', 'c'], 'b', 3), ['b', 'a', 'c']);
});

test('a failing daemon call rejects the flow (the caller shows the error)', async () => {
    const failing: FlowDaemon = {
        listEnvironments: async () => {
            throw Object.assign(new Error('boom'), { code: -32001, data: { code: 'NOT_SIGNED_IN', message: 'sign in' } });
        },
        listClusters: async () => ({ clusters: [] }),
    };
    await assert.rejects(runFederateFlow(scriptedUI(['dev']), failing), /boom/);
});

test('a single environment skips step 1', async () => {
    const one: FlowDaemon = { listEnvironments: async () => [envs[1]], listClusters: async () => ({ clusters }) };
    const ui = scriptedUI(['stx-eu-west-cluster', 'default']);
    assert.deepEqual(await runFederateFlow(ui, one), { environment: 'dev', target: 'stx-eu-west-cluster', service: 'default' });
    assert.deepEqual(
        ui.shown.map((s) => [s.step, s.total, s.back]),
        [
            [1, 2, false],
            [2, 2, true],
        ],
    );
});

test('unreachable is not empty: the cluster step says so and offers Retry, then Start Local Platform', async () => {
    let calls = 0;
    const flaky: FlowDaemon = {
        listEnvironments: async () => [envs[1]],
        listClusters: async () => (++calls === 1 ? { clusters: [], catalogError: 'the platform catalog of dev is unavailable: connection refused' } : { clusters }),
    };
    const ui = scriptedUI(['Retry', 'stx-eu-west-cluster', 'default']);
    assert.deepEqual(await runFederateFlow(ui, flaky), { environment: 'dev', target: 'stx-eu-west-cluster', service: 'default' });
    // dev's issuer is on loopback: Start Local Platform is offered
    assert.deepEqual(ui.shown[0].labels, ['$(refresh) Retry', '$(play) Start Local Platform', '$(output) Show Logs']);
    assert.equal(calls, 2, 'Retry asked the daemon again');

    const actions: string[] = [];
    const down: FlowDaemon = { listEnvironments: async () => [envs[1]], listClusters: async () => ({ clusters: [], catalogError: 'unreachable' }) };
    const ui2 = scriptedUI(['Start Local Platform']);
    assert.equal(await runFederateFlow(ui2, down, { onAction: (a) => actions.push(a) }), undefined);
    assert.deepEqual(actions, ['startLocalPlatform']);

    const remote: FlowDaemon = { listEnvironments: async () => [envs[0]], listClusters: async () => ({ clusters: [], catalogError: 'unreachable' }) };
    const ui3 = scriptedUI([undefined]);
    await runFederateFlow(ui3, remote);
    assert.deepEqual(ui3.shown[0].labels, ['$(refresh) Retry', '$(output) Show Logs'], 'no local platform to start for a remote issuer');

    const empty: FlowDaemon = { listEnvironments: async () => [envs[1]], listClusters: async () => ({ clusters: [] }) };
    const ui4 = scriptedUI([undefined]);
    await runFederateFlow(ui4, empty);
    assert.deepEqual(ui4.shown[0].labels, ['$(info) No clusters in the catalog']);
});
