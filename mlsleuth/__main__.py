from mlsleuth.cli import main

main()
