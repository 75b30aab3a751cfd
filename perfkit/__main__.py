import signal
import sys


def _ctrl_c(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


try:  # SIGTERM is Ctrl-C from the first moment (perfkit.cli.main sets it again)
    signal.signal(signal.SIGTERM, _ctrl_c)
    from perfkit.cli import main
except KeyboardInterrupt:  # while Python loads perfkit: nothing was done yet
    sys.stderr.write("error: interrupted while starting: nothing was done\n")
    raise SystemExit(130) from None

raise SystemExit(main())
