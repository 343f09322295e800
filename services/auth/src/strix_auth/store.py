"""The auth service's state in NATS KV buckets: signing keys, API key records (watched), refresh sessions.

- `strix_auth_signing`: one entry, the key set with its private keys. Only this service reads it; created on
  first start (`create` fails if another replica won the race, which then reads the winner's keys); rotated by
  compare-and-set so two rotations never lose a key.
- `strix_auth_apikeys`: one record per key (no secret). Every replica watches the bucket and keeps a cache, so
  a revocation reaches all of them within milliseconds; a key missing from the cache (created on another
  replica a moment ago) is read from the bucket.
- `strix_auth_sessions`: refresh token records and their families; entries expire with the bucket TTL.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig, StorageType
from nats.js.errors import BucketNotFoundError, KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue
from pydantic import TypeAdapter

from strix_auth.oidc import PENDING_LIFETIME, Pending
from strix_auth.sessions import Family, RefreshRecord
from strix_contracts.errors import Conflict, NotFound
from strix_runtime.logs import get_logger
from strix_tokens.apikeys import ApiKeyRecord
from strix_tokens.keys import KeySet, new_signing_key, prune, rotate

log = get_logger("auth.store")

SIGNING_BUCKET = "strix_auth_signing"
APIKEYS_BUCKET = "strix_auth_apikeys"
SESSIONS_BUCKET = "strix_auth_sessions"
OIDC_BUCKET = "strix_auth_oidc"
_KEYSET = "keyset"
_CAS_ATTEMPTS = 5

T = TypeVar("T")
_RECORD = TypeAdapter(ApiKeyRecord)
_FAMILY = TypeAdapter(Family)
_REFRESH = TypeAdapter(RefreshRecord)
_PENDING = TypeAdapter(Pending)


async def _bucket(js: JetStreamContext, name: str, description: str, ttl: float | None = None) -> KeyValue:
    try:
        return await js.key_value(name)
    except BucketNotFoundError:
        config = KeyValueConfig(bucket=name, history=1, storage=StorageType.FILE, description=description, ttl=ttl)
        return await js.create_key_value(config)


@dataclass
class AuthStore:
    signing: KeyValue
    apikeys: KeyValue
    sessions: KeyValue
    pending: KeyValue
    api_keys: dict[str, ApiKeyRecord] = field(default_factory=dict)  # the watched cache
    _watch_task: asyncio.Task[None] | None = None

    # --- signing keys -------------------------------------------------------------------------------------

    async def key_set(self, now: datetime, max_lifetime: timedelta) -> KeySet:
        """The key set, made on first use; retired keys past the longest token lifetime left out."""
        try:
            entry = await self.signing.get(_KEYSET)
        except KeyNotFoundError:
            keys = KeySet(new_signing_key(now))
            try:
                await self.signing.create(_KEYSET, _dump(keys.to_dict()))
                log.info("auth.signing_key_created", kid=keys.current.kid)
            except KeyWrongLastSequenceError:
                entry = await self.signing.get(_KEYSET)  # another replica made it first
                keys = KeySet.from_dict(json.loads(entry.value or b"{}"))
            return keys
        return prune(KeySet.from_dict(json.loads(entry.value or b"{}")), now, max_lifetime)

    async def rotate_signing(self, now: datetime, max_lifetime: timedelta) -> KeySet:
        await self.key_set(now, max_lifetime)  # exists from here on
        for _ in range(_CAS_ATTEMPTS):
            entry = await self.signing.get(_KEYSET)
            keys = rotate(KeySet.from_dict(json.loads(entry.value or b"{}")), new_signing_key(now), now, max_lifetime)
            try:
                await self.signing.update(_KEYSET, _dump(keys.to_dict()), last=entry.revision)
            except KeyWrongLastSequenceError:
                continue
            log.info("auth.signing_key_rotated", kid=keys.current.kid, kept=[k.kid for k in keys.previous])
            return keys
        raise Conflict("signing keys changed during the rotation", hint="retry the rotation")

    # --- API keys -----------------------------------------------------------------------------------------

    async def watch_api_keys(self) -> None:
        """Fill the cache and keep it current; returns once the initial values are in."""
        watcher = await self.apikeys.watchall()
        ready = asyncio.Event()

        async def follow() -> None:
            try:
                async for entry in watcher:
                    if entry is None:
                        ready.set()
                        continue
                    if entry.operation in ("DEL", "PURGE") or not entry.value:
                        self.api_keys.pop(entry.key, None)
                    else:
                        self.api_keys[entry.key] = _RECORD.validate_json(entry.value)
            finally:
                await watcher.stop()  # type: ignore[no-untyped-call]

        self._watch_task = asyncio.create_task(follow(), name="auth-apikeys-watch")
        await asyncio.wait_for(ready.wait(), timeout=10)

    async def stop(self) -> None:
        if self._watch_task is not None:
            self._watch_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch_task

    async def add_api_key(self, record: ApiKeyRecord) -> None:
        await self.apikeys.create(record.id, _RECORD.dump_json(record))
        self.api_keys[record.id] = record

    async def api_key(self, key_id: str) -> ApiKeyRecord:
        cached = self.api_keys.get(key_id)
        if cached is not None:
            return cached
        try:
            entry = await self.apikeys.get(key_id)
        except KeyNotFoundError:
            raise NotFound(f"no API key {key_id}", argument="id") from None
        return _RECORD.validate_json(entry.value or b"{}")

    async def list_api_keys(self) -> list[ApiKeyRecord]:
        return sorted(self.api_keys.values(), key=lambda r: (r.created_at, r.id))

    async def save_api_key(self, record: ApiKeyRecord) -> None:
        await self.apikeys.put(record.id, _RECORD.dump_json(record))
        self.api_keys[record.id] = record

    # --- refresh sessions ---------------------------------------------------------------------------------

    async def put_family(self, family: Family) -> None:
        await self.sessions.put(f"family.{family.id}", _FAMILY.dump_json(family))

    async def family(self, family_id: str) -> Family | None:
        return await _get(self.sessions, f"family.{family_id}", _FAMILY)

    async def put_refresh(self, record: RefreshRecord) -> None:
        await self.sessions.create(f"token.{record.id}", _REFRESH.dump_json(record))

    async def refresh(self, token_id: str) -> tuple[RefreshRecord, int] | None:
        try:
            entry = await self.sessions.get(f"token.{token_id}")
        except KeyNotFoundError:
            return None
        return _REFRESH.validate_json(entry.value or b"{}"), entry.revision or 0

    async def spend_refresh(self, record: RefreshRecord, revision: int) -> bool:
        """Store the spent record if nobody spent it since `revision`; False when someone did (a reuse)."""
        try:
            await self.sessions.update(f"token.{record.id}", _REFRESH.dump_json(record), last=revision)
        except KeyWrongLastSequenceError:
            return False
        return True

    # --- OpenID Connect sign-ins in progress ----------------------------------------------------------------

    async def put_pending(self, pending: Pending) -> None:
        await self.pending.create(pending.state, _PENDING.dump_json(pending))

    async def take_pending(self, state: str) -> Pending | None:
        """The pending sign-in under `state`, deleted as it is read: of two callbacks with one state (a replay,
        or a race), exactly one gets it."""
        try:
            entry = await self.pending.get(state)
        except KeyNotFoundError:  # KeyDeletedError too: a state already taken
            return None
        try:
            await self.pending.delete(state, last=entry.revision)
        except KeyWrongLastSequenceError:
            return None
        return _PENDING.validate_json(entry.value or b"{}")


async def open_store(js: JetStreamContext, sessions_ttl: timedelta) -> AuthStore:
    store = AuthStore(
        signing=await _bucket(js, SIGNING_BUCKET, "Strix auth signing keys (private)"),
        apikeys=await _bucket(js, APIKEYS_BUCKET, "Strix API key records (hashed secrets)"),
        sessions=await _bucket(
            js, SESSIONS_BUCKET, "Strix refresh tokens (hashed) and families", ttl=sessions_ttl.total_seconds()
        ),
        pending=await _bucket(
            js, OIDC_BUCKET, "Strix OpenID Connect sign-ins in progress", ttl=PENDING_LIFETIME.total_seconds()
        ),
    )
    await store.watch_api_keys()
    return store


async def _get(kv: KeyValue, key: str, adapter: TypeAdapter[T]) -> T | None:
    try:
        entry = await kv.get(key)
    except KeyNotFoundError:
        return None
    return adapter.validate_json(entry.value or b"{}")


def _dump(data: dict[str, Any]) -> bytes:
    return json.dumps(data).encode()
