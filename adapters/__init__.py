"""Storage adapters, one module per provider. They import only the leaf layer of ``migrate``
(config, errors, model) and their own SDK, never each other."""
