"""Model location and the per-worker model cache shared by all sessions."""

from __future__ import annotations

import importlib.util
import threading
from pathlib import Path
from typing import Any, Callable


class ModelNotAvailable(RuntimeError):
    """The weights or the library a node needs are not installed; nothing is ever downloaded."""


_models: dict[Any, Any] = {}
_lock = threading.Lock()
_key_locks: dict[Any, threading.Lock] = {}


def shared_model(key: Any, load: Callable[[], Any]) -> Any:
    """The model cached under key, loaded with load() the first time: once per worker process, shared by
    every session (and thread) that asks for the same key."""
    with _lock:
        if key in _models:
            return _models[key]
        key_lock = _key_locks.setdefault(key, threading.Lock())
    with key_lock:
        if key not in _models:
            _models[key] = load()
        return _models[key]


def cached_models() -> list[Any]:
    """The keys of the models loaded so far (tests, diagnostics)."""
    with _lock:
        return list(_models)


def package_dir(name: str) -> Path | None:
    """The directory of an installed package, found without importing it (silero_vad's __init__ imports
    torch, which we do not need to read its data files)."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def require_path(node: str, path: str | Path | None, what: str = "model") -> Path:
    """path as a Path, or ModelNotAvailable naming the node and the path."""
    if not path:
        raise ModelNotAvailable(f"{node}: {what} not available at <unset>: set the model_path param")
    p = Path(path)
    if not p.exists():
        raise ModelNotAvailable(f"{node}: {what} not available at {p}: no such file or directory")
    return p


def require_module(node: str, path: str | Path | None, module: str, extra: str) -> Any:
    """Import module or raise ModelNotAvailable naming the node, the path and how to install it."""
    try:
        return __import__(module, fromlist=["_"])
    except ImportError as e:
        raise ModelNotAvailable(
            f"{node}: model not available at {path}: the {module!r} library is not installed "
            f"(pip install {extra}): {e}") from None
