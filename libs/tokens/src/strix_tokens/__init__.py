"""Strix's own credentials, pure: signed access tokens, key sets with rotation and JWKS, API keys, role mapping.

No I/O and no clock: `now` is an argument. The auth service persists keys and records; verifiers (gateway,
ingestion) use `verify_access_token` with a JWKS they fetched and cached.
"""
