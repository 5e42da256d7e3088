"""`python -m loginledger`: the command line, as the `loginledger` script runs it."""

from loginledger.adapters.cli.app import main

if __name__ == "__main__":
    main()
