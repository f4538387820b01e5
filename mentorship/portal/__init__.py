"""The top layer: pages and commands that read across many apps (docs/architecture.md, "Layers").

The auditor's pages, the home routing, the health endpoint, the page header's context and the demo commands live
here so that the apps below them (the audit log above all) need import none of their neighbours.
"""
