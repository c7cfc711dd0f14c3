"""Commands as plain typed functions returning result objects; the CLI only renders them."""
