"""mlcls_cli.serving."""
