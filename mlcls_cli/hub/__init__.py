"""mlcls_cli.hub."""
