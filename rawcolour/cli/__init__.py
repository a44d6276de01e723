"""The command line: parses options, calls the library, prints. No model logic lives here."""
