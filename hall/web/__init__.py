"""The web edge: the Litestar app, its routes and the WebSocket stream."""
