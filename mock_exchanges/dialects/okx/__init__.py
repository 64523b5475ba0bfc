"""OKX v5 style dialect: `/api/v5` REST, `/ws/v5/public` + `/ws/v5/private`, books chained by seqId/prevSeqId
with a CRC32 checksum, HMAC-SHA256 + passphrase auth."""

from .auth import passphrase_for
from .dialect import OkxDialect

__all__ = ["OkxDialect", "passphrase_for"]
