"""Request and response models: validation where it is cheap, OpenAPI docs and examples."""
