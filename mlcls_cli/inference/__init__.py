"""mlcls_cli.inference."""
