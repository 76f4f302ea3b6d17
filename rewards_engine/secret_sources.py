"""Where secrets come from: a variable, the file a ``NAME_FILE`` variable names, or, in
development, a random value made once in the instance folder. Kept apart from the
settings (rewards_engine.config) that use them."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Mapping
from pathlib import Path


class ConfigError(RuntimeError):
    """The configuration is unusable; the message says which variable to set."""


def secret(env: Mapping[str, str], name: str) -> str | None:
    """A secret from ``NAME`` or from the file ``NAME_FILE`` names (the Docker and
    Kubernetes secrets convention: the value never sits in the process environment).
    Both set is refused, naming the variable, rather than one silently winning; the
    file's trailing newline is dropped. The value never appears in a message."""
    value = env.get(name) or None
    path = env.get(f"{name}_FILE") or None
    if value is not None and path is not None:
        raise ConfigError(f"{name} and {name}_FILE are both set: set one of them")
    if path is None:
        return value
    try:
        text = Path(path).read_text().strip()
    except OSError as exc:
        raise ConfigError(f"{name}_FILE names a file that cannot be read: {exc.strerror}") from exc
    if not text:
        raise ConfigError(f"{name}_FILE names an empty file ({path})")
    return text


def secret_list(env: Mapping[str, str], name: str, single: str | None = None) -> tuple[str, ...]:
    """Comma-separated secrets, newest first (``ERASURE_SALTS``, ``FINGERPRINT_KEYS``,
    ``ENCRYPTION_KEYS``), each from the environment or a file; ``single`` is the
    singular spelling (``ERASURE_SALT``), accepted when the plural is unset."""
    raw = secret(env, name)
    if single is not None:
        one = secret(env, single)
        if raw is not None and one is not None:
            raise ConfigError(f"{name} and {single} are both set: set one of them")
        raw = raw if raw is not None else one
    return tuple(part.strip() for part in (raw or "").split(",") if part.strip())


def hex_secret() -> str:
    return secrets.token_hex(32)


def fernet_key() -> str:
    from rewards_engine.crypto import generate_key

    return generate_key()


def development_secret(
    instance_dir: Path,
    name: str = "dev-jwt-secret",
    make: Callable[[], str] = lambda: secrets.token_urlsafe(48),
) -> str:
    """A per-installation random secret, created once and shared by its processes."""
    instance_dir.mkdir(parents=True, exist_ok=True)
    path = instance_dir / name
    if not path.exists():
        draft = instance_dir / f".{name}.{os.getpid()}"
        draft.write_text(make())
        draft.chmod(0o600)
        try:
            os.link(draft, path)  # atomic: the first process to link wins
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    return path.read_text().strip()
