"""Entry point frozen into the single-file field binary."""

from mlsleuth.cli import main

if __name__ == "__main__":
    main()
