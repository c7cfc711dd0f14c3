"""Reading and validating inventories (YAML) into ``migrate.config.Inventory``."""
