"""Call-outs as audio from the server (espeak-ng, Mandarin) for screens whose browser has no
Chinese voice. Optional: without espeak-ng the endpoint answers 503 and screens just display."""

from __future__ import annotations

import shutil
import subprocess
from functools import lru_cache

MAX_CHARS = 80


@lru_cache(maxsize=256)
def synthesize(text: str) -> bytes | None:
    """A WAV of ``text`` spoken in Mandarin, or None when espeak-ng is missing or fails.

    Call-outs repeat (the same number at the same window), so results are cached.
    """
    exe = shutil.which("espeak-ng")
    if exe is None:
        return None
    try:
        out = subprocess.run([exe, "-v", "cmn", "-s", "140", "--stdout", text[:MAX_CHARS]],
                             capture_output=True, timeout=10, check=True).stdout
    except (subprocess.SubprocessError, OSError):
        return None
    return out if out.startswith(b"RIFF") else None
