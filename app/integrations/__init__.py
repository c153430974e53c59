"""HTTP clients for the systems we talk to: nDelius (appointments) and GOV.UK (bank holidays).

Nothing here knows about Flask, the database or business rules; callers decide what an error means.
"""
