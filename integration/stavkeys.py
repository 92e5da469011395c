"""Stav key helpers for tests and benchmarks: the key format (an independent implementation,
so a drift in the Rust side shows up) and keys-file records for deterministic test keys."""
import hashlib
import zlib

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
ALL_SCOPES = ["chat", "embeddings", "models:read", "count_tokens"]


def checksum(body: str) -> str:
    n = zlib.crc32(body.encode())
    out = ""
    for _ in range(6):
        out = ALPHABET[n % 62] + out
        n //= 62
    return out


def make_key(kid: str, secret: str, env: str = "live") -> str:
    """A well-formed key: kid 12 base62, secret 32 base62."""
    assert len(kid) == 12 and len(secret) == 32
    body = f"hm_{env}_{kid}_{secret}"
    return body + checksum(body)


def well_formed(key: str) -> bool:
    return len(key) == 59 and key[:8] in ("hm_live_", "hm_test_") and checksum(key[:-6]) == key[-6:]


def sha256(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def toml_list(items):
    return "[" + ", ".join(f'"{i}"' for i in items) + "]"


def record(kid: str, team: str, keys, scopes=None, env: str = "live", **extra) -> str:
    """A `[[keys]]` entry accepting `keys` (one key or a list of (key, not_after or None))."""
    if isinstance(keys, str):
        keys = [(keys, None)]
    secrets = ", ".join(
        f'{{ sha256 = "{sha256(k)}"' + (f', not_after = "{t}"' if t else "") + " }" for k, t in keys)
    lines = [
        "[[keys]]",
        f'id = "{kid}"',
        f'env = "{env}"',
        f'team = "{team}"',
        f"scopes = {toml_list(scopes or ALL_SCOPES)}",
        'created_at = "2026-01-01T00:00:00Z"',
    ]
    for k, v in extra.items():
        if isinstance(v, list):
            lines.append(f"{k} = {toml_list(v)}")
        elif isinstance(v, str):
            lines.append(f'{k} = "{v}"')
        else:
            lines.append(f"{k} = {v}")
    lines.append(f"secrets = [{secrets}]")
    return "\n".join(lines) + "\n"
