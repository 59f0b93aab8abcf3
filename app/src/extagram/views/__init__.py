"""HTTP layer: one blueprint per role of a node, plus shared error pages."""
