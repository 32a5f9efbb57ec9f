"""mlcls_cli.engine."""
