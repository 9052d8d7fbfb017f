"""One module per kind of evidence. Each check yields ``Finding``s; none prints or exits.

A check that cannot get its evidence yields an UNVERIFIABLE finding; a bug raises.
"""
