"""mlsleuth.collector"""
