"""Development secrets kept under ``var/keys/``, so a laptop run works; production sets them from a secret store."""

from __future__ import annotations

import base64
import os
import secrets
import tempfile
from pathlib import Path


def dev_secret(path: Path, *, size: int = 32) -> str:
    """The base64 secret in ``path``, created (mode 0600) with ``size`` random bytes when absent.

    Several service processes may start at once: each writes a private temp file and hard-links it into place,
    which fails for all but the first; the others read the winner's. Nobody ever reads a half-written secret.
    """
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as out:
            out.write(base64.b64encode(secrets.token_bytes(size)).decode() + "\n")
        os.chmod(tmp, 0o600)
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass  # another process created it meanwhile: use theirs
    finally:
        Path(tmp).unlink(missing_ok=True)
    return path.read_text().strip()
