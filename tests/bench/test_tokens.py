"""Which tokens a bench run uses: the user's own settings first, then the demo's many users."""

from __future__ import annotations

from pathlib import Path

from perfkit.bench.tokens import choose_tokens
from perfkit.config import Settings


def _file(tmp_path: Path, name: str, count: int) -> Path:
    path = tmp_path / name
    path.write_text("# one a line\n" + "".join(f"{name}-{i}\n" for i in range(count)))
    return path


def test_the_demo_s_tokens_file_beats_its_single_token(tmp_path: Path) -> None:
    demo = Settings(token="demo-one", tokens_file=_file(tmp_path, "demo", 30),
                    from_demo=frozenset({"token", "tokens_file"}))
    users, spare = choose_tokens(demo, None, None)
    assert users == [f"demo-{i}" for i in range(10)] and len(spare) == 20
    assert len(choose_tokens(demo, None, 25)[0]) == 25
    no_file = Settings(token="demo-one", from_demo=frozenset({"token"}))
    assert choose_tokens(no_file, None, None) == (["demo-one"], [])


def test_the_user_s_own_token_or_file_beats_the_demo(tmp_path: Path) -> None:
    demo_file = _file(tmp_path, "demo", 30)
    own_token = Settings(token="mine", tokens_file=demo_file, from_demo=frozenset({"tokens_file"}))
    assert choose_tokens(own_token, None, None) == (["mine"], [])
    own_file = Settings(token="demo-one", tokens_file=_file(tmp_path, "own", 3),
                        from_demo=frozenset({"token"}))
    assert choose_tokens(own_file, None, None) == (["own-0", "own-1", "own-2"], [])
    flag = _file(tmp_path, "flag", 2)
    assert choose_tokens(own_token, flag, None) == (["flag-0", "flag-1"], [])
