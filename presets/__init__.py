"""Shipped presets: <name>.toml + <name>.safetensors, installed as package data."""
