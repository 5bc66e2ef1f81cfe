"""One round trip for the script calls of every request waiting at the same time.

Each mint makes one state call. redis-py spends about 120 µs of CPU on a call
sent alone, nearly all of it per round trip (the pool, the socket write, the
wake-up, a timeout around each read) and 15 to 20 µs per command in a
pipeline. Under load many requests reach their call in the same turn of the
event loop, so calls are queued and sent together: one batch of commands
(without MULTI: each script is atomic on its own, and one request's refusal
must not touch another's) on one pooled connection, one batch in flight at a
time, the next holding every call made meanwhile. The commands are written
here, in the Redis protocol (RESP), with the arguments encoded as redis-py's
encoder does; the connection, its pool and hiredis's parser are redis-py's. A
request still gets its answer in one round trip, its batch's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import DataError, NoScriptError, ResponseError

from service.support.deadline import Deadline

Arg = str | int | float
#: Keys, arguments, and where the caller waits for the reply.
Call = tuple[Sequence[str], Sequence[Arg], "asyncio.Future[Any]"]


class ScriptBatcher:
    """Runs one Lua script for many callers, batching the calls made while one is in flight."""

    def __init__(self, client: Redis, body: str, sha: str, *, timeout: float) -> None:
        self._client = client
        self._eval = _bulk(b"EVAL") + _bulk(body.encode())
        self._evalsha = _bulk(b"EVALSHA") + _bulk(sha.encode())
        #: Seconds a batch may take: its callers' own deadlines end at the same time.
        self._timeout = timeout
        self._queued: list[Call] = []
        self._in_flight: list[Call] = []
        self._sending: asyncio.Task[None] | None = None

    async def __call__(self, keys: Sequence[str], args: Sequence[Arg]) -> Any:
        """The script's reply for ``keys`` and ``args``, or the error Redis gave."""
        answer: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queued.append((keys, args, answer))
        if self._sending is None:
            # Started now, running next turn: every call of this turn joins the batch.
            self._sending = asyncio.create_task(self._send_all())
        return await answer

    async def _send_all(self) -> None:
        try:
            while self._queued:
                batch, self._queued = self._queued, []
                waiting = self._in_flight = [call for call in batch if not call[2].done()]
                try:
                    with Deadline(self._timeout):
                        replies = await self._run(waiting)
                except Exception as exc:  # the connection, a timeout: every caller hears it
                    replies = [exc] * len(waiting)
                for (_, _, answer), reply in zip(waiting, replies, strict=True):
                    if answer.done():
                        continue  # its caller gave up (its deadline passed)
                    if isinstance(reply, BaseException):
                        answer.set_exception(reply)
                    else:
                        answer.set_result(reply)
        finally:
            self._sending = None
            # Cancelled (the loop is closing): nobody may wait for a reply forever.
            for _, _, answer in [*self._in_flight, *self._queued]:
                if not answer.done():
                    answer.cancel()
            self._in_flight, self._queued = [], []

    async def _run(self, calls: Sequence[Call]) -> list[Any]:
        if not calls:
            return []
        replies = await self._pipeline(calls, by_sha=True)
        missing = [i for i, reply in enumerate(replies) if isinstance(reply, NoScriptError)]
        if missing:
            # Redis restarted or its script cache was flushed: EVAL caches it again.
            again = await self._pipeline([calls[i] for i in missing], by_sha=False)
            for i, reply in zip(missing, again, strict=True):
                replies[i] = reply
        return replies

    async def _pipeline(self, calls: Sequence[Call], *, by_sha: bool) -> list[Any]:
        command = self._evalsha if by_sha else self._eval
        packed = b"".join(_pack(command, keys, args) for keys, args, _ in calls)
        pool = self._client.connection_pool
        connection = await pool.get_connection()  # type: ignore[no-untyped-call]
        try:
            await connection.send_packed_command(packed, check_health=False)
            replies: list[Any] = []
            for _ in calls:
                try:
                    replies.append(await connection.read_response())
                except ResponseError as error:  # an error reply: its call's alone
                    replies.append(error)
        except BaseException:
            # Replies may be left unread: the connection must not serve another call.
            await connection.disconnect()
            raise
        finally:
            await pool.release(connection)
        return replies


def _pack(command: bytes, keys: Sequence[str], args: Sequence[Arg]) -> bytes:
    """``command`` (already in RESP) with its key count, keys and arguments appended."""
    parts = [_bulk(str(len(keys)).encode())]
    parts += [_bulk(key.encode()) for key in keys]
    parts += [_bulk(_encode(arg)) for arg in args]
    return b"*%d\r\n%s%s" % (len(parts) + 2, command, b"".join(parts))


def _bulk(value: bytes) -> bytes:
    return b"$%d\r\n%s\r\n" % (len(value), value)


def _encode(value: Arg) -> bytes:
    # As redis-py's Encoder: numbers by their repr, text as UTF-8, never a bool.
    if isinstance(value, bool):
        raise DataError("a bool is not a Redis argument")
    if isinstance(value, str):
        return value.encode()
    return repr(value).encode()
