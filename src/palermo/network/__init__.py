"""Network intelligence: graphs, cells, positions, key players (igraph)."""
