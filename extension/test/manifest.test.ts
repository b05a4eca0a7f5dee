import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { commandIds, loadServerInfo } from '../src/common/identity';
import { SETTING_KEYS } from '../src/common/settings';

// out/test/manifest.test.js → ../../package.json
const pkg = JSON.parse(readFileSync(join(__dirname, '..', '..', 'package.json'), 'utf8'));

test('identity block', () => {
    const info = loadServerInfo(pkg);
    assert.equal(info.extensionId, 'microstax.microstax-identity');
    assert.equal(pkg.displayName, 'MicroStax Identity');
    assert.equal(info.section, 'microstax');
    assert.equal(info.module, 'microstax');
    assert.deepEqual(info.daemonArgs, ['daemon']);
});

test('every command the code registers is contributed, in category MicroStax', () => {
    const contributed = new Map<string, { title: string; category: string }>(pkg.contributes.commands.map((c: { command: string }) => [c.command, c]));
    const ids = commandIds(loadServerInfo(pkg).section);
    for (const id of Object.values(ids)) {
        assert.ok(contributed.has(id), `${id} is not in contributes.commands`);
        assert.equal(contributed.get(id)?.category, 'MicroStax');
    }
    assert.equal(contributed.size, Object.keys(ids).length);
    const titles = Object.fromEntries([...contributed].map(([id, c]) => [id, c.title]));
    assert.equal(titles['microstax.federate'], 'Federate Identity Token…');
    assert.equal(titles['microstax.restartDaemon'], 'Restart Daemon');
});

test('every setting the code reads is contributed', () => {
    const props = Object.keys(pkg.contributes.configuration.properties).sort();
    const expected = Object.values(SETTING_KEYS)
        .map((k) => `microstax.${k}`)
        .sort();
    assert.deepEqual(props, expected);
});

test('the private environment: the wheel is packaged, not committed, and built before packaging', () => {
    const ext = join(__dirname, '..', '..');
    const vscodeignore = readFileSync(join(ext, '.vscodeignore'), 'utf8').split('\n');
    assert.ok(vscodeignore.includes('!bundled/*.whl'), '.vscodeignore lets bundled/*.whl into the .vsix');
    assert.ok(readFileSync(join(ext, '.gitignore'), 'utf8').split('\n').includes('bundled/'), 'bundled/ is not committed');
    // vsce runs vscode:prepublish on every `vsce package`.
    assert.match(pkg.scripts['vscode:prepublish'], /^node scripts\/bundle-wheel\.mjs && /);
});

test("minPython is the package's requires-python", () => {
    const pyproject = readFileSync(join(__dirname, '..', '..', '..', 'pyproject.toml'), 'utf8');
    const requires = /^requires-python\s*=\s*">=\s*([\d.]+)"/m.exec(pyproject)?.[1];
    assert.equal(loadServerInfo(pkg).minPython, requires);
});

test('settings that decide what runs are machine-scoped: a workspace cannot set them', () => {
    const props = pkg.contributes.configuration.properties;
    for (const key of ['microstax.python', 'microstax.daemonCommand', 'microstax.configFile']) {
        assert.equal(props[key].scope, 'machine', `${key} must be machine-scoped (not machine-overridable or window)`);
    }
    // The rest may differ per folder.
    assert.notEqual(props['microstax.environment'].scope, 'machine');
});

test('first run: an Activity Bar container with an icon, a welcome view, a walkthrough', () => {
    const ext = join(__dirname, '..', '..');
    const container = pkg.contributes.viewsContainers.activitybar.find((c: { id: string }) => c.id === 'microstax');
    assert.ok(container && existsSync(join(ext, container.icon)), 'the container and its icon');
    assert.deepEqual(pkg.contributes.views.microstax.map((v: { id: string }) => v.id), ['microstax.identityView']);
    const welcome = pkg.contributes.viewsWelcome.find((w: { when: string }) => /microstax\.unconfigured/.test(w.when) && !/!microstax\.unconfigured/.test(w.when));
    for (const cmd of ['signIn', 'configurePlatform', 'startLocalPlatform', 'openDocs']) {
        assert.match(welcome.contents, new RegExp(`command:microstax\\.${cmd}\\)`), cmd);
    }
    const walk = pkg.contributes.walkthroughs[0];
    assert.deepEqual(walk.steps.map((s: { id: string }) => s.id), ['daemon', 'platform', 'signIn', 'federate', 'hover']);
    for (const step of walk.steps) {
        assert.ok(existsSync(join(ext, step.media.markdown)), step.media.markdown);
    }
    const vscodeignore = readFileSync(join(ext, '.vscodeignore'), 'utf8').split('\n');
    assert.ok(vscodeignore.includes('!media/*.svg') && vscodeignore.includes('!media/walkthrough/*.md'));
});

test('commands follow state: Sign In only when signed out, Sign Out only when signed in', () => {
    const palette = new Map(pkg.contributes.menus.commandPalette.map((m: { command: string; when: string }) => [m.command, m.when]));
    assert.equal(palette.get('microstax.signIn'), '!microstax.signedIn');
    assert.equal(palette.get('microstax.signOut'), 'microstax.signedIn');
});
