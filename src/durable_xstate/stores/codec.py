"""Record codecs: compression and encryption of stored values, for every backend (the original's
pre-write hook, made two-way). See docs/decisions/0011-record-codecs.md.

:class:`CodecStore` wraps any :class:`~durable_xstate.stores.base.Storage`: a write encodes the value
with its codecs, in order, and stores it after a one-line header naming them::

    durable-xstate.codec/1 gzip,aes-gcm\\n<the encoded bytes>

A read decodes what the header names, in reverse order, so a store can change its codecs and still
read what it wrote before; a value without the header (a plain record, written before codecs were
used) is returned as it is. Versions, leases and fencing are the wrapped backend's own. Index
entries (due time, machine, status, state) are passed through unencoded, so the backends' index
queries keep working: they are the part of a record that an encrypted store still shows.

Built-ins: :class:`GzipCodec`, :class:`ZlibCodec` and :class:`AesGcmCodec` (AES-256/192/128-GCM from
the ``cryptography`` package, ``pip install 'durable-xstate[crypto]'``, with the key from the
environment by default). ``open_store(url, codec="gzip,aes-gcm")`` wraps the store it opens.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
import zlib
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from ..errors import CodecError, MissingDependency, StoreConfigError, short_repr
from .base import IndexEntry, Lease, Page, Storage, Versioned

__all__ = [
    "CODEC_MAGIC",
    "DEFAULT_KEY_VARIABLE",
    "AesGcmCodec",
    "CodecStore",
    "GzipCodec",
    "RecordCodec",
    "ZlibCodec",
    "codecs_from_spec",
]

#: What every encoded value starts with; then the codec names, comma-separated, and a newline.
CODEC_MAGIC = b"durable-xstate.codec/1 "
_MAX_HEADER = len(CODEC_MAGIC) + 256
_NAME_RE = re.compile(r"[a-z0-9][a-z0-9._-]{0,31}")
#: the environment variable :meth:`AesGcmCodec.from_env` reads the key from (base64 of 16, 24 or 32 bytes)
DEFAULT_KEY_VARIABLE = "DURABLE_XSTATE_KEY"
#: a decoded value larger than this is refused (a small compressed value must not expand without bound)
DEFAULT_MAX_DECODED_BYTES = 64 * 1024 * 1024


@runtime_checkable
class RecordCodec(Protocol):
    """Two-way transformation of a stored value. ``name`` (``[a-z0-9._-]``, at most 32 characters) is
    written in the value's header, so a reader knows which codec decodes it. ``key`` is the store key of
    the value: a codec may bind its output to it (AES-GCM does, so a value copied to another key does not
    decode there). ``decode`` raises :class:`~durable_xstate.errors.CodecError` for bytes it cannot decode."""

    name: str

    def encode(self, data: bytes, key: str) -> bytes: ...

    def decode(self, data: bytes, key: str) -> bytes: ...


def _inflate(data: bytes, wbits: int, key: str, name: str, limit: int) -> bytes:
    inflater = zlib.decompressobj(wbits)
    try:
        out = inflater.decompress(data, limit + 1)
    except zlib.error as err:
        raise CodecError(key, f"not {name} data: {err}") from None
    if len(out) > limit:
        raise CodecError(key, f"{name} data expands to more than {limit} bytes")
    if not inflater.eof or inflater.unused_data:
        raise CodecError(key, f"{name} data is truncated or has trailing bytes")
    return out


class GzipCodec:
    """gzip compression (``name = "gzip"``); ``level`` 1 (fast) to 9 (small), 6 by default."""

    name = "gzip"

    def __init__(self, level: int = 6, *, max_decoded_bytes: int = DEFAULT_MAX_DECODED_BYTES) -> None:
        if not 0 <= level <= 9:
            raise StoreConfigError(f"gzip level must be 0 to 9, got {level!r}")
        self.level = level
        self.max_decoded_bytes = max_decoded_bytes

    def encode(self, data: bytes, key: str) -> bytes:
        deflater = zlib.compressobj(self.level, zlib.DEFLATED, 31)  # 31: the gzip container, mtime 0
        return deflater.compress(data) + deflater.flush()

    def decode(self, data: bytes, key: str) -> bytes:
        return _inflate(data, 31, key, "gzip", self.max_decoded_bytes)


class ZlibCodec(GzipCodec):
    """zlib compression (``name = "zlib"``): gzip's deflate with a smaller frame."""

    name = "zlib"

    def encode(self, data: bytes, key: str) -> bytes:
        return zlib.compress(data, self.level)

    def decode(self, data: bytes, key: str) -> bytes:
        return _inflate(data, 15, key, "zlib", self.max_decoded_bytes)


_AES_VERSION = b"\x01"
_KEY_ID_BYTES = 4
_NONCE_BYTES = 12


def _key_id(key: bytes) -> bytes:
    return hashlib.sha256(b"durable-xstate aes-gcm key id\x00" + key).digest()[:_KEY_ID_BYTES]


def _aesgcm(key: bytes) -> Any:
    try:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    except ImportError as err:
        raise MissingDependency(
            "AES-GCM record encryption needs the cryptography package: pip install 'durable-xstate[crypto]'",
            extra="crypto", name=err.name,
        ) from err
    return AESGCM(key)


class AesGcmCodec:
    """AES-GCM encryption (``name = "aes-gcm"``) with a 128, 192 or 256-bit key.

    Each value gets a fresh random 96-bit nonce and is authenticated together with its store key, so a
    value altered, or copied under another key, fails to decode (:class:`CodecError`) instead of
    yielding wrong data. The value carries a 4-byte id of its key: ``previous`` keys still decode what
    they encrypted (key rotation: new writes use ``key``), and a wrong key is reported as such."""

    name = "aes-gcm"

    def __init__(self, key: bytes, *, previous: Sequence[bytes] = ()) -> None:
        keys = [key, *previous]
        for k in keys:
            if not isinstance(k, bytes) or len(k) not in (16, 24, 32):
                raise StoreConfigError("an AES-GCM key is 16, 24 or 32 bytes")
        self._id = _key_id(key)
        self._cipher = _aesgcm(key)
        self._ciphers = {_key_id(k): self._cipher if k == key else _aesgcm(k) for k in keys}

    @classmethod
    def from_env(cls, variable: str = DEFAULT_KEY_VARIABLE, *, environ: Mapping[str, str] | None = None) -> AesGcmCodec:
        """The codec with the key in ``$variable`` (base64, standard or URL-safe, of 16, 24 or 32 bytes),
        and the keys in ``$<variable>_PREVIOUS`` (comma-separated) for values written before a rotation.
        StoreConfigError when the variable is unset or not such a key (the message never shows it)."""
        env = os.environ if environ is None else environ
        raw = env.get(variable)
        if not raw:
            raise StoreConfigError(f"AES-GCM record encryption needs a key in ${variable} (base64 of 32 random bytes)")
        previous = [p for p in env.get(f"{variable}_PREVIOUS", "").split(",") if p.strip()]
        return cls(_parse_key(raw, variable), previous=[_parse_key(p, f"{variable}_PREVIOUS") for p in previous])

    @property
    def key_id(self) -> str:
        return self._id.hex()

    def encode(self, data: bytes, key: str) -> bytes:
        nonce = os.urandom(_NONCE_BYTES)
        sealed: bytes = self._cipher.encrypt(nonce, data, key.encode("utf-8", "surrogatepass"))
        return b"".join((_AES_VERSION, self._id, nonce, sealed))

    def decode(self, data: bytes, key: str) -> bytes:
        head = 1 + _KEY_ID_BYTES + _NONCE_BYTES
        if len(data) < head + 16 or data[:1] != _AES_VERSION:
            raise CodecError(key, "not AES-GCM data written by this codec (too short, or another layout)")
        key_id = data[1 : 1 + _KEY_ID_BYTES]
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise CodecError(key, f"encrypted with key {key_id.hex()}, not with this store's key {self.key_id} "
                                  "(nor a previous one): wrong key")
        from cryptography.exceptions import InvalidTag

        try:
            plain: bytes = cipher.decrypt(data[1 + _KEY_ID_BYTES : head], data[head:], key.encode("utf-8", "surrogatepass"))
        except InvalidTag:
            raise CodecError(key, "AES-GCM authentication failed: the value was altered, or written under another key") from None
        return plain


def _parse_key(text: str, variable: str) -> bytes:
    text = text.strip()
    try:
        key = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_" if ("-" in text or "_" in text) else None,
                               validate=True)
    except (binascii.Error, ValueError):
        raise StoreConfigError(f"${variable} is not base64") from None
    if len(key) not in (16, 24, 32):
        raise StoreConfigError(f"${variable} decodes to {len(key)} bytes; an AES key is 16, 24 or 32 bytes")
    return key


_BUILT_IN: dict[str, type[GzipCodec]] = {"gzip": GzipCodec, "zlib": ZlibCodec}


def codecs_from_spec(spec: str, *, environ: Mapping[str, str] | None = None) -> list[RecordCodec]:
    """Codecs from a comma-separated list of names: ``gzip``, ``zlib``, ``aes-gcm`` (key from
    ``$DURABLE_XSTATE_KEY``), e.g. ``"gzip,aes-gcm"`` (compress, then encrypt)."""
    found: list[RecordCodec] = []
    for name in (part.strip().lower() for part in spec.split(",")):
        if name in _BUILT_IN:
            found.append(_BUILT_IN[name]())
        elif name == "aes-gcm":
            found.append(AesGcmCodec.from_env(environ=environ))
        else:
            raise StoreConfigError(f"unknown record codec {short_repr(name)}; known: aes-gcm, gzip, zlib")
    if not found:
        raise StoreConfigError("no record codec named")
    return found


class CodecStore(Storage):
    """``inner`` with every value encoded by ``codecs`` on write and decoded on read (see the module doc).

    Everything else (versions, compare-and-set, leases, listings, index queries, limits) is the inner
    backend's. A value that does not decode raises :class:`CodecError` (a RecordError) naming its key."""

    def __init__(
        self,
        inner: Storage,
        codecs: RecordCodec | Sequence[RecordCodec],
        *,
        max_decoded_bytes: int = DEFAULT_MAX_DECODED_BYTES,
    ) -> None:
        chain = [codecs] if isinstance(codecs, RecordCodec) else list(codecs)
        if not chain:
            raise StoreConfigError("CodecStore needs at least one codec")
        for codec in chain:
            if not isinstance(codec, RecordCodec) or not isinstance(codec.name, str) or not _NAME_RE.fullmatch(codec.name):
                raise StoreConfigError(f"a record codec needs encode, decode and a name of [a-z0-9._-], got {short_repr(codec)}")
        self.inner = inner
        self.wraps = inner
        self.codecs = chain
        self.backend = inner.backend
        self.indexes = inner.indexes
        self.fences_writes = inner.fences_writes
        self.max_value_bytes = inner.max_value_bytes
        self._header = CODEC_MAGIC + ",".join(c.name for c in chain).encode("ascii") + b"\n"
        # decoders: the configured codecs, and the keyless built-ins (a store that switched from gzip to
        # zlib still reads its gzip values)
        self._decoders: dict[str, RecordCodec] = {
            name: cls(max_decoded_bytes=max_decoded_bytes) for name, cls in _BUILT_IN.items()
        }
        self._decoders.update((c.name, c) for c in chain)

    def __repr__(self) -> str:
        return f"CodecStore({self.inner!r}, [{', '.join(c.name for c in self.codecs)}])"

    def encode(self, key: str, data: bytes) -> bytes:
        """``data`` as this store writes it: the header, then the codecs' output."""
        out = bytes(data)
        for codec in self.codecs:
            out = codec.encode(out, key)
        return self._header + out

    def decode(self, key: str, data: bytes) -> bytes:
        """The value of stored bytes: decoded as their header says, or as they are without one."""
        if not data.startswith(CODEC_MAGIC):
            return data  # a plain value, written before codecs (or by the original)
        end = data.find(b"\n", len(CODEC_MAGIC), _MAX_HEADER)
        if end < 0:
            raise CodecError(key, "the codec header is not terminated")
        names = data[len(CODEC_MAGIC) : end].decode("ascii", "replace").split(",")
        out = data[end + 1 :]
        for name in reversed(names):
            codec = self._decoders.get(name)
            if codec is None:
                hint = " (open the store with the key: AesGcmCodec, or codec='aes-gcm' and $DURABLE_XSTATE_KEY)" \
                    if name == "aes-gcm" else ""
                raise CodecError(key, f"encoded with codec {short_repr(name)}, which this store was not given{hint}")
            out = codec.decode(out, key)
        return out

    async def read(self, key: str) -> Versioned | None:
        stored = await self.inner.read(key)
        if stored is None:
            return None
        return Versioned(self.decode(key, stored.data), stored.version)

    async def write(
        self,
        key: str,
        data: bytes,
        expected_version: str | None = None,
        *,
        lease: Lease | None = None,
        index: IndexEntry | None = None,
    ) -> str:
        return await self.inner.write(key, self.encode(key, data), expected_version, lease=lease, index=index)

    async def delete(self, key: str, expected_version: str | None = None, *, lease: Lease | None = None) -> None:
        await self.inner.delete(key, expected_version, lease=lease)

    async def exists(self, key: str) -> bool:
        return await self.inner.exists(key)

    async def list_page(self, prefix: str = "", cursor: str | None = None, limit: int = 1000) -> Page:
        return await self.inner.list_page(prefix, cursor, limit)

    async def due_page(self, prefix: str, until: float, cursor: str | None = None, limit: int = 1000) -> Page:
        return await self.inner.due_page(prefix, until, cursor, limit)

    async def find_page(
        self, prefix: str, labels: Mapping[str, str], cursor: str | None = None, limit: int = 1000
    ) -> Page:
        return await self.inner.find_page(prefix, labels, cursor, limit)

    def list(self, prefix: str = "", *, page_size: int = 1000) -> AsyncIterator[str]:
        return self.inner.list(prefix, page_size=page_size)

    async def close(self) -> None:
        await self.inner.close()
