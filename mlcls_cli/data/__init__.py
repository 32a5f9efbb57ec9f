"""mlcls_cli.data."""
