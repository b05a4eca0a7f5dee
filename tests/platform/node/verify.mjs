// Usage: node verify.mjs <issuer> <audience>   (the token on stdin)
// Fetches the issuer's discovery document, then its JWKS, and verifies the classical
// ES256 signature with panva jose. Prints the claims as JSON, or exits 1 with the error.
import { createRemoteJWKSet, jwtVerify } from "jose";

const [issuer, audience] = process.argv.slice(2);
let token = "";
for await (const chunk of process.stdin) token += chunk;
token = token.trim();

try {
  const discovery = await (await fetch(`${issuer}/.well-known/openid-configuration`)).json();
  const jwks = createRemoteJWKSet(new URL(discovery.jwks_uri));
  const { payload, protectedHeader } = await jwtVerify(token, jwks, {
    issuer,
    audience,
    algorithms: ["ES256"],
    typ: "at+jwt",
  });
  process.stdout.write(JSON.stringify({ payload, alg: protectedHeader.alg }) + "\n");
} catch (err) {
  process.stderr.write(`${err.code ?? "error"}: ${err.message}\n`);
  process.exit(1);
}
