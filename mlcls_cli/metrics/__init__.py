"""mlcls_cli.metrics."""
