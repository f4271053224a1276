"""LZF decompression (the codec of PCD ``binary_compressed``), strict about corrupt input."""

from __future__ import annotations

from casl_core.errors import ScanFormatError


def lzf_decompress(src: bytes, expected: int, path: str) -> bytes:
    """Decompress LZF data that must expand to exactly ``expected`` bytes.

    LZF is a run of tokens: a control byte below 32 starts ``ctrl + 1`` literal bytes;
    otherwise its top three bits (plus one more byte when they are all set) give a
    length and the rest, with the next byte, a distance back into the output to copy from.
    Every token consumes input, so the loop always ends.

    Raises
    ------
    ScanFormatError
        If a token runs past the input, points before the start of the output, or the
        output is not exactly ``expected`` bytes long.
    """
    out = bytearray()
    ip, n = 0, len(src)
    while ip < n:
        ctrl = src[ip]
        ip += 1
        if ctrl < 32:
            run = ctrl + 1
            if ip + run > n:
                raise _corrupt(path, "a literal run passes the end of the data")
            out += src[ip : ip + run]
            ip += run
        else:
            length = ctrl >> 5
            if length == 7:
                if ip >= n:
                    raise _corrupt(path, "a back-reference is cut off")
                length += src[ip]
                ip += 1
            if ip >= n:
                raise _corrupt(path, "a back-reference is cut off")
            dist = ((ctrl & 0x1F) << 8) + src[ip] + 1
            ip += 1
            length += 2
            start = len(out) - dist
            if start < 0:
                raise _corrupt(path, "a back-reference points before the start of the data")
            if dist >= length:
                out += out[start : start + length]
            else:
                pattern = out[start:]
                out += (pattern * (length // dist + 1))[:length]
        if len(out) > expected:
            raise _corrupt(path, f"the data expands past the {expected} bytes the header announces")
    if len(out) != expected:
        raise _corrupt(path, f"the data expands to {len(out)} bytes, the header announces {expected}")
    return bytes(out)


def _corrupt(path: str, problem: str) -> ScanFormatError:
    return ScanFormatError(path, f"corrupt compressed PCD data: {problem}")
