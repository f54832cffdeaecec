"""Training of RepSR presets: blocks -> schedule -> loop -> merge -> preset."""
