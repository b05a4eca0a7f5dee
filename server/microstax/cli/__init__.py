"""The ``microstax`` command line: one module per subcommand, loaded only when used."""
