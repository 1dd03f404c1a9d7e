"""Trading bots: the Broker contract and its venues, the state store, risk, reconciliation and the
bot cycle. Pure library code (no prefect); ``flows/bot_cycle.py`` schedules it."""
