import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { formatRelative } from '../src/common/time';

const minutes = { precision: 'minutes' } as const;

test('time left: seconds, minutes, hours and minutes, days (the daemon\'s humanize_seconds)', () => {
    assert.equal(formatRelative(1), '1s left');
    assert.equal(formatRelative(59.9), '59s left');
    assert.equal(formatRelative(60), '1m left');
    assert.equal(formatRelative(252), '4m 12s left');
    assert.equal(formatRelative(750), '12m 30s left', 'seconds are kept under an hour, as the daemon keeps them');
    assert.equal(formatRelative(3599), '59m 59s left');
    assert.equal(formatRelative(3600), '1h left', 'no zero parts');
    assert.equal(formatRelative(3659), '1h left', 'the two largest units only');
    assert.equal(formatRelative(3900), '1h 5m left');
    assert.equal(formatRelative(86399), '23h 59m left');
    assert.equal(formatRelative(86400), '1d left');
    assert.equal(formatRelative(183600), '2d 3h left');
    assert.equal(formatRelative(183659), '2d 3h left');
});

test('time left at minutes precision (status bar, view): "<1m" under a minute, no seconds', () => {
    assert.equal(formatRelative(0.5, minutes), '<1m left');
    assert.equal(formatRelative(59, minutes), '<1m left');
    assert.equal(formatRelative(60, minutes), '1m left');
    assert.equal(formatRelative(2579, minutes), '42m left', 'floored: never more time than there is');
    assert.equal(formatRelative(3600, minutes), '1h left');
    assert.equal(formatRelative(3900, minutes), '1h 5m left');
    assert.equal(formatRelative(183600, minutes), '2d 3h left');
});

test('past times: "expired 3m ago"; the end itself is expired', () => {
    assert.equal(formatRelative(0), 'expired 0s ago');
    assert.equal(formatRelative(-42), 'expired 42s ago');
    assert.equal(formatRelative(-180), 'expired 3m ago');
    assert.equal(formatRelative(-7140), 'expired 1h 59m ago');
    assert.equal(formatRelative(-90000), 'expired 1d 1h ago');
    assert.equal(formatRelative(-30, minutes), 'expired <1m ago');
    assert.equal(formatRelative(-199, minutes), 'expired 3m ago');
});

test('relative and duration styles (the daemon\'s "in 4m 12s" / "3h ago")', () => {
    assert.equal(formatRelative(252, { style: 'relative' }), 'in 4m 12s');
    assert.equal(formatRelative(0, { style: 'relative' }), 'in 0s');
    assert.equal(formatRelative(-10800, { style: 'relative' }), '3h ago');
    assert.equal(formatRelative(-10800, { style: 'duration' }), '3h');
    assert.equal(formatRelative(180, { style: 'duration' }), '3m');
    assert.equal(formatRelative(30, { style: 'duration', precision: 'minutes' }), '<1m');
});

test('times that are not finite numbers', () => {
    assert.equal(formatRelative(Number.POSITIVE_INFINITY), 'no expiry');
    assert.equal(formatRelative(Number.NaN), 'unknown');
});

test('formatRelative is the only formatter of durations in src/', () => {
    // Time units computed by hand anywhere else would drift from the daemon's wording.
    const offenders: string[] = [];
    const walk = (dir: string): void => {
        for (const entry of readdirSync(dir, { withFileTypes: true })) {
            const path = join(dir, entry.name);
            if (entry.isDirectory()) {
                walk(path);
            } else if (path.endsWith('.ts') && !path.endsWith(join('common', 'time.ts'))) {
                readFileSync(path, 'utf8').split('\n').forEach((line, i) => {
                    const code = line.replace(/\/\/.*$/, '').trim();
                    if (code.startsWith('*') || code.startsWith('/*')) {
                        return; // a comment
                    }
                    if (/\/\s*(60|3600|86400|60_000|3_600_000)\b|%\s*(60|3600)\b|\b(minutes|seconds) (left|ago)\b|\bago`|} left`/.test(code)) {
                        offenders.push(`${path}:${i + 1}: ${line.trim()}`);
                    }
                });
            }
        }
    };
    walk(join(__dirname, '..', '..', 'src'));
    assert.deepEqual(offenders, []);
});
