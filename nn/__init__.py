"""nn: neural-network building blocks composed from minigrad ops."""
