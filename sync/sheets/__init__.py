"""Sheet backends: one per destination, behind the ``Backend`` protocol."""
