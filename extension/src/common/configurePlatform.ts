/**
 * "MicroStax: Configure Platform…": checks on what the user types before the daemon writes the
 * config file (the daemon checks again: these only give the input box a message). No vscode import.
 */

export const LOCAL_PLATFORM = 'http://127.0.0.1:8411';
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/;
const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);

/** An error message for the input box, or undefined when the URL is acceptable. */
export function platformUrlProblem(text: string): string | undefined {
    const value = text.trim();
    if (!value) {
        return 'The platform URL, e.g. https://identity.example.com';
    }
    let url: URL;
    try {
        url = new URL(value);
    } catch {
        return 'Not a URL: it starts with https:// (or http:// on this machine)';
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') {
        return 'Only https:// (or http:// on this machine) URLs';
    }
    if (url.protocol === 'http:' && !LOOPBACK.has(url.hostname)) {
        return 'Plain http:// is only for a platform on this machine; use https://';
    }
    if (url.search || url.hash || url.username || url.password) {
        return 'A platform URL has no query, fragment or credentials';
    }
    return undefined;
}

export function environmentNameProblem(text: string, existing: readonly string[] = []): string | undefined {
    const value = text.trim();
    if (!NAME_RE.test(value)) {
        return "Letters, digits, '-' and '_', starting with a letter or digit";
    }
    if (existing.includes(value)) {
        return `An environment named ${value} is already configured`;
    }
    return undefined;
}

/** A name to suggest: `dev` for a local platform, else the host's first label (`identity-example`). */
export function suggestEnvironmentName(platform: string, existing: readonly string[] = []): string {
    let base = 'dev';
    try {
        const url = new URL(platform.trim());
        if (!LOOPBACK.has(url.hostname)) {
            base = url.hostname.split('.')[0].replace(/[^A-Za-z0-9_-]/g, '-').replace(/^[-_]+/, '') || 'platform';
        }
    } catch {
        // keep the default
    }
    base = base.slice(0, 60);
    if (!existing.includes(base)) {
        return base;
    }
    for (let i = 2; ; i++) {
        if (!existing.includes(`${base}-${i}`)) {
            return `${base}-${i}`;
        }
    }
}
