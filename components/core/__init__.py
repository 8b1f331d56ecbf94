"""The add-on contract, the registry that walks it, the cluster handle, Helm and shared helpers, and
the table of names.
"""
