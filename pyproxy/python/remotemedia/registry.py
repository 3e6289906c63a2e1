"""Node type registry: decorator, explicit call, entry points and user modules named on the command line."""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import inspect
import logging
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

from .node import Node
from .protocol import NodeSpec, ParamSpec

log = logging.getLogger("remotemedia.registry")

ENTRY_POINT_GROUP = "remotemedia.nodes"

_registry: dict[str, type] = {}

T = TypeVar("T", bound=type)


class UnknownNodeType(KeyError):
    """No node class is registered under the requested type name."""

    def __str__(self) -> str:
        return str(self.args[0])


def register_node_class(cls: type, name: str | None = None) -> type:
    """Register cls under name (default: its class name) and return it."""
    if not inspect.isclass(cls) or not callable(getattr(cls, "process", None)):
        raise TypeError(f"register_node_class: {cls!r} is not a node class with a process method")
    name = name or cls.__name__
    old = _registry.get(name)
    if old is not None and old is not cls:
        log.warning("node type %r: %s.%s replaces %s.%s", name, cls.__module__, cls.__qualname__,
                    old.__module__, old.__qualname__)
    _registry[name] = cls
    return cls


def register_node(arg: Any = None) -> Any:
    """Class decorator: ``@register_node`` (type name = class name) or ``@register_node("NodeType")``."""
    if inspect.isclass(arg):
        return register_node_class(arg)

    def deco(cls: T) -> T:
        register_node_class(cls, arg)
        return cls

    return deco


def get_node_class(name: str) -> type:
    """The class registered under name; UnknownNodeType lists what is registered."""
    try:
        return _registry[name]
    except KeyError:
        raise UnknownNodeType(
            f"unknown node type {name!r} (registered: {', '.join(sorted(_registry)) or 'none'})") from None


def registered_nodes() -> dict[str, type]:
    """A copy of the registry: type name -> class."""
    return dict(_registry)


def unregister(name: str) -> None:
    """Forget a node type (tests)."""
    _registry.pop(name, None)


def register_module_nodes(mod: ModuleType) -> list[str]:
    """Register every concrete Node subclass defined in mod by class name (those already registered, e.g.
    by the decorator under another name, keep their names); returns the node type names mod provides."""
    names = []
    for attr in list(vars(mod).values()):
        if not inspect.isclass(attr) or attr.__module__ != mod.__name__:
            continue
        known = [k for k, v in _registry.items() if v is attr]
        if known:
            names += known
        elif (issubclass(attr, Node) and attr is not Node and not inspect.isabstract(attr)
              and attr.process is not Node.process):
            register_node_class(attr)
            names.append(attr.__name__)
    return names


def load_module_path(path: str | Path) -> list[str]:
    """Import a Python file and register its nodes; returns the node type names it provides."""
    path = Path(path).resolve()
    if not path.is_file():
        raise FileNotFoundError(f"--module {path}: no such file")
    name = "remotemedia_user_" + re.sub(r"\W", "_", path.stem)
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"--module {path}: cannot load as a Python module")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    sys.path.insert(0, str(path.parent))  # let it import its siblings
    spec.loader.exec_module(mod)
    return register_module_nodes(mod)


def load_module_name(name: str) -> list[str]:
    """Import a module by dotted name and register its nodes."""
    return register_module_nodes(importlib.import_module(name))


def load_entry_points(group: str = ENTRY_POINT_GROUP) -> list[str]:
    """Load the ``remotemedia.nodes`` entry points: a class registers under the entry point's name, a
    module registers its Node subclasses. A broken entry point is logged, not fatal."""
    names = []
    for ep in importlib.metadata.entry_points(group=group):
        try:
            obj = ep.load()
            if inspect.ismodule(obj):
                names += register_module_nodes(obj)
            else:
                register_node_class(obj, ep.name)
                names.append(ep.name)
        except Exception as e:  # noqa: BLE001 - one bad plugin must not stop the worker
            log.error("entry point %s = %s: %s: %s", ep.name, ep.value, type(e).__name__, e)
    return names


_PARAM_TYPES = ((bool, "boolean"), (int, "integer"), (float, "number"), (str, "string"))


def _param_type(annotation: Any, default: Any) -> str:
    if default is not inspect.Parameter.empty and default is not None:
        return next((name for typ, name in _PARAM_TYPES if type(default) is typ), "object")
    a = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", "")
    return next((name for typ, name in _PARAM_TYPES if re.search(rf"\b{typ.__name__}\b", a)), "object")


def _portable(v: Any) -> Any:
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    if isinstance(v, (list, tuple)) and all(isinstance(x, (bool, int, float, str)) for x in v):
        return list(v)
    return repr(v)


#: Param names that name a program, a file or directory, a model location or a code choice: operator-only for
#: a node class that does not list its operator_params. Compared in lower case; see docs/python-nodes.md.
OPERATOR_NAMES = frozenset({
    "binary", "executable", "exe", "program", "command", "cmd", "script", "module", "path", "file", "filename",
    "dir", "directory", "folder", "root", "cwd", "model", "url", "uri", "endpoint", "host", "trust_remote_code"})
OPERATOR_SUFFIXES = ("_binary", "_executable", "_program", "_command", "_cmd", "_script", "_path", "_file",
                     "_filename", "_dir", "_directory", "_folder", "_root", "_model", "_url", "_uri", "_endpoint",
                     "_host")
OPERATOR_PREFIXES = ("model_",)


def operator_by_name(param: str) -> bool:
    """The name rule: True when a param's name says it names a program, a file or directory, a model location
    or a code choice (binary, model_path, voice_file, model, model_name, base_url, trust_remote_code...)."""
    p = param.lower()
    return p in OPERATOR_NAMES or p.endswith(OPERATOR_SUFFIXES) or p.startswith(OPERATOR_PREFIXES)


def operator_params(cls: type, names: list[str]) -> set[str]:
    """Which of names (the constructor params of cls) only the operator may set: the class's own
    operator_params when it lists them, else those the name rule marks."""
    declared = getattr(cls, "operator_params", None)
    if declared is not None:
        if isinstance(declared, str):
            declared = (declared,)
        return set(declared)
    return {n for n in names if operator_by_name(n)}


def unavailable_reason(cls: type) -> str:
    """Why cls cannot run here at its defaults ("" when it can), from its unavailable() classmethod or
    staticmethod (anything else of that name, e.g. an instance method of a RemoteMedia node, is not asked)."""
    try:
        static = inspect.getattr_static(cls, "unavailable")
    except AttributeError:
        return ""
    if not isinstance(static, (classmethod, staticmethod)):
        return ""
    check = getattr(cls, "unavailable")
    try:
        reason = check()
    except Exception as e:  # noqa: BLE001 - a broken check must not stop the worker
        return f"{getattr(cls, '__name__', cls)}.unavailable() raised {type(e).__name__}: {e}"
    return str(reason) if reason else ""


def describe(name: str, cls: type) -> NodeSpec:
    """The ready-message description of a node class: doc, streaming flag, the params of __init__ (each with
    required and operator flags) and, when it cannot run here, why (unavailable)."""
    doc = inspect.getdoc(cls) or ""
    try:
        sig = inspect.signature(cls.__init__)  # type: ignore[misc]  # the class's own constructor
    except (TypeError, ValueError):
        sig = None
    sig_params = [p for p in (sig.parameters.values() if sig else [])
                  if p.name not in ("self", "name") and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]
    operator = operator_params(cls, [p.name for p in sig_params])
    required = set(getattr(cls, "required_params", ()) or ())
    params: list[ParamSpec] = []
    for p in sig_params:
        m = re.search(rf"^\s*{re.escape(p.name)}\s*(?:\([^)]*\))?\s*:\s*(.+)$", doc, re.M)
        params.append({
            "name": p.name,
            "type": _param_type(p.annotation, p.default),
            "default": None if p.default is inspect.Parameter.empty else _portable(p.default),
            "doc": m.group(1).strip() if m else "",
            "required": p.default is inspect.Parameter.empty or p.name in required,
            "operator": p.name in operator,
        })
    return {"node_type": name, "doc": doc.split("\n\n")[0], "is_streaming": class_is_streaming(cls),
            "params": params, "unavailable": unavailable_reason(cls)}


def class_is_streaming(cls: type) -> bool:
    """Whether cls streams, as the ready message says it, found with inspect and without making an instance (that
    may load a model): the class attribute is_streaming is True, or process is an async generator function and
    __init__ assigns self.is_streaming, as RemoteMedia's own streaming nodes do. The worker decides each session
    from the instance's is_streaming once it is made (Session.open), so a node that sets it to False in __init__
    is run per item whatever this says."""
    if _class_attr(cls, "is_streaming") is True:
        return True
    if not inspect.isasyncgenfunction(getattr(cls, "process", None)):
        return False
    init = inspect.unwrap(getattr(cls, "__init__", object.__init__))
    code = getattr(init, "__code__", None)
    return code is not None and "is_streaming" in code.co_names


def _class_attr(cls: type, name: str) -> bool | None:
    """The value of a plain bool class attribute (None when absent or anything else, such as a property)."""
    try:
        v = inspect.getattr_static(cls, name)
    except AttributeError:
        return None
    return v if isinstance(v, bool) else None
