"""Serving the app: process setup, the room's training-slot scheduler and the background training thread."""
