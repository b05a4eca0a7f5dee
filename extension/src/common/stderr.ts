/**
 * The daemon's stderr, line by line, into the log channel at a sensible level. The daemon logs
 * to stderr *and* `window/logMessage` (which the client shows at its own level), so stderr
 * lines in the Python logging format go to `debug` unless they are warnings or errors; anything
 * else (a traceback, a crash before logging is set up) is shown as a warning. Once the daemon
 * sends its log over LSP (`lspLogging`), its warnings and errors arrive there too: the stderr
 * copy goes to `debug`, so each appears once in the channel.
 */

export type LineLevel = 'error' | 'warn' | 'debug';

const LOGGING_LINE = /^\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:[,.]\d+)?\s+(CRITICAL|FATAL|ERROR|WARNING|WARN|INFO|DEBUG)\b/;

export function stderrLevel(line: string, lspLogging = false): LineLevel {
    const m = LOGGING_LINE.exec(line);
    if (!m) {
        return 'warn';
    }
    if (lspLogging) {
        return 'debug';
    }
    switch (m[1]) {
        case 'CRITICAL':
        case 'FATAL':
        case 'ERROR':
            return 'error';
        case 'WARNING':
        case 'WARN':
            return 'warn';
        default:
            return 'debug';
    }
}
