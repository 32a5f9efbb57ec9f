"""Allow ``python -m mlcls_cli``."""

from mlcls_cli.cli.app import main

if __name__ == "__main__":
    main()
