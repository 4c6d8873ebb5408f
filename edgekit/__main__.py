import sys

try:
    from edgekit.cli.main import main
except KeyboardInterrupt:  # Ctrl-C before edgekit.cli.main could install its guard: still one line and exit 130
    sys.stderr.write("error: interrupted while starting (importing edgekit); nothing ran\n")
    sys.exit(130)

sys.exit(main())
