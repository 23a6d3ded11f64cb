"""mlsleuth.parsers"""
