"""One module per top-level command; each exports `cli`."""
