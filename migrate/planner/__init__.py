"""Inventory + networkx -> Plan. No SDK, no database, no terminal."""
