/**
 * THE one formatter of durations and relative times in the extension (`formatRelative`), worded
 * as the daemon words them (jose/describe.py `humanize_seconds` and `relative`), so the status
 * bar, tooltips, the view and notifications read like the daemon's hover cards:
 *
 *   the two largest units, no zero parts   "42s", "4m 12s", "1h 5m", "2h", "2d 3h"
 *   style `left` (the default)             "14m left" / "expired 3m ago"
 *   style `relative`                        "in 4m 12s" / "3m ago"
 *   style `duration`                        "4m 12s" (the sign is ignored)
 *
 * Precision `minutes` (the status bar and the view, which re-render once a minute) leaves out
 * seconds: "14m", and "<1m" under a minute. No vscode import.
 */

export type TimeStyle = 'left' | 'relative' | 'duration';
export type TimePrecision = 'seconds' | 'minutes';

export interface TimeFormat {
    style?: TimeStyle;
    precision?: TimePrecision;
}

const UNITS: readonly [string, number, string, number][] = [
    ['d', 86400, 'h', 3600],
    ['h', 3600, 'm', 60],
    ['m', 60, 's', 1],
];

function span(totalSeconds: number, precision: TimePrecision): string {
    const total = Math.floor(Math.abs(totalSeconds));
    if (total < 60) {
        return precision === 'minutes' ? '<1m' : `${total}s`;
    }
    for (const [big, bigSize, small, smallSize] of UNITS) {
        if (total >= bigSize) {
            const count = Math.floor(total / bigSize);
            const part = small === 's' && precision === 'minutes' ? 0 : Math.floor((total % bigSize) / smallSize);
            return part ? `${count}${big} ${part}${small}` : `${count}${big}`;
        }
    }
    return `${total}s`; // unreachable: total >= 60
}

/**
 * `seconds` from now (negative: in the past) in words; see the module comment for the styles.
 * A time that is not a finite number has no expiry to speak of.
 */
export function formatRelative(seconds: number, { style = 'left', precision = 'seconds' }: TimeFormat = {}): string {
    if (!Number.isFinite(seconds)) {
        return Number.isNaN(seconds) ? 'unknown' : 'no expiry';
    }
    const text = span(seconds, precision);
    switch (style) {
        case 'duration':
            return text;
        case 'relative':
            return seconds >= 0 ? `in ${text}` : `${text} ago`;
        default:
            return seconds > 0 ? `${text} left` : `expired ${text} ago`;
    }
}

/**
 * Seconds left now, given what the daemon said (`secondsLeft`) and when we heard it. The
 * daemon's number is the truth; this only counts down between its notifications.
 */
export function secondsLeftNow(secondsLeft: number | undefined, receivedAtMs: number, nowMs: number): number | undefined {
    if (secondsLeft === undefined || secondsLeft === null || Number.isNaN(secondsLeft)) {
        return undefined;
    }
    return secondsLeft - (nowMs - receivedAtMs) / 1000;
}

/** Milliseconds until the `minutes`-precision text of `secondsLeft` would change (so it can re-render then). */
export function msUntilCompactChange(secondsLeft: number): number {
    if (secondsLeft <= 0) {
        return Number.POSITIVE_INFINITY;
    }
    if (secondsLeft < 60) {
        return Math.ceil(secondsLeft * 1000);
    }
    // Text changes when the whole-minute count drops.
    const intoMinute = secondsLeft % 60;
    return Math.max(1000, Math.ceil(intoMinute * 1000) + 1);
}
