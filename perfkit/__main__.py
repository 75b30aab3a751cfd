try:
    from perfkit.cli import main
except KeyboardInterrupt:  # Ctrl-C while Python loads: nothing was done yet
    raise SystemExit(130) from None

raise SystemExit(main())
