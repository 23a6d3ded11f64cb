"""mlsleuth.timelines"""
