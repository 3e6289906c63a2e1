"""``python -m remotemedia.migrate script.py``: the pipeline definition of the ``Pipeline([...])`` a RemoteMedia
script builds, found by reading the script (it is not run).

It follows ``Pipeline([...])`` / ``HybridPipeline([...])`` lists and ``pipeline.add_node(...)`` calls, nodes made
inline or assigned to a name first, and keyword arguments that are literals. RemoteMedia node names are written
as they are (the runtime resolves them: docs/migration.md); classes the script defines run in Python workers
(``--module script.py``). What it could not map is listed on stderr, and as comments at the top of the output,
and the exit status is 1; a script without a pipeline is exit status 2.
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

#: Node class names the runtime runs: RemoteMedia names it resolves (core/def/remotemedia.go) and our Python ports.
KNOWN = frozenset({
    "VoiceActivityDetector", "AudioTransform", "AudioBuffer", "AudioResampler", "AudioResampleNode",
    "FastResampleNode", "AudioChunkerNode", "SileroVADNode", "WhisperTranscriptionNode", "UltravoxNode",
    "KokoroTTSNode", "VADTriggeredBuffer", "TextCollectorNode", "AudioLevel", "AudioLevelNode", "SilenceDetector",
    "SilenceDetectorNode", "ClippingDetector", "ClippingDetectorNode", "PassThrough", "PassThroughNode",
    "SileroVAD", "WhisperASR", "KokoroTTS", "EspeakTTS",
})

#: Why some RemoteMedia nodes have no equivalent node.
WHY_NOT = {
    "MediaReaderNode": "a file source: give the audio to `remotemedia run --in FILE.wav` or HybridPipeline.run()",
    "AudioTrackSource": "a track source: frames come from the client (run --in, a live session, the page's mic)",
    "MediaWriterNode": "a file sink: `remotemedia run --out FILE.wav` writes the pipeline's audio output",
    "CodeExecutorNode": "runs code sent to it; no code crosses the wire here",
    "SerializedClassExecutorNode": "runs pickled code; no code crosses the wire here",
}

_PIPELINES = ("Pipeline", "HybridPipeline")
_ID_CHARS = re.compile(r"[^A-Za-z0-9_-]+")


@dataclass
class Result:
    """A migrated pipeline: its definition and what could not be mapped."""

    definition: dict[str, Any]
    unmapped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    user_classes: list[str] = field(default_factory=list)


def _callee(call: ast.Call) -> str:
    f = call.func
    if isinstance(f, ast.Name):
        return f.id
    if isinstance(f, ast.Attribute):
        return f.attr
    return ""


class _Migrator:
    def __init__(self, tree: ast.Module, script: str) -> None:
        self.script = script
        self.classes = {n.name for n in ast.walk(tree) if isinstance(n, ast.ClassDef)}
        self.env: dict[str, ast.expr] = {}
        for n in ast.walk(tree):
            if isinstance(n, ast.Assign) and len(n.targets) == 1 and isinstance(n.targets[0], ast.Name):
                self.env.setdefault(n.targets[0].id, n.value)
        self.ids: set[str] = set()
        self.result = Result(definition={})

    def resolve(self, e: ast.expr) -> ast.expr:
        seen = 0
        while isinstance(e, ast.Name) and e.id in self.env and seen < 16:
            e, seen = self.env[e.id], seen + 1
        return e

    def node(self, e: ast.expr) -> dict[str, Any] | None:
        r = self.result
        e = self.resolve(e)
        line = getattr(e, "lineno", 0)
        if not isinstance(e, ast.Call):
            r.unmapped.append(f"line {line}: {ast.unparse(e)[:60]}: not a node made by a call")
            return None
        cls = _callee(e)
        hint: str | None = None
        if cls == "RemoteObjectExecutionNode":
            target = next((k.value for k in e.keywords if k.arg == "obj_to_execute"), e.args[0] if e.args else None)
            if target is None:
                r.unmapped.append(f"line {line}: RemoteObjectExecutionNode without obj_to_execute")
                return None
            r.notes.append(f"line {line}: RemoteObjectExecutionNode ran its node on another host with pickled code; "
                           "the node runs here (docs/migration.md: nodes on another host, no code on the wire)")
            return self.node(target)
        if cls in self.classes and cls not in KNOWN:
            hint = "python"
            if cls not in r.user_classes:
                r.user_classes.append(cls)
        elif cls not in KNOWN:
            why = WHY_NOT.get(cls, "no node type of that name here (register the class: docs/python-nodes.md)")
            r.unmapped.append(f"line {line}: {cls}: {why}")
            return None
        if e.args:
            r.unmapped.append(f"line {line}: {cls}: positional arguments are not mapped; give them by keyword")
        params: dict[str, Any] = {}
        name = cls
        for k in e.keywords:
            if k.arg is None:
                r.unmapped.append(f"line {line}: {cls}: **{ast.unparse(k.value)} is not mapped")
                continue
            try:
                v = ast.literal_eval(k.value)
            except ValueError:
                r.unmapped.append(f"line {line}: {cls}({k.arg}={ast.unparse(k.value)[:40]}): not a literal")
                continue
            if k.arg == "name" and isinstance(v, str):
                name = v
            elif k.arg == "runtime_hint" and isinstance(v, str):
                hint = v if v not in ("auto", "") else hint
            elif k.arg in ("node_id", "node_config", "config"):
                continue
            else:
                params[k.arg] = list(v) if isinstance(v, tuple) else v
        nid = base = _ID_CHARS.sub("_", name) or "node"
        i = 2
        while nid in self.ids:
            nid, i = f"{base}_{i}", i + 1
        self.ids.add(nid)
        out: dict[str, Any] = {"id": nid, "node_type": cls}
        if params:
            out["params"] = params
        if hint:
            out["runtime_hint"] = hint
        return out


def _pipelines(tree: ast.Module, m: _Migrator) -> list[tuple[int, list[ast.expr]]]:
    """Each pipeline the script builds: its line and its node expressions in order."""
    found: list[tuple[int, list[ast.expr]]] = []
    by_var: dict[str, list[ast.expr]] = {}
    calls = sorted((n for n in ast.walk(tree) if isinstance(n, ast.Call)), key=lambda c: (c.lineno, c.col_offset))
    for c in calls:
        if _callee(c) in _PIPELINES:
            arg = c.args[0] if c.args else next((k.value for k in c.keywords if k.arg == "nodes"), None)
            items = list(arg.elts) if isinstance(arg, (ast.List, ast.Tuple)) else []
            found.append((c.lineno, items))
            for var, val in m.env.items():
                if val is c:
                    by_var[var] = items
        elif (isinstance(c.func, ast.Attribute) and c.func.attr == "add_node" and isinstance(c.func.value, ast.Name)
              and c.func.value.id in by_var and c.args):
            by_var[c.func.value.id].append(c.args[0])
    return [(line, items) for line, items in found if items]


def migrate(source: str, script: str = "script.py") -> Result:
    """The definition of the first pipeline source builds, with what could not be mapped."""
    tree = ast.parse(source, filename=script)
    m = _Migrator(tree, script)
    pipes = _pipelines(tree, m)
    if not pipes:
        raise ValueError(f"{script}: no Pipeline([...]) or pipeline.add_node(...) found")
    line, items = pipes[0]
    if len(pipes) > 1:
        m.result.notes.append(f"{len(pipes) - 1} more pipeline(s) after line {line} (lines "
                              f"{', '.join(str(p[0]) for p in pipes[1:])}) were not migrated")
    nodes = [n for n in (m.node(e) for e in items) if n is not None]
    m.result.definition = {
        "version": "1",
        "metadata": {"name": Path(script).stem, "description": f"migrated from {Path(script).name}"},
        "nodes": nodes,
        "connections": [{"from": a["id"], "to": b["id"]} for a, b in zip(nodes, nodes[1:])],
    }
    if m.result.user_classes:
        m.result.notes.append(f"{', '.join(m.result.user_classes)} run in Python workers: "
                              f"remotemedia run/serve --module {Path(script).name}")
    return m.result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m remotemedia.migrate", description=__doc__.split("\n\n")[0])
    ap.add_argument("script", help="a Python script that builds a RemoteMedia Pipeline")
    ap.add_argument("-o", "--out", help="write the definition to this file instead of stdout")
    args = ap.parse_args(argv)
    try:
        res = migrate(Path(args.script).read_text(), args.script)
    except (OSError, SyntaxError, ValueError) as e:
        print(f"remotemedia.migrate: {e}", file=sys.stderr)
        return 2
    head = "".join(f"# not mapped: {u}\n" for u in res.unmapped) + "".join(f"# note: {n}\n" for n in res.notes)
    text = head + yaml.safe_dump(res.definition, sort_keys=False)
    if args.out:
        Path(args.out).write_text(text)
    else:
        sys.stdout.write(text)
    for u in res.unmapped:
        print(f"remotemedia.migrate: not mapped: {u}", file=sys.stderr)
    for n in res.notes:
        print(f"remotemedia.migrate: note: {n}", file=sys.stderr)
    return 1 if res.unmapped else 0


if __name__ == "__main__":
    sys.exit(main())
