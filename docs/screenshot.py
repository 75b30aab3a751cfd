"""A PNG of the top of a `perfkit plot` page, taken by the headless Chromium the browser tests
use (Debian's chromium + chromium-driver, network off), at a desktop width.

    .venv/bin/python docs/screenshot.py story.html docs/plot-story.png --width 1280 --height 1700
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.browser.support import chromium, console_errors, open_page  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("page", type=Path)
    parser.add_argument("png", type=Path)
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=1700, help="px of the page's top")
    args = parser.parse_args()
    with chromium() as driver:
        open_page(driver, args.page, args.width, args.height)
        errors = console_errors(driver)
        if errors:
            raise SystemExit(f"console errors: {errors}")
        driver.save_screenshot(str(args.png))
    print(f"{args.png}: {args.width}x{args.height} px of {args.page}")


if __name__ == "__main__":
    main()
