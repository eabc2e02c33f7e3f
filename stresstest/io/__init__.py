"""Reading user tables and writing outputs whole or not at all."""
