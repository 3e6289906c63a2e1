"""``@node_function``: a plain function or coroutine registered as a node type.

```python
from remotemedia import node_function

@node_function                       # node type "shout"
def shout(text: str, suffix: str = "!") -> str:
    return text.upper() + suffix

HybridPipeline([..., shout(suffix="!!")])   # the decorated name makes a node; its keyword params are the node's
```

The first parameter receives each input (as a Node's ``process`` does: ``(audio, rate)``, ``str``, parsed JSON,
...); the others, which need defaults or are given when the node is made, are the node's params (``remotemedia
nodes`` and the worker's ``ready`` message describe them from the function's signature). Returning None drops the
input. The function's file is loaded in the Python workers (``serve --module FILE``), so it must be importable
there: keep code that should not run in a worker under ``if __name__ == "__main__":``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, cast

from .node import Node
from .registry import register_node_class


def _make_class(fn: Callable[..., Any], type_name: str) -> type[Node]:
    sig = inspect.signature(fn)
    params = list(sig.parameters.values())
    if not params or params[0].kind not in (params[0].POSITIONAL_ONLY, params[0].POSITIONAL_OR_KEYWORD):
        raise TypeError(f"@node_function {fn.__qualname__}: the first parameter must take the input")
    node_params = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in params[1:]
                   if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    names = [p.name for p in node_params]
    is_async = inspect.iscoroutinefunction(fn)

    def __init__(self: Node, name: str | None = None, **kwargs: Any) -> None:
        own = {k: kwargs.pop(k) for k in list(kwargs) if k in names}
        Node.__init__(self, name=name, **kwargs)
        bound = inspect.Signature(node_params).bind_partial(**own)
        bound.apply_defaults()
        missing = [p.name for p in node_params if p.name not in bound.arguments]
        if missing:
            raise TypeError(f"{type_name}: missing param(s) {', '.join(missing)}")
        for k, v in bound.arguments.items():
            setattr(self, k, v)

    sig_params = [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD), *node_params,
                  inspect.Parameter("kwargs", inspect.Parameter.VAR_KEYWORD)]
    __init__.__signature__ = inspect.Signature(sig_params)  # type: ignore[attr-defined]  # the ready message reads it

    if is_async:
        async def process(self: Node, data: Any) -> Any:
            return await fn(data, **{k: getattr(self, k) for k in names})
    else:
        def process(self: Node, data: Any) -> Any:  # type: ignore[misc]  # one of two definitions
            return fn(data, **{k: getattr(self, k) for k in names})

    doc = inspect.getdoc(fn) or f"The function {fn.__qualname__} as a node."
    cls = type(type_name, (Node,), {"__init__": __init__, "process": process, "__doc__": doc,
                                    "__module__": fn.__module__, "__qualname__": type_name})
    return cast("type[Node]", cls)


def node_function(arg: Any = None, *, name: str | None = None) -> Any:
    """Register a function or coroutine as a node type: ``@node_function`` (type name = the function's name),
    ``@node_function("Type")`` or ``@node_function(name="Type")``. Returns the node class; calling it with the
    params makes a node."""
    if callable(arg) and not isinstance(arg, type):
        return register_node_class(_make_class(arg, name or arg.__name__))
    type_name = arg if isinstance(arg, str) else name

    def deco(fn: Callable[..., Any]) -> type[Node]:
        return cast("type[Node]", register_node_class(_make_class(fn, type_name or fn.__name__)))

    return deco
