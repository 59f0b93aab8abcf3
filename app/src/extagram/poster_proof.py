"""The poster's proof: the upload's 303 goes to `/?posted=<id>.<expires>.<signature>`.

S1 never answers that address from its cache, so a feed node renders it, from the primary when the
replica lacks the post yet: whoever just published sees their post at once. The signature (an HMAC
with a secret every app node shares) binds the post id to the expiry, so nobody can make a proof
for another post or a later time, and a proof that leaked stops working after `poster_proof_seconds`.
"""

from __future__ import annotations

import hashlib
import hmac
import time

SIGNATURE_HEX_DIGITS = 32  # 128 bits of the SHA-256 HMAC


def issue(secret: str, post_id: int, lifetime_seconds: int) -> str:
    return signed(secret, post_id, int(time.time()) + lifetime_seconds)


def signed(secret: str, post_id: int, expires: int) -> str:
    """The proof for `post_id` until the Unix time `expires`."""
    return f"{post_id}.{expires}.{_signature(secret, post_id, expires)}"


def is_valid(secret: str, post_id: int, expires: int, signature: str) -> bool:
    """True for a proof this site issued whose time has not run out."""
    if expires < time.time():
        return False
    return hmac.compare_digest(signature, _signature(secret, post_id, expires))


def _signature(secret: str, post_id: int, expires: int) -> str:
    message = f"posted:{post_id}:{expires}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()[:SIGNATURE_HEX_DIGITS]
