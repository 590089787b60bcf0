"""`python -m auditor` runs the command line, as the `dbaudit` script does."""

from auditor.cli import main

if __name__ == "__main__":
    main(prog_name="dbaudit")
