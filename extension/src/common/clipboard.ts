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
