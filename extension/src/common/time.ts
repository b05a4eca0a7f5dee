/** Durations for people: "4m 12s", "1h 5m", "2d 3h". No vscode import. */

export function formatDuration(totalSeconds: number): string {
    const s = Math.max(0, Math.floor(totalSeconds));
    const d = Math.floor(s / 86400);
    const h = Math.floor((s % 86400) / 3600);
    const m = Math.floor((s % 3600) / 60);
    const sec = s % 60;
    if (d > 0) {
        return h > 0 ? `${d}d ${h}h` : `${d}d`;
    }
    if (h > 0) {
        return m > 0 ? `${h}h ${m}m` : `${h}h`;
    }
    if (m > 0) {
        return sec > 0 && m < 10 ? `${m}m ${sec}s` : `${m}m`;
    }
    return `${sec}s`;
}

/** Compact form for the status bar: minutes resolution, "<1m" in the last minute. */
export function formatCompact(totalSeconds: number): string {
    const s = Math.floor(totalSeconds);
    if (s <= 0) {
        return 'expired';
    }
    if (s < 60) {
        return '<1m';
    }
    const d = Math.floor(s / 86400);
    const h = Math.floor((s % 86400) / 3600);
    const m = Math.floor((s % 3600) / 60);
    if (d > 0) {
        return `${d}d ${h}h`;
    }
    if (h > 0) {
        return `${h}h ${m}m`;
    }
    return `${m}m`;
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

/** Milliseconds until `formatCompact` would print something else (so the text can re-render then). */
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
