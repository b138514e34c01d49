"""The analyst workbench: server-rendered pages over the public API, served by the service itself."""
