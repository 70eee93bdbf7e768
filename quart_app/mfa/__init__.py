"""Second factors: authenticator apps (TOTP), recovery codes, and (later) passkeys."""
