"""The ``mlcls`` command line: one thin module per subcommand."""
