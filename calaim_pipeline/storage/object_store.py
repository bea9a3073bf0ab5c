"""The data root on S3-compatible object storage (``CALAIM_LAKE_URI=s3://bucket/prefix``).

Why a copy in and a copy out rather than every module reading S3: the pipeline's domain code
works on a local folder (DuckDB spills, atomic renames, fcntl locks inside one process tree), and
a run on a worker must not depend on any other machine's disk. So a step copies the objects it
reads into a private, empty folder (``storage.session``), works there exactly as on one machine,
and uploads what it wrote. Each object is one whole file uploaded with a single PUT (or a
multipart upload, which S3 also publishes only when complete): a reader of the lake sees the old
file or the new one, never half, which is the same promise ``os.replace`` gives on local disk.
Writers of one plan are serialised across machines by ``storage.locks``.

The client is pyarrow's own S3 filesystem (no extra dependency); DuckDB reads the same objects
through fsspec's wrapper of it (``duckdb_filesystem``), because DuckDB's httpfs extension cannot
be downloaded on a closed network.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlparse

import pyarrow.fs as pafs

LAKE_URI_ENV = "CALAIM_LAKE_URI"
ENDPOINT_ENV = "CALAIM_S3_ENDPOINT"
# The AWS SDK inside pyarrow sends streaming ("aws-chunked") uploads with CRC checksums unless
# told to compute them only when required; several S3-compatible servers (rclone's, older MinIO)
# refuse those with 411 MissingContentLength. Must be set before the SDK initialises.
_SDK_ENV = {
    "AWS_REQUEST_CHECKSUM_CALCULATION": "when_required",
    "AWS_RESPONSE_CHECKSUM_VALIDATION": "when_required",
}


REQUEST_TIMEOUT_S = 120.0
CONNECT_TIMEOUT_S = 10.0


class ObjectStoreError(RuntimeError):
    """The object store setting is malformed or the store cannot be reached."""


@dataclass(frozen=True)
class RemoteObject:
    key: str  # relative to the data root, '/'-separated
    size: int
    mtime_ns: int  # the server's modification time; a download carries it to the local file


@dataclass(frozen=True)
class ObjectStore:
    """One data root on S3-compatible storage: ``bucket/prefix`` plus the client to reach it."""

    uri: str
    bucket: str
    prefix: str
    endpoint: str | None

    @property
    def base(self) -> str:
        return f"{self.bucket}/{self.prefix}".rstrip("/")

    def url(self, key: str) -> str:
        """The ``s3://`` address of a key, as DuckDB views and Dagster metadata show it."""
        return f"s3://{self.base}/{key}"

    @property
    def fs(self) -> pafs.S3FileSystem:
        env = os.environ
        return _filesystem(
            self.endpoint,
            env.get("AWS_REGION", "us-east-1"),
            env.get("AWS_ACCESS_KEY_ID"),
            env.get("AWS_SECRET_ACCESS_KEY"),
        )

    def list(self, under: str) -> list[RemoteObject]:
        """Every object below the folder ``under`` (relative key, '' for all)."""
        root = f"{self.base}/{under}".rstrip("/")
        try:
            infos = self.fs.get_file_info(
                pafs.FileSelector(root, recursive=True, allow_not_found=True)
            )
        except OSError as exc:
            raise ObjectStoreError(f"cannot list {self.url(under)}: {exc}") from None
        start = len(self.base) + 1
        return [
            RemoteObject(info.path[start:], info.size or 0, info.mtime_ns or 0)
            for info in infos
            if info.type == pafs.FileType.File
        ]

    def download(self, key: str, target: Path, mtime_ns: int | None = None) -> None:
        """Copy one object to ``target`` (temp name + rename, so a kill leaves no half file),
        with the object's modification time when given: a landed file's fingerprint (name,
        size, time) is then the same in the step and in the sensor's listing of the bucket."""
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.partial")
        with self.fs.open_input_stream(f"{self.base}/{key}") as src, open(partial, "wb") as dst:
            while chunk := src.read(8 << 20):
                dst.write(chunk)
        if mtime_ns:
            os.utime(partial, ns=(mtime_ns, mtime_ns))
        os.replace(partial, target)

    def upload(self, source: Path, key: str) -> None:
        """Publish one local file as the object ``key``; readers see the old or the new one."""
        with (
            open(source, "rb") as src,
            self.fs.open_output_stream(f"{self.base}/{key}", metadata={}) as dst,
        ):
            while chunk := src.read(8 << 20):
                dst.write(chunk)

    def delete(self, key: str) -> None:
        self.fs.delete_file(f"{self.base}/{key}")

    def ensure_bucket(self) -> None:
        """Create the bucket when missing (a test's or a first deployment's empty server)."""
        try:
            info = self.fs.get_file_info(self.bucket)
            if info.type == pafs.FileType.NotFound:
                self.fs.create_dir(self.bucket)
        except OSError as exc:
            raise ObjectStoreError(f"cannot reach {self.uri}: {exc}") from None


@lru_cache(maxsize=8)
def _filesystem(
    endpoint: str | None, region: str, access_key: str | None, secret_key: str | None
) -> pafs.S3FileSystem:
    """One client per endpoint and key pair (the SDK's own chain when no keys are set: an
    instance role, a profile)."""
    for key, value in _SDK_ENV.items():
        os.environ.setdefault(key, value)
    keys = {"access_key": access_key, "secret_key": secret_key} if access_key else {}
    # The SDK's default gives up after 3 s without a byte; a server busy writing a large month's
    # objects (or hashing them) can be that slow without being down.
    keys |= {"request_timeout": REQUEST_TIMEOUT_S, "connect_timeout": CONNECT_TIMEOUT_S}
    if endpoint is None:
        return pafs.S3FileSystem(region=region, **keys)
    parsed = urlparse(endpoint)
    return pafs.S3FileSystem(
        **keys,
        region=region,
        endpoint_override=parsed.netloc or parsed.path,
        scheme=parsed.scheme or "https",
        allow_bucket_creation=True,
    )


def parse_lake_uri(uri: str, endpoint: str | None = None) -> ObjectStore:
    """``s3://bucket/prefix`` -> ObjectStore; anything else is refused naming the setting."""
    parsed = urlparse(uri)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise ObjectStoreError(
            f"{LAKE_URI_ENV}={uri!r}: expected s3://bucket/prefix (unset it for local disk)"
        )
    return ObjectStore(uri, parsed.netloc, parsed.path.strip("/"), endpoint or None)


def object_store() -> ObjectStore | None:
    """The data root's object store when ``CALAIM_LAKE_URI`` is set, else None (local disk)."""
    uri = os.environ.get(LAKE_URI_ENV, "").strip()
    if not uri:
        return None
    return parse_lake_uri(uri, os.environ.get(ENDPOINT_ENV, "").strip() or None)


def duckdb_filesystem(store: ObjectStore):
    """The store as an fsspec filesystem DuckDB can register, so ``read_parquet('s3://...')`` in
    a warehouse view reads the lake where it lives."""
    from fsspec.implementations.arrow import ArrowFSWrapper

    class _S3(ArrowFSWrapper):
        protocol = "s3"

    return _S3(store.fs)
