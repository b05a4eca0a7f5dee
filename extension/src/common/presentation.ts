/**
 * What the status bar, the tree view and the notifications say, computed from the daemon's
 * shapes. No vscode import: colours are names the vscode layer maps to ThemeColors.
 */
import type { ClassicalVerdict, ClusterState, DecodeResult, Environment, FederateResult, IdentityStatus, PqVerdict, TokenSummary } from './protocol';
import { formatRelative, msUntilCompactChange, secondsLeftNow } from './time';

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
    /** The session of `identity.environment` ended by expiring (not by Sign Out). */
    expired?: boolean;
    /** A real failure the daemon reported for the identity (bad config, unknown environment). */
    problem?: { code?: string; message: string };
}

/** What a click on the status bar item does. */
export type StatusClick = 'quickActions' | 'signIn' | 'openSettings' | 'restartDaemon';

export interface StatusPresentation {
    text: string;
    colour: StatusColour;
    /** Markdown. */
    tooltip: string;
    /** Milliseconds until the text should be rendered again (countdown), or Infinity. */
    refreshInMs: number;
    click: StatusClick;
}

export function shorten(text: string, max = MAX_SUBJECT): string {
    return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/** Markdown-escape text that comes from the daemon (subjects, cluster names). */
export function mdEscape(text: string): string {
    return text.replace(/[\\`*_{}[\]()#+\-.!|<>]/g, '\\$&');
}

function inlineCode(text: string): string {
    return `\`${text.replace(/`/g, "'")}\``;
}

/** `dev@dev · 14m left`: who, where, and for how long (minutes resolution). */
export function whoText(subject: string, env: string, secondsLeft: number | undefined): string {
    const who = `${shorten(subject)}@${env}`;
    return secondsLeft === undefined ? who : `${who} · ${formatRelative(secondsLeft, { precision: 'minutes' })}`;
}

export function presentStatus(input: StatusInput): StatusPresentation {
    const name = input.name ?? 'MicroStax Identity';
    const actions = '\n\n*Click for MicroStax actions.*';
    if (input.daemon === 'starting') {
        return { text: '$(sync~spin) MicroStax', colour: 'normal', tooltip: `**${name}**\n\nStarting the daemon…`, refreshInMs: Infinity, click: 'quickActions' };
    }
    if (input.daemon === 'stopped' || input.daemon === 'failed') {
        return {
            text: '$(error) MicroStax: daemon stopped',
            colour: 'error',
            tooltip: `**${name}**\n\nThe daemon is not running. Click to restart it; *MicroStax: Show Logs* says why it stopped.`,
            refreshInMs: Infinity,
            click: 'restartDaemon',
        };
    }
    if (input.problem) {
        const what = input.problem.code === 'UNKNOWN_ENVIRONMENT' ? 'unknown environment' : 'config problem';
        return {
            text: `$(error) MicroStax: ${what}`,
            colour: 'error',
            tooltip: `**${name}**\n\n${mdEscape(input.problem.message)}\n\nClick to open the MicroStax settings.`,
            refreshInMs: Infinity,
            click: 'openSettings',
        };
    }
    const id = input.identity;
    if (!id) {
        return { text: '$(key) MicroStax', colour: 'normal', tooltip: `**${name}**\n\nAsking the daemon who you are…`, refreshInMs: Infinity, click: 'quickActions' };
    }
    const env = id.environment;
    const catalog = id.catalogError ? `\n\n$(warning) ${mdEscape(id.catalogError)}` : '';
    const expiredView = (when?: string): StatusPresentation => ({
        text: `$(warning) MicroStax: session expired (${env})`,
        colour: 'warning',
        tooltip: `**${name}**\n\nYour session in **${mdEscape(env)}** expired${when ? ` at ${mdEscape(when)}` : ''}. Click to sign in again.${catalog}`,
        refreshInMs: Infinity,
        click: 'signIn',
    });
    if (!id.signedIn) {
        if (input.expired) {
            return expiredView();
        }
        return {
            text: '$(account) MicroStax: Sign in',
            colour: 'normal',
            tooltip: `**${name}**\n\nNot signed in to **${mdEscape(env)}**. Click to sign in.${catalog}${clusterLines(id.clusters, input)}`,
            refreshInMs: Infinity,
            click: 'signIn',
        };
    }
    const subject = id.subject ?? id.label;
    const left = secondsLeftNow(id.secondsLeft, input.receivedAtMs ?? input.nowMs, input.nowMs);
    if (left !== undefined && left <= 0) {
        return expiredView(id.expiresAt);
    }
    let colour: StatusColour = 'normal';
    let icon = '$(verified)';
    let refreshInMs = Infinity;
    if (left !== undefined) {
        refreshInMs = msUntilCompactChange(left);
        if (left <= WARN_SECONDS) {
            colour = 'warning';
            icon = '$(warning)';
        }
    }
    const lines = [`**${name}**`, '', `Signed in as ${inlineCode(subject)} to **${mdEscape(env)}**`];
    if (id.issuer) {
        lines.push('', `Issuer: ${mdEscape(id.issuer)}`);
    }
    if (left !== undefined) {
        const when = id.expiresAt ? ` (${mdEscape(id.expiresAt)})` : '';
        lines.push('', `Session ends ${formatRelative(left, { style: 'relative' })}${when}${left <= WARN_SECONDS ? ' — sign in again soon' : ''}`);
    }
    if (id.summary) {
        lines.push('', mdEscape(id.summary));
    }
    return {
        text: `${icon} ${whoText(subject, env, left)}`,
        colour,
        tooltip: lines.join('\n') + catalog + clusterLines(id.clusters, input) + actions,
        refreshInMs,
        click: 'quickActions',
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

/** "exchanged (default) · 4m 12s left", "expired 48s ago (default)", "not exchanged", "failed (network): …". */
export function clusterTokenText(c: ClusterState, receivedAtMs: number, nowMs: number): string {
    const t = c.token;
    switch (t.state) {
        case 'exchanged': {
            const left = secondsLeftNow(t.secondsLeft, receivedAtMs, nowMs);
            const svc = t.service ? ` (${t.service})` : '';
            if (left === undefined) {
                return `exchanged${svc}`;
            }
            return left > 0 ? `exchanged${svc} · ${formatRelative(left)}` : `${formatRelative(left)}${svc}`;
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

const VERDICT_WORDS: Partial<Record<PqVerdict, string>> = {
    missing: 'missing (the issuer signs hybrid: a stripped token?)',
    absent: 'no PQ part (issuer does not sign hybrid)',
    unverifiable: 'unverifiable offline',
    not_checked: 'not checked',
};

/** A signature's verdict in words: the classical verdicts are a subset of the post-quantum ones. */
export function verdictText(v: ClassicalVerdict | PqVerdict): string {
    return VERDICT_WORDS[v] ?? v;
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

export function environmentTreeItem(e: Environment, expired = false): TreeItemPresentation {
    const state = expired ? 'session expired' : e.signedIn ? 'signed in' : 'signed out';
    const builtin = e.source === 'default' ? ' · local platform' : e.default ? ' · default' : '';
    return {
        label: e.name,
        description: `${state}${builtin}`,
        tooltip: [
            e.name,
            e.source === 'default' ? 'The built-in environment: a local platform on 127.0.0.1:8411 (MicroStax: Start Local Platform).' : '',
            e.description ?? '',
            `Issuer: ${e.issuer}`,
            expired ? 'Session expired: sign in again' : e.signedIn ? 'Signed in' : 'Not signed in',
        ]
            .filter(Boolean)
            .join('\n'),
        contextValue: e.signedIn && !expired ? 'environment.signedIn' : 'environment.signedOut',
        icon: expired ? 'warning' : e.signedIn ? 'account' : 'circle-slash',
        iconColour: expired ? 'list.warningForeground' : undefined,
    };
}

/** True when the config names no environment: only the built-in `dev` (the first-run state). */
export function isUnconfigured(envs: readonly Environment[]): boolean {
    return envs.length === 1 && envs[0].source === 'default';
}

/** True for a platform on this machine (Start Local Platform can help). */
export function isLocalPlatform(url: string | undefined): boolean {
    if (!url) {
        return false;
    }
    try {
        const host = new URL(url).hostname;
        return host === '127.0.0.1' || host === 'localhost' || host === '[::1]';
    } catch {
        return false;
    }
}

/** What the view shows under an environment whose catalog could not be read and has no clusters. */
export function unreachableText(env: string, catalogError: string): { label: string; tooltip: string } {
    return {
        label: `Platform unreachable — Retry`,
        tooltip: `${catalogError}\n\nIs the platform of ${env} running? Click to retry.`,
    };
}

/**
 * The row's description, short enough for the default view width (the tooltip has the rest):
 * `billing · 4m left`, `billing · expired 3m ago`, `failed`, or the catalog status.
 */
export function clusterShortText(c: ClusterState, receivedAtMs: number, nowMs: number): string {
    const t = c.token;
    const status = c.status === 'up' || c.status === 'down' || c.status === 'degraded' ? c.status : 'unknown';
    // A cluster that is not plainly up says so first, whatever the token's state.
    const prefix = status === 'up' ? '' : `${status} · `;
    if (t.state === 'exchanged') {
        const left = secondsLeftNow(t.secondsLeft, receivedAtMs, nowMs);
        const svc = t.service ? `${t.service} · ` : '';
        if (left === undefined) {
            return `${prefix}${svc}exchanged`;
        }
        return `${prefix}${svc}${formatRelative(left, { precision: 'minutes' })}`;
    }
    if (t.state === 'failed') {
        return `${prefix}failed`;
    }
    return status;
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
        description: clusterShortText(c, receivedAtMs, nowMs),
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
    const pq = v.pq === 'absent' ? verdictText(v.pq) : `post-quantum ${verdictText(v.pq)}`;
    const sigs = `classical ${verdictText(v.classical)}, ${pq}`;
    return valid
        ? `Token for ${summary.subject} is valid (${sigs}).`
        : `Token for ${summary.subject} is NOT valid: ${reason ?? v.reason ?? 'see the report'} (${sigs}).`;
}

/** One line of untrusted text for a `//` comment: no line breaks or control characters. */
function commentText(text: string, max = 160): string {
    return shorten(text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, ' '), max);
}

/**
 * The decoded token as a read-only JSONC document: the verdict first (decoding never verifies),
 * then the header and the claims as the daemon parsed them. Undefined when the daemon sent no JSON.
 */
export function decodedDocument(r: DecodeResult): string | undefined {
    if (!r.header || !r.claims) {
        return undefined;
    }
    const s = r.summary;
    const lines = [
        '// Not verified: decoded only, the signatures were not checked (MicroStax: Verify Token checks them).',
        `// Subject: ${commentText(s.subject)} · issuer: ${commentText(s.issuer || '(none)')} · ${commentText(s.expiresIn)}`,
        `// ${s.sizeBytes} bytes${s.sizeWarning ? ` · ${commentText(s.sizeWarning)}` : ''}`,
        JSON.stringify({ header: r.header, claims: r.claims }, null, 2),
        '',
    ];
    return lines.join('\n');
}
