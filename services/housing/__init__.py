"""Housing service: shelters with secret addresses and real capacity, placements, waiting list, move-on housing.

The domain lives in :mod:`services.housing.domain`; its published events in :mod:`schemas.housing`.
"""
