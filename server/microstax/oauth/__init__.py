"""OAuth 2.0 protocol clients over httpx: discovery, JWKS, token exchange, device login."""
