"""Where a capture is: a capture file's path, or a capture in a PostgreSQL store (`postgresql://...?capture=NAME`).

Owns telling the two apart (`is_store_url`), giving a command a capture file to work on whichever it is
(`local_capture`: the file itself, or a consistent copy of the store's capture pulled into a temporary file, removed
afterwards; `capture_to_add_to`: the same, with what is added written back into the store, for `inspector replay`),
a new capture to record into (`create_capture`) and a capture to watch grow (`follow_capture`: a local copy that
follows the store; `direct_reads`: the window's list and detail read from the server, when the store can serve
them). The commands that accept either (`inspector capture`, `export`, `stats`, `replay`, the window) call these and
nothing else of the PostgreSQL store; psycopg is imported only when a URL is given.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from inspector.store.capture_file import CaptureFile
    from inspector.store.postgres.event_index import PostgresEventIndex
    from inspector.store.postgres.follow import StoreFollower
    from inspector.store.postgres.reader import PostgresCaptureReader

__all__ = [
    "DirectReads",
    "FollowedCapture",
    "capture_to_add_to",
    "create_capture",
    "direct_reads",
    "follow_capture",
    "is_store_url",
    "local_capture",
    "shown",
]


def is_store_url(location: str | Path) -> bool:
    """Whether `location` names a capture in a PostgreSQL store (`postgresql://` or `postgres://`)."""
    if isinstance(location, Path):
        return False
    scheme, sep, _ = location.partition("://")
    return bool(sep) and scheme.lower() in ("postgresql", "postgres")


def shown(location: str | Path) -> str:
    """The location as messages name it (a URL without password or parameters other than the capture)."""
    if not is_store_url(location):
        return str(location)
    from inspector.store.postgres.connection import StoreError, StoreUrl

    try:
        return str(StoreUrl.parse(str(location)).with_capture(StoreUrl.parse(str(location)).capture))
    except StoreError:
        return "postgresql://..."


@contextlib.contextmanager
def local_capture(location: str | Path) -> Iterator[Path]:
    """A capture file holding the capture at `location`: the path itself, or for a store URL a copy pulled now (the
    capture as of this moment) into a temporary directory that is removed on exit. Raises
    `store.postgres.connection.StoreError` (one line) when the store cannot be read."""
    if not is_store_url(location):
        yield Path(location)
        return
    from inspector.store.postgres.connection import StoreError, StoreUrl
    from inspector.store.postgres.store import pull_to_file

    url = StoreUrl.parse(str(location))
    if not url.capture:
        raise StoreError("the store URL names no capture: add ?capture=NAME (`inspector captures URL` lists them)")
    directory = Path(tempfile.mkdtemp(prefix="inspector-pulled-"))
    try:
        path = directory / f"{url.capture}.inspector"
        pull_to_file(url, path)
        yield path
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def create_capture(location: str | Path, overwrite: bool = False) -> CaptureFile:
    """A new capture to record into: a capture file at the path, or for a store URL a capture in the store, written
    as it is recorded (see `store.postgres.store.MirroredCapture`; `close` finishes it). `FileExistsError` for a file
    that exists, `StoreError` for a store capture name taken (unless `overwrite`) or a store that cannot be used."""
    if not is_store_url(location):
        from inspector.store.capture_file import CaptureFile

        return CaptureFile.create(location, overwrite=overwrite)
    from inspector.store.postgres.connection import StoreUrl
    from inspector.store.postgres.store import create_mirrored

    return create_mirrored(StoreUrl.parse(str(location)), overwrite=overwrite)


@contextlib.contextmanager
def capture_to_add_to(location: str | Path) -> Iterator[Path]:
    """A capture file to add rows to (a replay's attempts): the path itself, or for a store URL a copy pulled now
    under the capture's writer lock, whose new rows are written back into the store on exit
    (`store.postgres.store.checked_out`; `StoreError` while another Inspector writes the capture)."""
    if not is_store_url(location):
        yield Path(location)
        return
    from inspector.store.postgres.connection import StoreUrl
    from inspector.store.postgres.store import checked_out

    with checked_out(StoreUrl.parse(str(location))) as path:
        yield path


class FollowedCapture:
    """A store capture followed into a local capture file (`path`) that readers open as any capture file; `close`
    stops following and removes the file. `error` is the last round's failure (None when the last round worked)."""

    def __init__(self, location: str, follower: StoreFollower, directory: Path) -> None:
        self.location = location
        self.follower = follower
        self.directory = directory
        self.path = follower.path

    @property
    def error(self) -> BaseException | None:
        return self.follower.error

    def start(self) -> None:
        """Follow from now on, on the follower's thread (its first round at once if none was run)."""
        self.follower.start()

    def close(self) -> None:
        try:
            self.follower.stop()
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)


def follow_capture(location: str, interval: float = 0.5, background: bool = False) -> FollowedCapture:
    """The store capture at `location` copied into a local file now, and followed there every `interval` seconds
    while another process writes it (`store.postgres.follow.StoreFollower`). `StoreError` (one line) when it cannot
    be read. `background`: the file is created empty and nothing is copied yet: `start()` copies it on the
    follower's thread (`follower.ready` is set when the first round is done) and follows it from there."""
    from inspector.store.postgres.connection import StoreUrl
    from inspector.store.postgres.follow import StoreFollower

    url = StoreUrl.parse(location)
    directory = Path(tempfile.mkdtemp(prefix="inspector-following-"))
    try:
        follower = StoreFollower(url, directory / "capture.inspector", interval=interval)
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise
    if background:
        return FollowedCapture(location, follower, directory)
    try:
        follower.sync()
    except BaseException:
        follower.stop()
        shutil.rmtree(directory, ignore_errors=True)
        raise
    follower.start()
    return FollowedCapture(location, follower, directory)


class DirectReads:
    """The window's event list and reader on a store capture, read from the server (`PostgresEventIndex`,
    `PostgresCaptureReader`), the rest of the reader on the followed copy."""

    def __init__(self, index: PostgresEventIndex, reader: PostgresCaptureReader) -> None:
        self.index = index
        self.reader = reader


def direct_reads(followed: FollowedCapture) -> DirectReads | None:
    """Direct reads of the followed store capture, when the store can serve them: its schema is this Inspector's and
    the role may run the list's and the detail's statements (checked once, here). None when it cannot: the window then
    waits for the local copy and reads it, as it reads any capture file. Marks set through the index go to the copy
    (`StoreFollower.mark`)."""
    from inspector.store.postgres.connection import StoreError
    from inspector.store.postgres.event_index import PostgresEventIndex
    from inspector.store.postgres.reader import PostgresCaptureReader

    follower = followed.follower
    try:
        index = PostgresEventIndex(follower.url, on_mark=follower.mark)
    except StoreError:
        return None
    try:
        reader = PostgresCaptureReader(follower.url, follower.capture_id, followed.path)
        reader.event_detail("")  # the detail's statements run here
    except Exception:  # StoreError, or psycopg's for a table the role may not read
        index.close()
        return None
    return DirectReads(index, reader)
