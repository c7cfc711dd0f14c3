"""Renderings of command results: terminal tables, JSON, Mermaid, Graphviz DOT."""
