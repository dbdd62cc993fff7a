"""Centre staff screens."""
