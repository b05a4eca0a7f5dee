/**
 * Which sessions ended by expiring, from the statuses the daemon sends. The daemon says only
 * "signed in" or not; a session that was signed in, reached its `expiresAt`, and is now signed
 * out has expired (not signed out by the user, and not signed out from a terminal before its
 * time). The status bar, the view and the notification all read this one answer. No vscode import.
 */
import type { IdentityStatus } from './protocol';

/** A status may arrive a little before the clock says the session ended. */
const EXPIRY_SLACK_MS = 5_000;

interface Seen {
    signedIn: boolean;
    /** When the session ends, by our clock (ms since epoch). */
    endsAtMs?: number;
}

export class SessionTracker {
    private readonly seen = new Map<string, Seen>();
    private readonly expired = new Set<string>();

    /**
     * Records a status; returns true exactly once per expiry (the moment to notify).
     * @param receivedAtMs when the status arrived; `secondsLeft` counts from then.
     */
    observe(s: IdentityStatus, receivedAtMs: number): boolean {
        const prev = this.seen.get(s.environment);
        const endsAtMs = s.signedIn && typeof s.secondsLeft === 'number' ? receivedAtMs + s.secondsLeft * 1000 : undefined;
        this.seen.set(s.environment, { signedIn: s.signedIn, endsAtMs });
        if (s.signedIn && typeof s.secondsLeft === 'number' && s.secondsLeft <= 0) {
            // Signed in by the book (it could be renewed), but the session has run out and the
            // renewal has not happened (the platform is down?): for the user, it has expired.
            if (this.expired.has(s.environment)) {
                return false;
            }
            this.expired.add(s.environment);
            return true;
        }
        if (s.signedIn) {
            this.expired.delete(s.environment);
            return false;
        }
        if (prev?.signedIn && prev.endsAtMs !== undefined && prev.endsAtMs <= receivedAtMs + EXPIRY_SLACK_MS && !this.expired.has(s.environment)) {
            this.expired.add(s.environment);
            return true;
        }
        return false;
    }

    isExpired(environment: string): boolean {
        return this.expired.has(environment);
    }

    /** The user signed out (or in): whatever happened before is no longer "expired". */
    forget(environment: string): void {
        this.expired.delete(environment);
        this.seen.delete(environment);
    }
}
