"""Live updates: pub/sub, fragment rendering for websockets, and the clock."""
