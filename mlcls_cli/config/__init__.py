"""mlcls_cli.config."""
