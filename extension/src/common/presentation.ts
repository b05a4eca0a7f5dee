/**
 * What the status bar, the tree view and the notifications say, computed from the daemon's
 * shapes. No vscode import: colours are names the vscode layer maps to ThemeColors.
 */
import type { ClassicalVerdict, ClusterState, Environment, FederateResult, IdentityStatus, PqVerdict, TokenSummary } from './protocol';
import { formatCompact, formatDuration, msUntilCompactChange, secondsLeftNow } from './time';

export type DaemonState = 'starting' | 'running' | 'stopped' | 'failed';
export type StatusColour = 'normal' | 'warning' | 'error';

/** Below this many seconds left the status bar turns to the warning colour. */
export const WARN_SECONDS = 300;
const MAX_SUBJECT = 32;

export interface StatusPresentation {
    text: string;
    colour: StatusColour;
    /** Markdown. */
    tooltip: string;
    /** Milliseconds until the text should be rendered again (countdown), or Infinity. */
    refreshInMs: number;
}

export interface StatusInput {
    daemon: DaemonState;
    identity?: IdentityStatus;
    /** When `identity` arrived (ms since epoch). */
    receivedAtMs?: number;
    nowMs: number;
    name?: string;
}

export function shorten(text: string, max = MAX_SUBJECT): string {
    return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/** Markdown-escape text that comes from the daemon (subjects, cluster names). */
export function mdEscape(text: string): string {
    return text.replace(/[\\`*_{}[\]()#+\-.!|<>]/g, '\\$&');
}

export function presentStatus(input: StatusInput): StatusPresentation {
    const name = input.name ?? 'MicroStax Identity';
    const actions = '\n\n*Click for MicroStax actions.*';
    if (input.daemon === 'starting') {
        return { text: '$(sync~spin) MicroStax', colour: 'normal', tooltip: `**${name}**\n\nStarting the daemon…`, refreshInMs: Infinity };
    }
    if (input.daemon === 'stopped' || input.daemon === 'failed') {
        return {
            text: '$(error) MicroStax: daemon stopped',
            colour: 'error',
            tooltip: `**${name}**\n\nThe daemon is not running. Use *MicroStax: Restart Daemon* or see *MicroStax: Show Logs*.${actions}`,
            refreshInMs: Infinity,
        };
    }
    const id = input.identity;
    if (!id) {
        return { text: '$(key) MicroStax', colour: 'normal', tooltip: `**${name}**\n\nAsking the daemon who you are…`, refreshInMs: Infinity };
    }
    const env = id.environment;
    if (!id.signedIn) {
        return {
            text: `$(circle-slash) MicroStax: signed out (${env})`,
            colour: 'error',
            tooltip: `**${name}**\n\nNot signed in to **${mdEscape(env)}**. Use *MicroStax: Sign In*.${clusterLines(id.clusters, input)}${actions}`,
            refreshInMs: Infinity,
        };
    }
    const subject = id.subject ?? id.label;
    const left = secondsLeftNow(id.secondsLeft, input.receivedAtMs ?? input.nowMs, input.nowMs);
    let colour: StatusColour = 'normal';
    let icon = '$(verified)';
    let timeText = '';
    let refreshInMs = Infinity;
    if (left !== undefined) {
        timeText = ` · ${formatCompact(left)}`;
        refreshInMs = msUntilCompactChange(left);
        if (left <= 0) {
            colour = 'error';
            icon = '$(error)';
        } else if (left <= WARN_SECONDS) {
            colour = 'warning';
            icon = '$(warning)';
        }
    }
    const lines = [`**${name}**`, '', `Signed in as \`${subject.replace(/`/g, "'")}\` to **${mdEscape(env)}**`];
    if (id.issuer) {
        lines.push('', `Issuer: ${mdEscape(id.issuer)}`);
    }
    if (left !== undefined) {
        const when = id.expiresAt ? ` (${id.expiresAt})` : '';
        lines.push('', left > 0 ? `Session ends in ${formatDuration(left)}${when}` : `Session expired${when}`);
    }
    if (id.summary) {
        lines.push('', mdEscape(id.summary));
    }
    return {
        text: `${icon} ${shorten(subject)} · ${env}${timeText}`,
        colour,
        tooltip: lines.join('\n') + clusterLines(id.clusters, input) + actions,
        refreshInMs,
    };
}

function clusterLines(clusters: ClusterState[] | undefined, input: StatusInput): string {
    if (!clusters || clusters.length === 0) {
        return '';
    }
    const rows = clusters.map((c) => {
        const status = c.status === 'down' || c.status === 'degraded' ? ` (${c.status})` : '';
        return `- ${mdEscape(c.name)}${status}: ${clusterTokenText(c, input.receivedAtMs ?? input.nowMs, input.nowMs)}`;
    });
    return `\n\n${rows.join('\n')}`;
}

/** "exchanged (default) · 4m 12s left", "not exchanged", "failed (network): …". */
export function clusterTokenText(c: ClusterState, receivedAtMs: number, nowMs: number): string {
    const t = c.token;
    switch (t.state) {
        case 'exchanged': {
            const left = secondsLeftNow(t.secondsLeft, receivedAtMs, nowMs);
            const svc = t.service ? ` (${t.service})` : '';
            if (left === undefined) {
                return `exchanged${svc}`;
            }
            return left > 0 ? `exchanged${svc} · ${formatDuration(left)} left` : `expired${svc}`;
        }
        case 'failed':
            return t.failure ? `failed (${t.failure.kind}): ${t.failure.message}` : 'failed';
        default:
            return 'not exchanged';
    }
}

/** Codicon of the cluster's catalog status; a status this client does not know is `unknown`. */
export function clusterStatusIcon(c: ClusterState): string {
    switch (c.status) {
        case 'up':
            return 'pass';
        case 'down':
            return 'error';
        case 'degraded':
            return 'warning';
        default:
            return 'question';
    }
}

/** The cluster's catalog status in words (tooltips). */
export function clusterStatusText(c: ClusterState): string {
    switch (c.status) {
        case 'up':
        case 'down':
            return c.status;
        case 'degraded':
            return 'degraded (up, but some of its services are failing)';
        default:
            return 'unknown';
    }
}

/** A verdict of the classical signature in words. */
export function classicalVerdictText(v: ClassicalVerdict): string {
    switch (v) {
        case 'unverifiable':
            return 'unverifiable offline';
        case 'not_checked':
            return 'not checked';
        default:
            return v;
    }
}

/** A verdict of the post-quantum signature in words. */
export function pqVerdictText(v: PqVerdict): string {
    switch (v) {
        case 'missing':
            return 'missing (the issuer signs hybrid: a stripped token?)';
        case 'absent':
            return 'no PQ part (issuer does not sign hybrid)';
        case 'unverifiable':
            return 'unverifiable offline';
        case 'not_checked':
            return 'not checked';
        default:
            return v;
    }
}

export interface TreeItemPresentation {
    label: string;
    description: string;
    tooltip: string;
    contextValue: string;
    icon: string;
    /** Colour name for the icon, if any. */
    iconColour?: 'testing.iconPassed' | 'testing.iconFailed' | 'list.warningForeground' | 'disabledForeground';
}

export function environmentTreeItem(e: Environment): TreeItemPresentation {
    return {
        label: e.name,
        description: `${e.signedIn ? 'signed in' : 'signed out'}${e.default ? ' · default' : ''}`,
        tooltip: `${e.name}\nIssuer: ${e.issuer}\n${e.signedIn ? 'Signed in' : 'Not signed in'}`,
        contextValue: e.signedIn ? 'environment.signedIn' : 'environment.signedOut',
        icon: e.signedIn ? 'account' : 'circle-slash',
    };
}

export function clusterTreeItem(c: ClusterState, receivedAtMs: number, nowMs: number): TreeItemPresentation {
    const tokenText = clusterTokenText(c, receivedAtMs, nowMs);
    const exchanged = c.token.state === 'exchanged';
    let iconColour: TreeItemPresentation['iconColour'];
    let icon: string;
    if (c.token.state === 'failed') {
        icon = 'warning';
        iconColour = 'list.warningForeground';
    } else if (exchanged) {
        icon = 'key';
        iconColour = 'testing.iconPassed';
    } else {
        icon = clusterStatusIcon(c);
        iconColour = c.status === 'down' ? 'testing.iconFailed' : c.status === 'degraded' ? 'list.warningForeground' : 'disabledForeground';
    }
    const source = c.source === 'config' ? 'your config' : c.source === 'catalog' ? 'the platform catalog' : '';
    const tooltip = [
        `${c.name}${c.region ? ` (${c.region})` : ''}`,
        `Status: ${clusterStatusText(c)}`,
        `Token: ${tokenText}`,
        c.audience ? `Audience: ${c.audience}` : '',
        source ? `Source: ${source}` : '',
        c.flavour ? `Token exchange: ${c.flavour}` : '',
        c.issuer ? `Issuer: ${c.issuer}` : '',
        c.tokenEndpoint ? `Token endpoint: ${c.tokenEndpoint}` : '',
        c.token.expiresAt ? `Expires at: ${c.token.expiresAt}` : '',
    ].filter(Boolean);
    return {
        label: c.name,
        description: `${c.status} · ${tokenText}`,
        tooltip: tooltip.join('\n'),
        contextValue: exchanged ? 'cluster.exchanged' : 'cluster',
        icon,
        iconColour,
    };
}

/** The notification after a federation: for whom, for which cluster, valid until when. */
export function federatedMessage(result: FederateResult, service: string, formatTime: (iso: string) => string): string {
    const s: TokenSummary = result.summary;
    const until = s.expiresAt ? `valid until ${formatTime(s.expiresAt)}` : 'no expiry';
    const expires = s.expiresIn ? ` (${s.expiresIn})` : '';
    const onBehalf = s.actors && s.actors.length > 0 ? ` on behalf of ${s.actors[0]}` : '';
    return `Token copied to the clipboard: ${s.subject}${onBehalf} → ${result.cluster.name} (service ${service}), ${until}${expires}.`;
}

/** A warning when the token will not fit in the target's header budget, else undefined. */
export function headerBudgetWarning(result: FederateResult): string | undefined {
    const b = result.headerBudget;
    if (b && b.exceeds) {
        return `The token is ${b.bytes} bytes: more than ${result.cluster.name}'s header budget of ${b.limit} bytes. Requests carrying it may be rejected.`;
    }
    return result.summary.sizeWarning;
}

/** One-line verdict of a verification, for a notification. */
export function verifyMessage(valid: boolean, summary: TokenSummary, reason?: string): string {
    const v = summary.verdict;
    const pq = v.pq === 'absent' ? pqVerdictText(v.pq) : `post-quantum ${pqVerdictText(v.pq)}`;
    const sigs = `classical ${classicalVerdictText(v.classical)}, ${pq}`;
    return valid
        ? `Token for ${summary.subject} is valid (${sigs}).`
        : `Token for ${summary.subject} is NOT valid: ${reason ?? v.reason ?? 'see the report'} (${sigs}).`;
}
