"""Cache lookups in log lines, counted per key family.

The default is the runbook's line, `Cache HIT: auth_user:a1b2…`; any other cache is read with
a `LinePattern`: a regex with the named groups `result` (the hit/miss word) and `key`, the
words that mean a hit or a miss, and for JSON log lines the fields to read (a message field
the regex searches, or structured `result` and `key` fields). Patterns are named presets
under `cache:` in perfkit.yaml. Tolerates what log pipelines add around the message:
docker-compose prefixes (`backend-1  | …`), timestamps and levels.
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Any

from perfkit.errors import UsageError

DEMO_REGEX = r"Cache (?P<result>HIT|MISS)\s*:\s*(?P<key>[^\s\"',}]+)"
DEMO_PRESET = "demo"
MESSAGE_FIELDS = ("message", "msg", "log", "event", "text")
NO_KEY_FAMILY = "(all)"
_COMPOSE_PREFIX = re.compile(r"^[\w.-]+\s*\|\s?")
PRESET_KEYS = {"pattern", "hit", "miss", "json_message", "json_result", "json_key"}
SCHEMA = "perfkit.cache-stats/1"


@dataclass(frozen=True)
class CacheLookup:
    hit: bool
    key: str

    @property
    def family(self) -> str:
        """`auth_user` of `auth_user:a1b2…`; keys without a colon are their own family."""
        if not self.key:
            return NO_KEY_FAMILY
        return self.key.split(":", 1)[0] if ":" in self.key else self.key


@dataclass(frozen=True)
class UnknownResult:
    """A line the pattern matched whose result word is neither a hit nor a miss word."""

    word: str


@dataclass(frozen=True)
class LinePattern:
    """How a log line reports a cache lookup."""

    regex: re.Pattern[str] = re.compile(DEMO_REGEX)
    hit_words: frozenset[str] = frozenset({"hit"})
    miss_words: frozenset[str] = frozenset({"miss"})
    message_fields: tuple[str, ...] = MESSAGE_FIELDS
    json_result: str | None = None  # a JSON field holding the hit/miss word (or a boolean)
    json_key: str | None = None
    name: str = DEMO_PRESET

    @property
    def describes(self) -> str:
        """What a line must show, for messages (`no line matching …`)."""
        if self.json_result:
            return f"JSON lines with a {self.json_result!r} field"
        return "`Cache HIT:`/`Cache MISS:` lines" if self.name == DEMO_PRESET else (
            f"lines matching the cache pattern {self.name!r}")

    def result(self, word: object) -> bool | UnknownResult:
        if isinstance(word, bool):
            return word
        lowered = str(word).strip().lower()
        if lowered in self.hit_words:
            return True
        if lowered in self.miss_words:
            return False
        return UnknownResult(str(word))

    def parse(self, line: str) -> CacheLookup | UnknownResult | None:
        """The cache lookup a log line reports, or None."""
        text = line.strip()
        record = _json_record(text)
        if record is not None and self.json_result:
            return self._structured(record)
        if record is not None:
            text = next((str(record[f]) for f in self.message_fields if f in record), text)
        match = self.regex.search(text)
        if match is None:
            return None
        hit = self.result(match.group("result"))
        if isinstance(hit, UnknownResult):
            return hit
        key = match.groupdict().get("key") or ""
        return CacheLookup(hit=hit, key=key)

    def _structured(self, record: Mapping[str, Any]) -> CacheLookup | UnknownResult | None:
        word = _field(record, self.json_result or "")
        if word is None:
            return None
        hit = self.result(word)
        if isinstance(hit, UnknownResult):
            return hit
        key = _field(record, self.json_key) if self.json_key else None
        return CacheLookup(hit=hit, key="" if key is None else str(key))


DEMO_PATTERN = LinePattern()


def _json_record(text: str) -> Mapping[str, Any] | None:
    """A JSON object log line, also behind a docker-compose prefix."""
    if not text.endswith("}"):
        return None
    body = text if text.startswith("{") else _COMPOSE_PREFIX.sub("", text, count=1)
    if not body.startswith("{"):
        return None
    try:
        record = json.loads(body)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


def _field(record: Mapping[str, Any], path: str) -> object | None:
    """A field of a JSON record; dots reach into nested objects (`cache.result`)."""
    value: object = record
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


@dataclass
class FamilyStats:
    hits: int = 0
    misses: int = 0
    keys: set[str] = field(default_factory=set)

    @property
    def lookups(self) -> int:
        return self.hits + self.misses

    @property
    def hit_ratio(self) -> float:
        return self.hits / self.lookups if self.lookups else float("nan")

    def to_json(self) -> dict[str, object]:
        ratio = self.hit_ratio
        return {"hits": self.hits, "misses": self.misses, "lookups": self.lookups,
                "hit_ratio": None if ratio != ratio else round(ratio, 4)}


@dataclass
class CacheStats:
    """Accumulator: add() each line, then read families/total."""

    families: dict[str, FamilyStats] = field(default_factory=dict)
    lines: int = 0
    pattern: LinePattern = DEMO_PATTERN
    unknown_results: Counter[str] = field(default_factory=Counter)

    def add(self, line: str) -> None:
        self.lines += 1
        lookup = self.pattern.parse(line)
        if isinstance(lookup, UnknownResult):
            self.unknown_results[lookup.word] += 1
        if not isinstance(lookup, CacheLookup):
            return
        family = self.families.setdefault(lookup.family, FamilyStats())
        family.keys.add(lookup.key)
        if lookup.hit:
            family.hits += 1
        else:
            family.misses += 1

    @property
    def total(self) -> FamilyStats:
        total = FamilyStats()
        for stats in self.families.values():
            total.hits += stats.hits
            total.misses += stats.misses
        return total

    def to_json(self) -> dict[str, object]:
        families = [{"family": name, **stats.to_json(), "keys": len(stats.keys)}
                    for name, stats in sorted(self.families.items())]
        return {"schema": SCHEMA, "source": "log", "pattern": self.pattern.name,
                "lines": self.lines, "families": families, "total": self.total.to_json(),
                "unknown_results": dict(self.unknown_results)}


def parse_line(line: str, pattern: LinePattern = DEMO_PATTERN) -> CacheLookup | None:
    """The cache lookup a log line reports, or None (an unknown result word is None too)."""
    lookup = pattern.parse(line)
    return lookup if isinstance(lookup, CacheLookup) else None


def count_cache_lines(lines: Iterable[str], pattern: LinePattern = DEMO_PATTERN) -> CacheStats:
    stats = CacheStats(pattern=pattern)
    for line in lines:
        stats.add(line)
    return stats


# -- patterns from flags and perfkit.yaml ---------------------------------------------------------
def compile_regex(regex: str, where: str, *, needs_result: bool = True) -> re.Pattern[str]:
    """A user's regex, checked: it compiles and names the `result` group (`key` optional)."""
    try:
        compiled = re.compile(regex)
    except re.error as exc:
        raise UsageError(f"{where}: invalid regex: {exc}",
                         hint="e.g. 'cache (?P<result>hit|miss) key=(?P<key>\\S+)'") from None
    if needs_result and "result" not in compiled.groupindex:
        raise UsageError(f"{where}: the regex has no group named `result`",
                         hint="name the hit/miss word (?P<result>...) and the key (?P<key>...)")
    return compiled


def _words(value: object, where: str) -> frozenset[str]:
    items = [value] if isinstance(value, str | bool) else value
    if not isinstance(items, list) or not items:
        raise UsageError(f"{where}: expected a word or a list of words")
    return frozenset(str(item).strip().lower() for item in items)


def preset_pattern(name: str, raw: object, source: str) -> LinePattern:
    """One preset of `cache: presets:` as a LinePattern; a wrong entry names its place."""
    where = f"{source}: cache.presets.{name}"
    if not isinstance(raw, Mapping):
        raise UsageError(f"{where}: expected a mapping", hint="e.g. {pattern: '...'}")
    unknown = set(raw) - PRESET_KEYS
    if unknown:
        raise UsageError(f"{where}: unknown key {sorted(unknown)[0]!r}",
                         hint=f"known: {', '.join(sorted(PRESET_KEYS))}")
    json_result = str(raw["json_result"]) if raw.get("json_result") else None
    regex = (compile_regex(str(raw["pattern"]), f"{where}.pattern") if raw.get("pattern")
             else DEMO_PATTERN.regex)
    pattern = LinePattern(regex=regex, json_result=json_result, name=name,
                          json_key=str(raw["json_key"]) if raw.get("json_key") else None)
    if "hit" in raw:
        pattern = replace(pattern, hit_words=_words(raw["hit"], f"{where}.hit"))
    if "miss" in raw:
        pattern = replace(pattern, miss_words=_words(raw["miss"], f"{where}.miss"))
    if "json_message" in raw:
        fields = raw["json_message"]
        pattern = replace(pattern, message_fields=tuple(
            str(f) for f in (fields if isinstance(fields, list) else [fields])))
    return pattern


def configured_presets(config: Mapping[str, Any], source: str
                       ) -> tuple[dict[str, LinePattern], str | None]:
    """The presets of perfkit.yaml's `cache:` and the one it names as the default."""
    section = config.get("cache") or {}
    if not isinstance(section, Mapping):
        raise UsageError(f"{source}: `cache` must be a mapping",
                         hint="e.g. cache: {preset: app, presets: {app: {pattern: '...'}}}")
    raw = section.get("presets") or {}
    if not isinstance(raw, Mapping):
        raise UsageError(f"{source}: cache.presets must map names to patterns")
    presets = {str(name): preset_pattern(str(name), entry, source) for name, entry in raw.items()}
    default = section.get("preset")
    return presets, None if default is None else str(default)


def choose_pattern(config: Mapping[str, Any], source: str = "perfkit.yaml", *,
                   preset: str | None = None) -> LinePattern:
    """The pattern named (a preset of perfkit.yaml or `demo`), else the configured default
    (`cache: preset:`, or the only preset), else the runbook's `Cache HIT:` line."""
    presets, default = configured_presets(config, source)
    wanted = preset or default or (next(iter(presets)) if len(presets) == 1 else None)
    if wanted is None or (wanted == DEMO_PRESET and wanted not in presets):
        return DEMO_PATTERN
    if wanted not in presets:
        known = ", ".join([DEMO_PRESET, *presets])
        origin = "--preset" if preset else f"{source}: cache.preset"
        raise UsageError(f"{origin}: no cache preset named {wanted!r}", hint=f"known: {known}")
    return presets[wanted]


def with_flags(pattern: LinePattern, *, regex: str | None = None, hit: list[str] | None = None,
               miss: list[str] | None = None, json_result: str | None = None,
               json_key: str | None = None) -> LinePattern:
    """A pattern changed by command-line flags (`--pattern`, `--hit`, `--json-result`...)."""
    if regex:
        pattern = replace(pattern, regex=compile_regex(regex, "--pattern"), name="custom")
    if hit:
        pattern = replace(pattern, hit_words=_words(hit, "--hit"))
    if miss:
        pattern = replace(pattern, miss_words=_words(miss, "--miss"))
    if json_result:
        pattern = replace(pattern, json_result=json_result, name=pattern.name if regex
                          else "json")
    if json_key:
        pattern = replace(pattern, json_key=json_key)
    return pattern


def follow_lines(stream: IO[str], duration_s: float, poll_s: float = 0.2,
                 clock: Callable[[], float] = time.monotonic) -> Iterator[str]:
    """Lines appended to a file from now on, until duration_s has passed (tail -f, bounded)."""
    deadline = clock() + duration_s
    stream.seek(0, 2)
    buffer = ""
    while clock() < deadline:
        chunk = stream.readline()
        if not chunk:
            time.sleep(poll_s)
            continue
        buffer += chunk
        if buffer.endswith("\n"):
            yield buffer
            buffer = ""
    if buffer:
        yield buffer


def read_lines(path: Path) -> Iterator[str]:
    with path.open(encoding="utf-8", errors="replace") as stream:
        yield from stream
