"""A YAML document that remembers where each node is: errors name file:line and the field,
and ${ENV} / ${ENV:-default} are filled from the environment (scenario files use it)."""

from __future__ import annotations

import re
from typing import Any

import yaml

from perfkit.durations import parse_duration_s
from perfkit.errors import UsageError

_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
Path_ = tuple[str | int, ...]


class YamlSource:
    """Line numbers of every node of a YAML document, by path."""

    def __init__(self, file: str, text: str) -> None:
        self.file = file
        self.lines: dict[Path_, int] = {}
        try:
            root = yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = mark.line + 1 if mark is not None else 1
            raise UsageError(f"{file}:{line}: invalid YAML: "
                             f"{getattr(exc, 'problem', None) or exc}") from None
        if root is not None:
            self._walk(root, ())

    def _walk(self, node: yaml.Node, path: Path_) -> None:
        self.lines[path] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                self._walk(value_node, (*path, str(key_node.value)))
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                self._walk(item, (*path, i))

    def error(self, path: Path_, message: str) -> UsageError:
        probe = path
        while probe and probe not in self.lines:
            probe = probe[:-1]
        line = self.lines.get(probe, 1)
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")
        return UsageError(f"{self.file}:{line}: {where or 'scenario'}: {message}")


def substitute_env(value: Any, src: YamlSource, path: Path_, environ: dict[str, str]) -> Any:
    """Substitute ${VAR} / ${VAR:-default} from the environment, recursively."""
    if isinstance(value, str):
        def sub(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            if environ.get(name):
                return environ[name]
            if default is not None:
                return default
            raise src.error(path, f"environment variable {name} is not set")

        return _ENV.sub(sub, value)
    if isinstance(value, dict):
        return {k: substitute_env(v, src, (*path, str(k)), environ) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute_env(v, src, (*path, i), environ) for i, v in enumerate(value)]
    return value


def duration_at(value: Any, src: YamlSource, path: Path_) -> float:
    try:
        return parse_duration_s(value)
    except UsageError as exc:
        raise src.error(path, exc.message) from None
