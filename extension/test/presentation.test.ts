import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
    clusterStatusIcon,
    clusterStatusText,
    clusterTokenText,
    clusterTreeItem,
    decodedDocument,
    environmentTreeItem,
    federatedMessage,
    isLocalPlatform,
    isUnconfigured,
    unreachableText,
    headerBudgetWarning,
    presentStatus,
    verdictText,
    verifyMessage,
} from '../src/common/presentation';
import { msUntilCompactChange, secondsLeftNow } from '../src/common/time';
import { clusterItems } from '../src/common/federateFlow';
import { cluster, envs, federateResult, identity, summary } from './fixtures';

const T0 = Date.UTC(2030, 0, 1);

test('countdown between notifications', () => {
    assert.equal(secondsLeftNow(100, T0, T0 + 30_000), 70);
    assert.equal(secondsLeftNow(undefined, T0, T0), undefined);
    assert.equal(msUntilCompactChange(30), 30_000);
    assert.equal(msUntilCompactChange(125.5), 5501);
    assert.equal(msUntilCompactChange(0), Infinity);
});

test('status: starting, stopped, unknown identity', () => {
    assert.match(presentStatus({ daemon: 'starting', nowMs: T0 }).text, /sync~spin/);
    const stopped = presentStatus({ daemon: 'failed', nowMs: T0 });
    assert.equal(stopped.colour, 'error');
    assert.match(stopped.text, /daemon stopped/);
    assert.equal(presentStatus({ daemon: 'running', nowMs: T0 }).text, '$(key) MicroStax');
});

test('status: signed in shows subject, environment and time left', () => {
    const p = presentStatus({ daemon: 'running', identity: identity({ secondsLeft: 2520 }), receivedAtMs: T0, nowMs: T0 });
    assert.equal(p.text, '$(verified) alice@example.com@dev · 42m left');
    assert.equal(p.click, 'quickActions');
    assert.equal(p.colour, 'normal');
    assert.match(p.tooltip, /Signed in as `alice@example.com` to \*\*dev\*\*/);
    assert.match(p.tooltip, /Session ends in 42m/);
    assert.ok(p.refreshInMs <= 60_000);
});

test('status: warning colour only near expiry; expired by the clock reads like expired by the daemon', () => {
    const id = identity({ secondsLeft: 600 });
    assert.equal(presentStatus({ daemon: 'running', identity: id, receivedAtMs: T0, nowMs: T0 }).colour, 'normal');
    const warn = presentStatus({ daemon: 'running', identity: id, receivedAtMs: T0, nowMs: T0 + 301_000 });
    assert.equal(warn.colour, 'warning');
    assert.match(warn.text, /^\$\(warning\) alice@example.com@dev · 4m left$/);
    const byClock = presentStatus({ daemon: 'running', identity: id, receivedAtMs: T0, nowMs: T0 + 600_000 });
    const byDaemon = presentStatus({ daemon: 'running', identity: identity({ signedIn: false, subject: undefined, secondsLeft: undefined }), nowMs: T0, expired: true });
    for (const p of [byClock, byDaemon]) {
        assert.equal(p.colour, 'warning', 'expiry is not a failure');
        assert.equal(p.text, '$(warning) MicroStax: session expired (dev)');
        assert.match(p.tooltip, /expired/);
        assert.equal(p.click, 'signIn');
        assert.equal(p.refreshInMs, Infinity);
    }
});

test('status: signed out is neutral and a click signs in', () => {
    const p = presentStatus({
        daemon: 'running',
        identity: identity({ signedIn: false, subject: undefined, secondsLeft: undefined, clusters: [cluster('a')] }),
        nowMs: T0,
    });
    assert.equal(p.text, '$(account) MicroStax: Sign in');
    assert.equal(p.colour, 'normal');
    assert.equal(p.click, 'signIn');
    assert.match(p.tooltip, /Not signed in to \*\*dev\*\*/);
    assert.match(p.tooltip, /- a: not exchanged/);
});

test('status: error colour only for real failures', () => {
    const bad = presentStatus({ daemon: 'running', identity: identity(), nowMs: T0, problem: { code: 'CONFIG_INVALID', message: 'c.toml is not valid TOML' } });
    assert.equal(bad.colour, 'error');
    assert.equal(bad.text, '$(error) MicroStax: config problem');
    assert.equal(bad.click, 'openSettings');
    assert.match(bad.tooltip, /not valid TOML/);
    const unknown = presentStatus({ daemon: 'running', nowMs: T0, problem: { code: 'UNKNOWN_ENVIRONMENT', message: 'no environment qa' } });
    assert.equal(unknown.text, '$(error) MicroStax: unknown environment');
    assert.equal(presentStatus({ daemon: 'stopped', nowMs: T0 }).click, 'restartDaemon');
    const unreachable = presentStatus({ daemon: 'running', identity: identity({ catalogError: 'the platform catalog of dev is unavailable' }), nowMs: T0 });
    assert.equal(unreachable.colour, 'normal', 'an unreachable catalog is said in the tooltip, not painted red');
    assert.match(unreachable.tooltip, /catalog of dev is unavailable/);
});

test('status: long subjects are shortened, no time when the daemon gives none', () => {
    const p = presentStatus({
        daemon: 'running',
        identity: identity({ subject: 'spiffe://cluster.local/ns/payments/sa/very-long-service-account', secondsLeft: undefined }),
        nowMs: T0,
    });
    assert.equal(p.text, '$(verified) spiffe://cluster.local/ns/payme…@dev');
});

test('cluster token text and tree items', () => {
    const ex = cluster('stx-eu', { token: { state: 'exchanged', secondsLeft: 252, service: 'billing', expiresAt: '2030-01-01T00:04:12Z' } });
    assert.equal(clusterTokenText(ex, T0, T0), 'exchanged (billing) · 4m 12s left');
    assert.equal(clusterTokenText(ex, T0, T0 + 300_000), 'expired 48s ago (billing)');
    assert.equal(
        clusterTokenText(cluster('x', { token: { state: 'failed', failure: { kind: 'network', message: 'refused' } } }), T0, T0),
        'failed (network): refused',
    );
    const item = clusterTreeItem(ex, T0, T0);
    assert.equal(item.contextValue, 'cluster.exchanged');
    assert.equal(item.icon, 'key');
    assert.equal(item.description, 'billing · 4m left', 'short: the tooltip has the rest');
    assert.match(item.tooltip, /Token: exchanged \(billing\) · 4m 12s left/);
    assert.equal(clusterTreeItem(ex, T0, T0 + 300_000).description, 'billing · expired <1m ago');
    assert.equal(clusterTreeItem(ex, T0, T0 + 600_000).description, 'billing · expired 5m ago');
    assert.equal(clusterTreeItem(cluster('z'), T0, T0).description, 'up');
    assert.equal(clusterTreeItem(cluster('z', { token: { state: 'failed', failure: { kind: 'network', message: 'x' } } }), T0, T0).description, 'failed');
    assert.equal(clusterTreeItem(cluster('y', { status: 'down' }), T0, T0).contextValue, 'cluster');
    assert.equal(clusterTreeItem(cluster('y', { status: 'down' }), T0, T0).icon, 'error');
    assert.equal(environmentTreeItem(envs[1]).contextValue, 'environment.signedIn');
    assert.equal(environmentTreeItem(envs[0]).description, 'signed out');
});

test('federated message says for whom, which cluster, until when', () => {
    const msg = federatedMessage(federateResult(), 'default', (iso) => `<${iso}>`);
    assert.equal(
        msg,
        'Token copied to the clipboard: alice@example.com → stx-eu-west-cluster (service default), valid until <2030-01-01T00:05:00Z> (expires in 5m).',
    );
});

test('federated message names the actor when there is one', () => {
    const msg = federatedMessage(federateResult({ summary: summary({ subject: 'spiffe://td/svc/payments', actors: ['dev'] }) }), 'payments', (iso) => iso);
    assert.match(msg, /^Token copied to the clipboard: spiffe:\/\/td\/svc\/payments on behalf of dev → stx-eu-west-cluster \(service payments\)/);
});

test('header budget warning', () => {
    assert.equal(headerBudgetWarning(federateResult()), undefined);
    assert.match(headerBudgetWarning(federateResult({ headerBudget: { bytes: 9000, limit: 8192, exceeds: true } })) ?? '', /9000 bytes/);
    assert.equal(headerBudgetWarning(federateResult({ summary: summary({ sizeWarning: 'big' }) })), 'big');
});

test('verify message', () => {
    assert.match(verifyMessage(true, summary()), /is valid \(classical verified, post-quantum verified\)/);
    assert.match(verifyMessage(false, summary({ verdict: { classical: 'verified', pq: 'missing' } }), 'stripped'), /NOT valid: stripped/);
});

test('a degraded cluster: warning icon and colour, status in words, named in the status tooltip', () => {
    const c = cluster('stx-ap', { status: 'degraded' });
    assert.equal(clusterStatusIcon(c), 'warning');
    assert.match(clusterStatusText(c), /^degraded \(up, but some of its services are failing\)$/);
    const item = clusterTreeItem(c, T0, T0);
    assert.equal(item.icon, 'warning');
    assert.equal(item.iconColour, 'list.warningForeground');
    assert.equal(item.description, 'degraded');
    assert.match(item.tooltip, /^Status: degraded \(up, but/m);
    assert.equal(clusterItems([c], T0, T0)[0].label, '$(warning) stx-ap');
    // A token wins over the status for the icon; the description still says degraded.
    const ex = clusterTreeItem(cluster('stx-ap', { status: 'degraded', token: { state: 'exchanged', service: 'billing' } }), T0, T0);
    assert.deepEqual([ex.icon, ex.description], ['key', 'degraded · billing · exchanged']);
    const p = presentStatus({ daemon: 'running', identity: identity({ clusters: [c, cluster('stx-eu'), cluster('stx-us', { status: 'down' })] }), nowMs: T0 });
    assert.match(p.tooltip, /- stx\\-ap \(degraded\): not exchanged\n- stx\\-eu: not exchanged\n- stx\\-us \(down\): not exchanged/);
});

test('cluster status: up, down, unknown, and a status this client does not know', () => {
    assert.deepEqual(
        (['up', 'down', 'unknown', 'maintenance'] as const).map((s) => clusterStatusIcon(cluster('x', { status: s as 'up' }))),
        ['pass', 'error', 'question', 'question'],
    );
    assert.equal(clusterStatusText(cluster('x', { status: 'maintenance' as 'up' })), 'unknown');
    assert.equal(clusterTreeItem(cluster('x', { status: 'unknown' }), T0, T0).iconColour, 'disabledForeground');
});

test('cluster tooltip: audience, source and token-exchange flavour', () => {
    const t = clusterTreeItem(cluster('kc', { audience: 'kc-api', source: 'config', flavour: 'keycloak' }), T0, T0).tooltip;
    assert.match(t, /^Audience: kc-api$/m);
    assert.match(t, /^Source: your config$/m);
    assert.match(t, /^Token exchange: keycloak$/m);
    assert.match(clusterTreeItem(cluster('c'), T0, T0).tooltip, /^Source: the platform catalog$/m);
});

test('verdicts in words: absent is no PQ part, not a failure', () => {
    assert.equal(verdictText('absent'), 'no PQ part (issuer does not sign hybrid)');
    assert.equal(verdictText('missing'), 'missing (the issuer signs hybrid: a stripped token?)');
    assert.equal(verdictText('verified'), 'verified');
    assert.equal(verdictText('not_checked'), 'not checked');
    assert.equal(verdictText('unverifiable'), 'unverifiable offline');
    const keycloak = summary({ signatures: { classical: { alg: 'RS256' } }, verdict: { classical: 'verified', pq: 'absent' } });
    assert.equal(verifyMessage(true, keycloak), 'Token for alice@example.com is valid (classical verified, no PQ part (issuer does not sign hybrid)).');
    assert.match(
        verifyMessage(false, summary({ verdict: { classical: 'not_checked', pq: 'unverifiable' } }), 'offline'),
        /\(classical not checked, post-quantum unverifiable offline\)/,
    );
});

test('first run, local platforms, the unreachable row', () => {
    assert.equal(isUnconfigured([{ name: 'dev', issuer: 'http://127.0.0.1:8411', default: true, signedIn: false, source: 'default' }]), true);
    assert.equal(isUnconfigured(envs), false);
    assert.equal(isLocalPlatform('http://127.0.0.1:8411'), true);
    assert.equal(isLocalPlatform('http://localhost:9000/x'), true);
    assert.equal(isLocalPlatform('https://id.example.com'), false);
    assert.equal(isLocalPlatform('not a url'), false);
    const row = unreachableText('dev', 'the platform catalog of dev is unavailable: connection refused');
    assert.match(row.label, /unreachable — Retry/);
    assert.match(row.tooltip, /connection refused[\s\S]*Is the platform of dev running\?/);
    const builtin = environmentTreeItem({ name: 'dev', issuer: 'http://127.0.0.1:8411', default: true, signedIn: false, source: 'default' });
    assert.match(builtin.description, /local platform/);
    assert.match(builtin.tooltip, /127\.0\.0\.1:8411/);
    const expired = environmentTreeItem(envs[0], true);
    assert.equal(expired.description, 'session expired');
    assert.equal(expired.icon, 'warning');
});

test('decoded document: the verdict first, then header and claims as JSON', () => {
    const doc = decodedDocument({ v: 1, summary: summary({ subject: 'evil\n// injected' }), markdown: '', header: { alg: 'ES256' }, claims: { sub: 'x' } });
    assert.ok(doc);
    const lines = doc.split('\n');
    assert.match(lines[0], /^\/\/ Not verified/);
    assert.ok(lines.slice(0, 3).every((l) => l.startsWith('//')), 'untrusted text cannot end the comment');
    const json = JSON.parse(lines.filter((l) => !l.startsWith('//')).join('\n'));
    assert.deepEqual(json, { header: { alg: 'ES256' }, claims: { sub: 'x' } });
    assert.equal(decodedDocument({ v: 1, summary: summary(), markdown: 'card' }), undefined);
});
