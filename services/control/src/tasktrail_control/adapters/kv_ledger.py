"""The command ledger in a JetStream key-value bucket, shared by every control replica.

Each key (per app, a digest of the command id) holds either the running execution's lease
(``{"until": epoch}``) or its reply (``{"reply": ...}``). ``create`` succeeds for one replica
only, so two replicas given the same command id cannot both execute it; the bucket's TTL
bounds how long a reply is remembered.
"""

from __future__ import annotations

import hashlib
import json
import time

from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig, StorageType
from nats.js.errors import BucketNotFoundError, KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue
from tasktrail_shared.commands import CommandReply

from tasktrail_control.ledger import Claim


class KvLedger:
    def __init__(self, kv: KeyValue, app: str) -> None:
        self._kv = kv
        self._app = app

    @classmethod
    async def open(
        cls, js: JetStreamContext, *, bucket: str, ttl: float, replicas: int, app: str
    ) -> KvLedger:
        try:
            kv = await js.key_value(bucket)
        except BucketNotFoundError:
            kv = await js.create_key_value(
                KeyValueConfig(
                    bucket=bucket,
                    description="tasktrail control: replies by command id",
                    history=1,
                    ttl=ttl,
                    storage=StorageType.FILE,
                    replicas=replicas,
                )
            )
        return cls(kv, app)

    def _key(self, command_id: str) -> str:
        # Command ids are free text; keys allow only [-/_=.a-zA-Z0-9].
        return f"{self._app}.{hashlib.sha256(command_id.encode()).hexdigest()[:40]}"

    async def claim(self, command_id: str, lease: float) -> Claim | CommandReply:
        key = self._key(command_id)
        running = json.dumps({"until": time.time() + lease}).encode()
        try:
            await self._kv.create(key, running)
            return Claim.MINE
        except KeyWrongLastSequenceError:
            pass
        try:
            entry = await self._kv.get(key)
        except KeyNotFoundError:  # released or expired just now: the next attempt creates it
            return Claim.BUSY
        state = json.loads(entry.value or b"{}")
        if "reply" in state:
            return CommandReply.model_validate(state["reply"])
        if float(state.get("until", 0)) > time.time():
            return Claim.BUSY
        try:  # the replica holding it is gone: take over, unless another one just did
            await self._kv.update(key, running, last=entry.revision)
            return Claim.MINE
        except KeyWrongLastSequenceError:
            return Claim.BUSY

    async def settle(self, command_id: str, reply: CommandReply) -> None:
        payload = {"reply": reply.model_dump(mode="json")}
        await self._kv.put(self._key(command_id), json.dumps(payload).encode())

    async def release(self, command_id: str) -> None:
        await self._kv.delete(self._key(command_id))
