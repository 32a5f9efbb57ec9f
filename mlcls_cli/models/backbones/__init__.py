"""mlcls_cli.models.backbones."""
