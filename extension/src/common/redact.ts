/**
 * Redaction for anything the extension writes to its log: JWT-shaped runs become
 * `eyJ…[token redacted, N chars]`. The daemon redacts its own logs; this also covers LSP message
 * traces (which would otherwise contain `federate` results and document text).
 */

const JWT_RE = /eyJ[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*/g;
/** Quoted secrets in JSON traces: "token": "...", "refresh_token", "client_secret", "password". */
const SECRET_FIELD_RE = /("(?:token|access_token|refresh_token|id_token|subject_token|client_secret|password|secret)"\s*:\s*")([^"]{4,})(")/gi;

export function redactTokens(text: string): string {
    return text
        .replace(JWT_RE, (m) => `eyJ…[token redacted, ${m.length} chars]`)
        .replace(SECRET_FIELD_RE, (_m, a: string, value: string, c: string) => (value.startsWith('eyJ…[token redacted') ? `${a}${value}${c}` : `${a}[redacted]${c}`));
}
