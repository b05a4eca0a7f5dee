// Verify a MicroStax token's classical (ES256) part with panva/jose, given only the JWKS.
// Input on stdin (never argv): {"token", "jwks", "issuer", "audience"}.
// Output on stdout: {"ok": true, "payload", "header"} or {"ok": false, "code", "message"}.
import { createLocalJWKSet, jwtVerify } from 'jose';

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const input = JSON.parse(Buffer.concat(chunks).toString('utf8'));

try {
  const keys = createLocalJWKSet(input.jwks);
  const { payload, protectedHeader } = await jwtVerify(input.token, keys, {
    algorithms: ['ES256'],
    issuer: input.issuer,
    audience: input.audience,
    typ: 'at+jwt',
  });
  process.stdout.write(JSON.stringify({ ok: true, payload, header: protectedHeader }));
} catch (err) {
  process.stdout.write(JSON.stringify({ ok: false, code: err.code ?? 'ERROR', message: String(err.message) }));
  process.exitCode = 1;
}
