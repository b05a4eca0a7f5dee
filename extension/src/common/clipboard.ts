/** When to clear a copied token from the clipboard. */

/** setTimeout's largest delay. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** Milliseconds until the copied token expires, or undefined when there is nothing to schedule. */
export function clearDelayMs(secondsLeft: number | undefined, enabled: boolean): number | undefined {
    if (!enabled || secondsLeft === undefined || secondsLeft === null || !Number.isFinite(secondsLeft)) {
        return undefined;
    }
    if (secondsLeft <= 0) {
        return 0;
    }
    return Math.min(Math.ceil(secondsLeft * 1000), MAX_TIMER_MS);
}

/** Extracts the token the user means from a selection or the clipboard: trims whitespace and a `Bearer ` prefix. */
export function tokenFromText(text: string | undefined): string | undefined {
    if (!text) {
        return undefined;
    }
    let t = text.trim();
    if (/^bearer\s+/i.test(t)) {
        t = t.replace(/^bearer\s+/i, '');
    }
    t = t.replace(/^["']|["']$/g, '').trim();
    return t.length > 0 ? t : undefined;
}

/** A JWT-shaped run of text, for "the token under the cursor". */
export const JWT_SHAPE = /[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*/;

const JWT_RUN = /[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*/g;

/**
 * The JWT-shaped run of `line` that covers `character` (0-based), or undefined. Scans the line
 * itself: VS Code's word lookup gives up on words longer than about 1000 characters, and
 * tokens are 5-6 KB.
 */
export function tokenAround(line: string, character: number): { start: number; end: number; token: string } | undefined {
    for (const m of line.matchAll(JWT_RUN)) {
        const start = m.index ?? 0;
        const end = start + m[0].length;
        if (character >= start && character <= end) {
            return { start, end, token: m[0] };
        }
        if (start > character) {
            break;
        }
    }
    return undefined;
}
