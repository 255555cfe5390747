"""`python -m microtrial ...`: the same command line as `microtrial ...`."""

from microtrial.cli.main import main

main()
