// Drives a real VS Code (code-server) in headless Chromium through the MicroStax Identity
// extension, as a person would: status bar → Sign In → palette "Federate Identity Token…" →
// quick picks → clipboard → hover a JWT → Sign Out. Screenshots go to MSX_ARTIFACTS; what the
// Python test checks goes to MSX_RESULT (JSON). Run by tests/e2e/vscode/test_vscode_e2e.py.
//
// MSX_SCENARIO=states walks every other state from a first run: the welcome view and the
// walkthrough, Configure Platform (a live platform and one that is down: Retry), sign in, a
// malformed token's hover card, and the session expiring once the platform is stopped
// (MSX_PLATFORM_PGID). MSX_DOWN_URL: a loopback URL where nothing listens.
//
// MSX_SCENARIO=private-environment instead only waits for the extension to make its private
// Python environment (the notification), then for the daemon started from it (the status bar).
//
// Env: MSX_URL (code-server, with ?folder=), MSX_E2E_DIR (where playwright-core is installed),
// MSX_CHROMIUM, MSX_ARTIFACTS, MSX_RESULT, MSX_ENV (environment name), MSX_CLUSTER,
// MSX_SERVICE, MSX_TOKEN_FILE (workspace file with a JWT on line 1), MSX_PROFILE (browser dir).
import { createRequire } from 'node:module';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const env = (name) => {
    const v = process.env[name];
    if (!v) throw new Error(`${name} is not set`);
    return v;
};
const require = createRequire(join(env('MSX_E2E_DIR'), 'package.json'));
const { chromium } = require('playwright-core');

const STEP_MS = Number(process.env.MSX_STEP_TIMEOUT_MS ?? 60_000);
const ARTIFACTS = env('MSX_ARTIFACTS');
const ENVIRONMENT = env('MSX_ENV');
const CLUSTER = env('MSX_CLUSTER');
const SERVICE = env('MSX_SERVICE');
const TOKEN_FILE = env('MSX_TOKEN_FILE');
mkdirSync(ARTIFACTS, { recursive: true });

const result = { steps: [], statusTexts: {}, notifications: {}, screenshots: [] };
const t0 = Date.now();
const step = (name) => {
    result.steps.push({ name, atMs: Date.now() - t0 });
    console.error(`[drive] ${((Date.now() - t0) / 1000).toFixed(1)}s ${name}`);
};

const STATUS_ITEM = '[id="microstax.microstax-identity.identity"]';

const SCENARIO = process.env.MSX_SCENARIO ?? 'federate';
/** Making the private environment: a venv and pip installing the wheel's dependencies. */
const PRIVATE_ENV_MS = Number(process.env.MSX_PRIVATE_ENV_TIMEOUT_MS ?? 600_000);

/** Command lines of the daemon(s) in code-server's process group. */
function daemonCommands() {
    return daemonPids().map((pid) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean));
}

/** Pids of the daemon(s) in code-server's process group (the ones this test started). */
function daemonPids() {
    const pgid = Number(env('MSX_PGID'));
    const pids = [];
    for (const name of readdirSync('/proc')) {
        if (!/^\d+$/.test(name)) continue;
        try {
            const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
            const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
            if (Number(fields[2]) !== pgid) continue;
            const cmd = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0');
            if (cmd.includes('microstax') && cmd.includes('daemon')) pids.push(Number(name));
        } catch {
            // gone meanwhile
        }
    }
    return pids;
}

async function shot(page, name, locator) {
    const file = join(ARTIFACTS, `${name}.png`);
    if (locator) {
        await locator.screenshot({ path: file, animations: 'disabled' });
    } else {
        await page.screenshot({ path: file, animations: 'disabled' });
    }
    result.screenshots.push(file);
}

/** The left end of the status bar, around the MicroStax item. */
async function statusBarShot(page, name) {
    const bar = await page.locator('#workbench\\.parts\\.statusbar').boundingBox();
    const item = await page.locator(STATUS_ITEM).boundingBox();
    const file = join(ARTIFACTS, `${name}.png`);
    await page.screenshot({
        path: file,
        animations: 'disabled',
        clip: { x: bar.x, y: bar.y, width: Math.min(bar.width, item.x + item.width + 160 - bar.x), height: bar.height },
    });
    result.screenshots.push(file);
}

async function statusText(page) {
    const item = page.locator(STATUS_ITEM);
    return (await item.innerText({ timeout: STEP_MS })).trim();
}

/** Waits until the MicroStax status bar item's text matches `re`; returns the text. */
async function waitForStatus(page, re, what) {
    const item = page.locator(STATUS_ITEM);
    try {
        await item.filter({ hasText: re }).waitFor({ state: 'visible', timeout: STEP_MS });
    } catch (err) {
        const now = await item.innerText().catch(() => '(no MicroStax status bar item)');
        throw new Error(`status bar never showed ${what} (${re}); it shows: ${now}`, { cause: err });
    }
    return statusText(page);
}

async function quickInput(page) {
    const input = page.locator('.quick-input-widget .quick-input-box input');
    await input.waitFor({ state: 'visible', timeout: STEP_MS });
    return input;
}

/** Runs a command through the Command Palette by its title. */
async function runCommand(page, title) {
    await page.keyboard.press('F1');
    const input = await quickInput(page);
    await input.fill(`>${title}`);
    const row = page.locator('.quick-input-widget .monaco-list-row', { hasText: title }).first();
    await row.waitFor({ state: 'visible', timeout: STEP_MS });
    await input.press('Enter');
}

/** In an open quick pick: wait for the row, screenshot the list, filter to the row, accept. */
async function pick(page, text, screenshot) {
    const row = page.locator('.quick-input-widget .monaco-list-row', { hasText: text }).first();
    await row.waitFor({ state: 'visible', timeout: STEP_MS });
    if (screenshot) {
        await shot(page, screenshot);
    }
    const input = await quickInput(page);
    await input.fill(text);
    await page.locator('.quick-input-widget .monaco-list-row.focused', { hasText: text }).first().waitFor({ state: 'visible', timeout: STEP_MS });
    await input.press('Enter');
}

async function toast(page, text, timeout = STEP_MS) {
    const t = page.locator('.notifications-toasts .notification-toast', { hasText: text }).first();
    await t.waitFor({ state: 'visible', timeout });
    return t;
}

/** No interpreter has the package: the extension makes its private environment and starts the daemon from it. */
async function privateEnvironment(page) {
    step('wait for the private environment (notification)');
    const made = await toast(page, 'created a private Python environment', PRIVATE_ENV_MS);
    result.notifications.privateEnvironment = (await made.innerText()).trim();
    await made.locator('.monaco-button', { hasText: 'Show Logs' }).first().waitFor({ state: 'visible', timeout: STEP_MS });
    await shot(page, 'private-environment');
    step('wait for the daemon (status bar)');
    const identity = new RegExp(`@${ENVIRONMENT} · |MicroStax: Sign in`);
    result.statusTexts.initial = await waitForStatus(page, identity, 'an identity from the daemon');
    result.daemons = daemonCommands();
    await statusBarShot(page, 'private-environment-statusbar');
}

/** Step 1 of the federate flow is skipped with a single environment: pick it only when asked. */
async function pickEnvironmentIfAsked(page, screenshot) {
    await page.locator('.quick-input-widget .monaco-list-row').first().waitFor({ state: 'visible', timeout: STEP_MS });
    const title = (await page.locator('.quick-input-widget .quick-input-title').innerText()).trim();
    result.federateTitles = [...(result.federateTitles ?? []), title];
    if (!title.includes(`(${ENVIRONMENT})`)) {
        await pick(page, ENVIRONMENT, screenshot);
    }
}

/** The MicroStax view in its own Activity Bar container. */
async function openView(page) {
    const icon = page.locator('.part.activitybar .action-item a[aria-label^="MicroStax"], .part.activitybar .action-item[aria-label^="MicroStax"]').first();
    await icon.waitFor({ state: 'visible', timeout: STEP_MS });
    const sidebarTitle = page.locator('.part.sidebar .composite.title', { hasText: /MicroStax/i }).first();
    if (!(await sidebarTitle.isVisible())) {
        await icon.click();
    }
    await sidebarTitle.waitFor({ state: 'visible', timeout: STEP_MS });
}

async function openExplorer(page) {
    await runCommand(page, 'View: Show Explorer');
    await page.locator('.explorer-folders-view').first().waitFor({ state: 'visible', timeout: STEP_MS });
}

/** Hovers the first JWT-shaped text on `line` (1-based) of the open editor: Ctrl+K Ctrl+I. */
async function hoverAt(page, line, column, hasText) {
    const editor = page.locator('.editor-instance .monaco-editor').first();
    await editor.locator('.view-lines').click();
    await page.keyboard.press('Control+G');
    const input = await quickInput(page);
    await input.fill(`:${line}:${column}`);
    await input.press('Enter');
    await page.keyboard.press('Control+K');
    await page.keyboard.press('Control+I');
    const hover = page.locator('.monaco-hover', { hasText }).first();
    await hover.waitFor({ state: 'visible', timeout: STEP_MS });
    return (await hover.innerText()).trim();
}

/** Runs "MicroStax: Configure Platform…" for a URL and an environment name. */
async function configurePlatform(page, url, name) {
    await runCommand(page, 'MicroStax: Configure Platform…');
    await pick(page, 'A platform at a URL');
    let input = await quickInput(page);
    await page.locator('.quick-input-widget', { hasText: 'base URL of the platform' }).first().waitFor({ state: 'visible', timeout: STEP_MS });
    await input.fill(url);
    await input.press('Enter');
    await page.locator('.quick-input-widget', { hasText: 'A name for this environment' }).first().waitFor({ state: 'visible', timeout: STEP_MS });
    input = await quickInput(page);
    await input.fill(name);
    await input.press('Enter');
    const done = await toast(page, `environment ${name}`);
    return (await done.innerText()).trim();
}

/** microstax.python names no usable Python: the error says so, with Open Settings; the daemon is stopped. */
async function badPython(page) {
    step('bad python: notification');
    const note = await toast(page, 'cannot start the daemon');
    result.notifications.badPython = (await note.innerText()).trim();
    await note.locator('.monaco-button', { hasText: 'Open Settings' }).first().waitFor({ state: 'visible', timeout: STEP_MS });
    result.statusTexts.badPython = await waitForStatus(page, /daemon stopped/, 'daemon stopped');
    result.statusColours = { badPython: await page.locator(STATUS_ITEM).evaluate((el) => getComputedStyle(el).backgroundColor) };
    await openView(page);
    const welcome = page.locator('.part.sidebar .welcome-view-content', { hasText: 'daemon is not running' }).first();
    await welcome.waitFor({ state: 'visible', timeout: STEP_MS });
    result.welcome = (await welcome.innerText()).trim();
    await shot(page, 'bad-python');
    step('bad python: Open Settings');
    await note.locator('.monaco-button', { hasText: 'Open Settings' }).first().click();
    const setting = page.locator('.settings-editor .setting-item-contents', { hasText: 'Python interpreter that has the' }).first();
    await setting.waitFor({ state: 'visible', timeout: STEP_MS });
    result.settingShown = (await setting.innerText()).trim();
}

async function states(page) {
    const DOWN_URL = env('MSX_DOWN_URL');
    const PLATFORM_URL = env('MSX_PLATFORM_URL');

    // 1. First run: nothing configured. The status bar is neutral; the view welcomes.
    step('first run: status bar');
    result.statusTexts.firstRun = await waitForStatus(page, /MicroStax: Sign in/, 'signed out, neutral');
    result.daemons = daemonCommands();
    result.statusColours = { firstRun: await page.locator(STATUS_ITEM).evaluate((el) => getComputedStyle(el).backgroundColor) };
    step('first run: welcome view');
    await openView(page);
    const welcome = page.locator('.part.sidebar .welcome-view-content', { hasText: 'Start Local Platform' }).first();
    await welcome.waitFor({ state: 'visible', timeout: STEP_MS });
    result.welcome = (await welcome.innerText()).trim();
    await shot(page, 'first-run');

    step('walkthrough');
    await runCommand(page, 'Welcome: Open Walkthrough...');
    await pick(page, 'Get started with MicroStax Identity');
    const walk = page.locator('.gettingStartedContainer', { hasText: 'Choose or start a platform' }).first();
    await walk.waitFor({ state: 'visible', timeout: STEP_MS });
    result.walkthrough = (await walk.innerText()).trim();
    // The step's Markdown renders in a webview: wait for it before the screenshot.
    await page.locator('.gettingStartedContainer .getting-started-media iframe, .gettingStartedContainer iframe.webview').first().waitFor({ state: 'visible', timeout: STEP_MS });
    await page.frameLocator('.gettingStartedContainer iframe').first().frameLocator('iframe').first().locator('text=The daemon').first().waitFor({ state: 'visible', timeout: STEP_MS });
    await shot(page, 'walkthrough');
    await runCommand(page, 'View: Close All Editors');

    // 2. Configure Platform: the live one (the default), then one that is down.
    step('configure platform (live)');
    result.notifications.configured = await configurePlatform(page, PLATFORM_URL, ENVIRONMENT);
    await clearNotifications(page);
    step('configure platform (down)');
    result.notifications.configuredDown = await configurePlatform(page, DOWN_URL, 'down');
    await clearNotifications(page);

    // 3. Platform down: the view and the cluster step say so, with Retry.
    step('platform down: view');
    await openView(page);
    const downRow = page.locator('.part.sidebar .monaco-list-row', { hasText: 'Platform unreachable' }).first();
    await downRow.waitFor({ state: 'visible', timeout: STEP_MS });
    result.viewDown = (await downRow.innerText()).trim();
    await downRow.hover();
    await shot(page, 'platform-down-view');
    step('platform down: cluster step');
    await runCommand(page, 'MicroStax: Federate Identity Token…');
    await pick(page, 'down');
    const retry = page.locator('.quick-input-widget .monaco-list-row', { hasText: 'Retry' }).first();
    await retry.waitFor({ state: 'visible', timeout: STEP_MS });
    result.pickDown = (await page.locator('.quick-input-widget .quick-input-list').first().innerText()).trim();
    await shot(page, 'platform-down-pick');
    await page.keyboard.press('Escape');

    // 4. Sign in to the live platform: who, where, for how long.
    step('sign in');
    await runCommand(page, 'MicroStax: Sign In');
    const signedInRe = new RegExp(`@${ENVIRONMENT} · (\\d+[mhd]|<1m) left`);
    result.statusTexts.signedIn = await waitForStatus(page, signedInRe, 'signed in');
    await clearNotifications(page);
    await statusBarShot(page, 'statusbar-signed-in');

    // 5. A malformed token: a card and a diagnostic that say what is wrong.
    step('malformed token: hover');
    await openExplorer(page);
    await page.locator('.explorer-folders-view .monaco-list-row', { hasText: 'malformed.txt' }).first().click();
    const editor = page.locator('.editor-instance .monaco-editor').first();
    await editor.locator('.view-line', { hasText: 'eyJ' }).first().waitFor({ state: 'visible', timeout: STEP_MS });
    await editor.locator('.squiggly-warning').first().waitFor({ state: 'attached', timeout: STEP_MS });
    result.malformedHover = await hoverAt(page, 1, 20, 'Malformed JWT');
    await shot(page, 'malformed-hover');
    await page.keyboard.press('Escape');
    await runCommand(page, 'View: Close All Editors');

    // 6. The platform stops; the session runs out: status bar, tooltip, view and a notification agree.
    step('stop the platform; wait for the session to expire');
    process.kill(-Number(env('MSX_PLATFORM_PGID')), 'SIGTERM');
    const expiredRe = /session expired/;
    const item = page.locator(STATUS_ITEM);
    await item.filter({ hasText: expiredRe }).waitFor({ state: 'visible', timeout: 150_000 });
    result.statusTexts.expired = await statusText(page);
    const note = await toast(page, 'has expired');
    await note.locator('.monaco-button', { hasText: 'Sign In' }).first().waitFor({ state: 'visible', timeout: STEP_MS });
    result.notifications.expired = (await note.innerText()).trim();
    await openView(page);
    const envRow = page.locator('.part.sidebar .monaco-list-row', { hasText: 'session expired' }).first();
    await envRow.waitFor({ state: 'visible', timeout: STEP_MS });
    result.viewExpired = (await envRow.innerText()).trim();
    await item.hover();
    const tip = page.locator('.monaco-hover', { hasText: 'expired' }).first();
    await tip.waitFor({ state: 'visible', timeout: STEP_MS });
    result.statusTooltip = (await tip.innerText()).trim();
    await shot(page, 'session-expired');
}

async function clearNotifications(page) {
    await runCommand(page, 'Notifications: Clear All Notifications');
    await page.locator('.notifications-toasts .notification-toast').first().waitFor({ state: 'hidden', timeout: STEP_MS }).catch(() => undefined);
}

async function main() {
    const context = await chromium.launchPersistentContext(env('MSX_PROFILE'), {
        executablePath: env('MSX_CHROMIUM'),
        headless: true,
        viewport: { width: 1400, height: 860 },
        args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
        permissions: ['clipboard-read', 'clipboard-write'],
    });
    const page = context.pages()[0] ?? (await context.newPage());
    page.setDefaultTimeout(STEP_MS);
    try {
        step('open workbench');
        await page.goto(env('MSX_URL'));
        await page.locator('.monaco-workbench').waitFor({ state: 'visible', timeout: STEP_MS });
        await page.locator('.explorer-folders-view .monaco-list-row').first().waitFor({ state: 'visible', timeout: STEP_MS });
        if (SCENARIO === 'private-environment') {
            await privateEnvironment(page);
            step('done');
            result.ok = true;
            return;
        }
        if (SCENARIO === 'bad-python') {
            await badPython(page);
            step('done');
            result.ok = true;
            return;
        }
        if (SCENARIO === 'states') {
            await states(page);
            step('done');
            result.ok = true;
            return;
        }

        // 1. The daemon is up: the status bar shows an identity state (signed in or out).
        step('wait for the daemon (status bar)');
        const signedInRe = new RegExp(`@${ENVIRONMENT} · (\\d+[mhd]|<1m)`);
        const signedOutRe = /MicroStax: Sign in/;
        let text = await waitForStatus(page, new RegExp(`${signedInRe.source}|${signedOutRe.source}`), 'an identity');
        result.statusTexts.initial = text;
        if (signedInRe.test(text)) {
            step('signed in from an earlier run: sign out first');
            await runCommand(page, 'MicroStax: Sign Out');
            await waitForStatus(page, signedOutRe, 'signed out');
        }

        // 2. Sign in (device flow; the dev platform approves on loopback without a browser).
        step('sign in');
        await runCommand(page, 'MicroStax: Sign In');
        text = await waitForStatus(page, signedInRe, 'the signed-in identity');
        result.statusTexts.signedIn = text;
        await clearNotifications(page);
        await statusBarShot(page, 'statusbar');
        await page.locator(STATUS_ITEM).hover();
        const tooltip = page.locator('.monaco-hover', { hasText: 'Signed in as' }).first();
        await tooltip.waitFor({ state: 'visible', timeout: STEP_MS });
        result.statusTooltip = (await tooltip.innerText()).trim();
        await shot(page, 'statusbar-tooltip');
        await page.mouse.move(700, 300);
        await page.keyboard.press('Escape');

        // 2b. The daemon dies: it is restarted, the user is told once, the identity comes back.
        step('kill the daemon');
        const before = daemonPids();
        if (before.length !== 1) throw new Error(`expected one daemon process, found ${JSON.stringify(before)}`);
        process.kill(before[0], 'SIGKILL');
        const crash = await toast(page, 'daemon stopped unexpectedly and was restarted');
        result.notifications.crash = (await crash.innerText()).trim();
        await crash.locator('.monaco-button', { hasText: 'Show Logs' }).first().waitFor({ state: 'visible', timeout: STEP_MS });
        result.statusTexts.afterRestart = await waitForStatus(page, signedInRe, 'the identity after the restart');
        const after = daemonPids();
        if (after.length !== 1 || after[0] === before[0]) throw new Error(`daemon not restarted: ${before} → ${after}`);
        await clearNotifications(page);

        // 3. Federate through the palette and the quick picks.
        step('federate: palette');
        await runCommand(page, 'MicroStax: Federate Identity Token…');
        step('federate: environment (asked only when there is more than one)');
        await pickEnvironmentIfAsked(page, 'palette-1-environment');
        step('federate: cluster');
        await pick(page, CLUSTER, 'palette-2-cluster');
        step('federate: service');
        await pick(page, SERVICE, 'palette-3-service');
        step('federate: notification');
        const done = await toast(page, 'Token copied to the clipboard');
        result.notifications.federated = (await done.innerText()).trim();
        const decode = done.locator('.monaco-button', { hasText: 'Decode' }).first();
        await decode.waitFor({ state: 'visible', timeout: STEP_MS });
        await page.locator('.notifications-toasts .notification-toast', { hasText: 'exchanging a token' }).waitFor({ state: 'hidden', timeout: STEP_MS });
        await shot(page, 'federated');
        result.clipboard = await page.evaluate(() => navigator.clipboard.readText());
        step(`clipboard holds ${result.clipboard.length} chars`);

        // "Decode" opens a read-only document from the daemon's description.
        step('decode');
        await decode.click();
        const decoded = page.locator('.editor-instance .view-lines', { hasText: 'spiffe://' }).first();
        await decoded.waitFor({ state: 'visible', timeout: STEP_MS });
        await page.locator('.tab', { hasText: 'decoded-token-' }).first().waitFor({ state: 'visible', timeout: STEP_MS });
        result.decoded = (await decoded.innerText()).trim();
        await clearNotifications(page);
        await shot(page, 'decoded');
        await runCommand(page, 'View: Close All Editors');

        // The view: environments → clusters, with the new token's state.
        step('view');
        await openView(page);
        const clusterRow = page.locator('.monaco-list-row', { hasText: CLUSTER }).filter({ hasText: `${SERVICE} · ` }).first();
        await clusterRow.waitFor({ state: 'visible', timeout: STEP_MS });
        result.viewRow = (await clusterRow.innerText()).trim();
        await clusterRow.hover();
        await shot(page, 'view');
        await openExplorer(page);

        // 4. Hover a JWT in a file: its subject and both verdicts.
        step('hover');
        await page.locator('.explorer-folders-view .monaco-list-row', { hasText: TOKEN_FILE }).first().click();
        const editor = page.locator('.editor-instance .monaco-editor').first();
        await editor.locator('.view-line', { hasText: 'eyJ' }).first().waitFor({ state: 'visible', timeout: STEP_MS });
        await editor.locator('.view-lines').click();
        const deadline = Date.now() + STEP_MS;
        let card = '';
        for (;;) {
            await page.keyboard.press('Control+Home');
            await page.keyboard.press('End');
            for (let i = 0; i < 8; i++) await page.keyboard.press('ArrowLeft');
            await page.keyboard.press('Control+K');
            await page.keyboard.press('Control+I');
            const hover = page.locator('.monaco-hover', { hasText: 'Classical' }).first();
            try {
                await hover.waitFor({ state: 'visible', timeout: 10_000 });
                card = (await hover.innerText()).trim();
            } catch {
                card = '';
            }
            if (/✓ verified[\s\S]*✓ verified/.test(card) || Date.now() > deadline) break;
            // Keys still loading in the daemon: close the hover and ask again.
            await page.keyboard.press('Escape');
            await page.locator('.monaco-hover', { hasText: 'Classical' }).first().waitFor({ state: 'hidden', timeout: STEP_MS }).catch(() => undefined);
        }
        result.hover = card;
        await shot(page, 'hover');
        // The card's links name the token's position; Copy Claims puts its claims on the clipboard.
        step('hover: Copy Claims');
        await page.locator('.monaco-hover a', { hasText: 'Copy Claims' }).first().click();
        await toast(page, 'claims (decoded, not verified) are on the clipboard');
        result.claims = await page.evaluate(() => navigator.clipboard.readText());
        await clearNotifications(page);
        await page.keyboard.press('Escape');

        // 5. Sign out: the status bar changes.
        step('sign out');
        await runCommand(page, 'MicroStax: Sign Out');
        text = await waitForStatus(page, signedOutRe, 'signed out');
        result.statusTexts.signedOut = text;
        await clearNotifications(page);
        await statusBarShot(page, 'statusbar-signed-out');
        await shot(page, 'workbench-signed-out');

        // 6. Federating while signed out: the daemon's NOT_SIGNED_IN offers "Sign In".
        step('federate while signed out');
        await runCommand(page, 'MicroStax: Federate Identity Token…');
        await pickEnvironmentIfAsked(page);
        await pick(page, CLUSTER);
        await pick(page, SERVICE);
        const refused = await toast(page, 'Sign In');
        await refused.locator('.monaco-button', { hasText: 'Sign In' }).first().waitFor({ state: 'visible', timeout: STEP_MS });
        await refused.locator('.monaco-button', { hasText: 'Show Logs' }).first().waitFor({ state: 'visible', timeout: STEP_MS });
        result.notifications.notSignedIn = (await refused.innerText()).trim();
        await shot(page, 'not-signed-in');
        await clearNotifications(page);
        step('done');
        result.ok = true;
    } catch (err) {
        result.ok = false;
        result.error = String(err?.stack ?? err);
        try {
            await shot(page, 'failure');
        } catch {
            // the page may be gone
        }
    } finally {
        result.totalMs = Date.now() - t0;
        writeFileSync(env('MSX_RESULT'), JSON.stringify(result, null, 2));
        await context.close();
    }
    if (!result.ok) {
        console.error(result.error);
        process.exit(1);
    }
}

main().catch((err) => {
    console.error(err);
    process.exit(2);
});
