/**
 * Command links under a token's hover card: Decode, Verify, Copy Claims. A link names the
 * document and the position of the token, never the token itself (command URIs end up in
 * logs and history). No vscode import.
 */

export interface TokenAt {
    uri: string;
    line: number;
    character: number;
}

export interface HoverLinkIds {
    decodeAt: string;
    verifyAt: string;
    copyClaimsAt: string;
}

/** True for the daemon's card of a well-formed token (a malformed one has nothing to decode). */
export function isTokenCard(markdown: string): boolean {
    const first = markdown.split('\n', 1)[0];
    return /\*\*JWT\*\*/.test(first) && !/Malformed JWT/.test(first);
}

export function hoverLinks(at: TokenAt, ids: HoverLinkIds): string {
    const arg = encodeURIComponent(JSON.stringify([at]));
    return [`[Decode](command:${ids.decodeAt}?${arg})`, `[Verify](command:${ids.verifyAt}?${arg})`, `[Copy Claims](command:${ids.copyClaimsAt}?${arg})`].join(' · ');
}

/** The argument a link passes back, checked (a command can be invoked by anyone). */
export function parseTokenAt(arg: unknown): TokenAt | undefined {
    const a = arg as Partial<TokenAt> | undefined;
    if (!a || typeof a.uri !== 'string' || !Number.isInteger(a.line) || !Number.isInteger(a.character)) {
        return undefined;
    }
    if ((a.line as number) < 0 || (a.character as number) < 0 || a.uri.length > 4096) {
        return undefined;
    }
    return { uri: a.uri, line: a.line as number, character: a.character as number };
}
